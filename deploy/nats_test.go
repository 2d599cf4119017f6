package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
)

// startNATS writes the shipped configuration of flavor, starts a server
// with it and checks that every user connects; it returns the configuration
// as loaded. The roles' permissions are exercised by the real commands in
// cmd/invitegate (TestShippedNATS).
func startNATS(t *testing.T, flavor string) *server.Options {
	t.Helper()
	dir := t.TempDir()
	c, err := WriteNATSConfig(dir, flavor)
	require.NoError(t, err)
	opts, loaded, err := c.NATSServerOptions(t.TempDir())
	require.NoError(t, err)
	opts.NoLog = true
	s, err := server.NewServer(opts)
	require.NoError(t, err)
	go s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	require.True(t, s.ReadyForConnections(10*time.Second), "nats did not start")

	require.ElementsMatch(t, []string{"ingress", "projector", "policy-admin", "migrate"}, userNames(c), flavor)
	for name, u := range c.Users {
		opt := nats.UserInfo(u.Name, u.Password)
		if u.NKeyFile != "" {
			opt, err = nats.NkeyOptionFromSeed(u.NKeyFile)
			require.NoError(t, err)
		}
		nc, err := nats.Connect(u.URL(s.ClientURL()), opt)
		require.NoError(t, err, name)
		nc.Close()
	}
	_, err = nats.Connect(s.ClientURL(), nats.UserInfo("intruder", "guess"))
	require.ErrorContains(t, err, "Authorization Violation")
	return loaded
}

func userNames(c NATSConfig) []string {
	var out []string
	for name := range c.Users {
		if name != "sys" {
			out = append(out, name)
		}
	}
	return out
}

// confVars returns the environment variables a shipped nats.conf reads.
func confVars(t *testing.T, file string) []string {
	t.Helper()
	data, err := readFile(file)
	require.NoError(t, err)
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range regexp.MustCompile(`\$([A-Z][A-Z0-9_]*)`).FindAllStringSubmatch(line, -1) {
			if !strings.HasSuffix(m[1], "_PERMISSIONS") {
				out = append(out, m[1])
			}
		}
	}
	return out
}

// The compose NATS: nats.conf plus the permissions file, laid out as compose
// mounts them; every password it reads is in the nats service's environment.
func TestNATSComposeConfig(t *testing.T) {
	t.Parallel()
	opts := startNATS(t, NATSCompose)
	require.True(t, opts.JetStream)
	require.True(t, opts.SyncAlways, "sync_interval: always")

	c := loadCompose(t)
	env := c.Services["nats"].Environment
	for _, v := range confVars(t, composeNATSFile) {
		require.Contains(t, env, v, "compose/nats.conf reads $%s, which the nats service does not set", v)
	}
	mounts := c.Services["nats"].bindMounts()
	require.Equal(t, composeNATSFile, mounts["/etc/nats/nats.conf"])
	require.Equal(t, natsPermissionsFile, mounts["/etc/nats/permissions.conf"])
}

// The Kubernetes NATS: the nats-config ConfigMap as built by kustomize (the
// same files), users authenticated by nkey; every variable it reads is the
// pod's name or a key of the nats-users Secret.
func TestNATSKubernetesConfig(t *testing.T) {
	t.Parallel()
	b := kustomize(t, "k8s/base")
	cm := b.configData(t, "nats-config")
	for name, file := range map[string]string{"nats.conf": k8sNATSFile, "nats-permissions.conf": natsPermissionsFile} {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		require.Equal(t, string(data), cm[name], "the ConfigMap holds %s as is", file)
	}
	opts := startNATS(t, NATSKubernetes)
	require.True(t, opts.JetStream)
	require.True(t, opts.SyncAlways, "sync_interval: always")
	require.Equal(t, "nats-0", opts.ServerName)
	require.Equal(t, "invitegate", opts.Cluster.Name)
	require.Len(t, opts.Routes, 3)

	var secret struct{ StringData map[string]string }
	b.get(t, "Secret", "nats-users", &secret)
	for _, v := range confVars(t, k8sNATSFile) {
		if v != "POD_NAME" {
			require.Contains(t, secret.StringData, v, "k8s nats.conf reads $%s, which the nats-users Secret lacks", v)
		}
	}
	var sts workload
	b.get(t, "StatefulSet", "nats", &sts)
	require.Equal(t, 3, *sts.Spec.Replicas)
	require.Len(t, sts.Spec.VolumeClaimTemplates, 1, "each server keeps its store on a volume")
}

// No role but migrate may touch the JetStream API as a whole.
func TestNATSPermissionsAreAllowLists(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.FromSlash(natsPermissionsFile))
	require.NoError(t, err)
	require.NotContains(t, string(data), `"$JS.API.>"`)
	require.NotContains(t, string(data), `"$JS.API.STREAM.>"`)
	require.NotContains(t, string(data), `"invitegate.>"`)
}
