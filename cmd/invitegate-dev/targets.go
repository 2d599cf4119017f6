package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/invitegate/invitegate/cmd/internal/faults"
)

// target is a server under test.
type target struct {
	name string
	note string
	url  string // callback URL without query
	stop func()
	pids []int // the processes that serve it (the ingress, and a nats-server child)
}

// cpu is the CPU time (user + system) the target's processes used so far.
func (t *target) cpu() time.Duration {
	var sum time.Duration
	for _, pid := range t.pids {
		sum += faults.ProcessCPU(pid)
	}
	return sum
}

// env holds what the targets need.
type env struct {
	root, tmp string
	bins      faults.Binaries
	opa       string
	appID     string
	policy    string // deploy/bench/policy.yaml
	rego      string // deploy/bench/policy.rego
}

func (e *env) ingress(ctx context.Context, name, note string, extra ...string) (*target, error) {
	args := append([]string{"--sdkappid", e.appID, "--policy", e.policy, "--http-addr", "127.0.0.1:0",
		"--admin-addr", "127.0.0.1:0", "--data-dir", filepath.Join(e.tmp, name)}, extra...)
	ig, err := faults.StartInvitegate(ctx, e.bins.Invitegate, "ingress", nil, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &target{name: name, note: note, url: ig.Callback, stop: func() { _ = ig.Terminate(time.Minute) },
		pids: []int{ig.PID()}}, nil
}

func (e *env) bare(ctx context.Context) (*target, error) {
	ig, err := faults.StartInvitegate(ctx, e.bins.Invitegate, "barehandler", nil, "--addr", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bare: %w", err)
	}
	return &target{name: "bare", note: "net/http + encoding/json, fixed refusal (cmd/internal/barehandler)",
		url: ig.Callback, stop: func() { _ = ig.Terminate(time.Minute) }, pids: []int{ig.PID()}}, nil
}

// natsAlways starts a nats-server child with sync_interval: always and an
// ingress publishing to it.
func (e *env) natsAlways(ctx context.Context) (*target, error) {
	ns, err := faults.StartNATSServer(ctx, faults.NATSConfig{Binary: e.bins.NATSServer, Dir: filepath.Join(e.tmp, "nats"), SyncAlways: true})
	if err != nil {
		return nil, err
	}
	t, err := e.ingress(ctx, "events-nats-always", "events to a nats-server child, sync_interval: always", "--nats-url", ns.URL())
	if err != nil {
		_ = ns.Stop()
		return nil, err
	}
	stopIngress := t.stop
	t.stop = func() { stopIngress(); _ = ns.Stop() }
	t.pids = append(t.pids, ns.Process().PID())
	return t, nil
}

// buildOPA installs opa at version into dir (module mode, outside this module).
func buildOPA(ctx context.Context, dir, version string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/open-policy-agent/opa@"+version)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install opa@%s: %w\n%s", version, err, out)
	}
	return filepath.Join(dir, "opa"), nil
}

// opaTarget starts `opa run --server` with the Rego policy as the default decision.
func (e *env) opaTarget(ctx context.Context) (*target, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p, err := faults.StartProcess(ctx, faults.ProcessConfig{Name: "opa", Path: e.opa,
		Args: []string{"run", "--server", "--addr", addr, "--log-level", "error",
			"--set", "default_decision=/invitegate/answer", e.rego}})
	if err != nil {
		return nil, err
	}
	if err := waitHealthy(ctx, "http://"+addr+"/health"); err != nil {
		_ = p.Kill()
		return nil, fmt.Errorf("opa: %w\n%s", err, p.Tail(4096))
	}
	return &target{name: "opa", note: "opa run --server, policy.rego as default decision (POST /)",
		url: "http://" + addr + "/", stop: func() { _ = p.Terminate(time.Minute) }, pids: []int{p.PID()}}, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitHealthy(ctx context.Context, url string) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not healthy within a minute", url)
}
