package faults

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// NATSServerModule is the nats-server main package built for the child
// server: the version go.mod requires (v2.15.x), never a packaged one.
const NATSServerModule = "github.com/nats-io/nats-server/v2"

// Binaries are the programs a scenario runs as child processes.
type Binaries struct {
	Invitegate string
	NATSServer string
}

// Build compiles cmd/invitegate and nats-server into dir with the go
// command on PATH, from the module that holds this package.
func Build(ctx context.Context, dir string) (Binaries, error) {
	root, err := ModuleRoot(ctx)
	if err != nil {
		return Binaries{}, err
	}
	b := Binaries{Invitegate: filepath.Join(dir, "invitegate"), NATSServer: filepath.Join(dir, "nats-server")}
	for _, t := range []struct{ out, pkg string }{
		{b.Invitegate, "./cmd/invitegate"},
		{b.NATSServer, NATSServerModule},
	} {
		if err := GoBuild(ctx, root, t.out, t.pkg); err != nil {
			return Binaries{}, err
		}
	}
	return b, nil
}

// GoBuild runs `go build -o out pkg` in dir.
func GoBuild(ctx context.Context, dir, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = dir
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
	}
	return nil
}

// ModuleRoot is the directory of the main module's go.mod.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == "/dev/null" {
		return "", errors.New("go env GOMOD: not inside a module")
	}
	return filepath.Dir(gomod), nil
}
