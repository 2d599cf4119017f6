package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// Every YAML and JSON file under deploy/ parses (all documents of a stream);
// deploy/bench and deploy/policy belong to other packages.
func TestFilesParse(t *testing.T) {
	t.Parallel()
	var n int
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (p == "bench" || p == "policy") {
			return fs.SkipDir
		}
		data, err := os.ReadFile(p)
		switch ext := filepath.Ext(p); {
		case d.IsDir():
			return nil
		case err != nil:
			return err
		case ext == ".json":
			n++
			require.True(t, json.Valid(data), p)
		case ext == ".yaml" || ext == ".yml":
			n++
			dec := yaml.NewDecoder(bytes.NewReader(data))
			for {
				var doc any
				err := dec.Decode(&doc)
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err, p)
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, n, 15)
}

// dockerInstructions reads a Dockerfile into (instruction, arguments) pairs,
// joining continued lines and dropping comments.
func dockerInstructions(t *testing.T) [][2]string {
	t.Helper()
	data, err := os.ReadFile("docker/Dockerfile")
	require.NoError(t, err)
	var out [][2]string
	var cur string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || (line == "" && cur == "") {
			continue
		}
		cur += " " + strings.TrimSuffix(line, "\\")
		if strings.HasSuffix(line, "\\") {
			continue
		}
		op, args, _ := strings.Cut(strings.TrimSpace(cur), " ")
		out = append(out, [2]string{strings.ToUpper(op), strings.TrimSpace(args)})
		cur = ""
	}
	return out
}

// dockerfileEnv returns the ENV defaults of the image.
func dockerfileEnv(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, in := range dockerInstructions(t) {
		if in[0] == "ENV" {
			for _, kv := range strings.Fields(in[1]) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		}
	}
	return env
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	var froms, runs []string
	last := map[string]string{}
	for _, in := range dockerInstructions(t) {
		switch in[0] {
		case "FROM":
			froms = append(froms, in[1])
			last = map[string]string{}
		case "RUN":
			runs = append(runs, in[1])
		}
		last[in[0]] = in[1]
	}
	require.Len(t, froms, 2, "multi-stage: builder and runtime")
	require.True(t, strings.HasPrefix(froms[0], "golang:1.26 "), froms[0])
	require.Regexp(t, `^gcr\.io/distroless/static-[a-z0-9]+:nonroot$`, froms[1])
	build := strings.Join(runs, "\n")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w`, "./cmd/invitegate"} {
		require.Contains(t, build, want)
	}
	// The runtime stage: non-root user, the binary as entry point.
	require.Equal(t, "65532:65532", last["USER"])
	require.Equal(t, `["/invitegate"]`, last["ENTRYPOINT"])
	env := dockerfileEnv(t)
	require.Equal(t, "0.0.0.0:8080", env["INVITEGATE_HTTP_ADDR"])
	require.Equal(t, "0.0.0.0:9090", env["INVITEGATE_ADMIN_ADDR"])
	require.Equal(t, "/var/lib/invitegate", env["INVITEGATE_DATA_DIR"])
}
