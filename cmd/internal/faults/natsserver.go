package faults

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/invitegate/invitegate/deploy"
)

// NATSConfig configures a nats-server child.
type NATSConfig struct {
	// Binary is the nats-server program (see Build).
	Binary string
	// Dir holds the JetStream store (Dir/store) and the config file.
	Dir string
	// SyncAlways sets sync_interval: always: every write is fsynced before
	// its PubAck, as production should run.
	SyncAlways bool
	// Shipped, when deploy.NATSCompose, runs the shipped configuration
	// (deploy/compose/nats.conf and the permissions it includes, with its
	// accounts, users and limits) instead of an open server: only the
	// addresses, the store path and the secrets are replaced. SyncAlways is
	// then what the file says (always).
	Shipped string

	// Conf, when set, is a complete configuration file (listen address,
	// JetStream store, cluster) used as is: the server runs `-c Conf` alone,
	// SyncAlways is ignored and Port must be the client port it listens on
	// (see NATSCluster).
	Conf string
	Port int
	// Env is added to the server's environment (the $VARIABLES of Conf).
	Env []string
	// Name labels the process in errors. Default "nats-server".
	Name string
}

// NATSServer is a nats-server child with JetStream, on 127.0.0.1 and a port
// it keeps across restarts, so that clients reconnect to the same URL.
type NATSServer struct {
	cfg   NATSConfig
	port  int
	users map[string]deploy.NATSUser // the shipped users, by name

	mu   sync.Mutex
	proc *Process
}

var listenLine = regexp.MustCompile(`Listening for client connections on [^ ]*:(\d+)`)

// StartNATSServer starts the server on a random free port and waits until it
// is ready for connections.
func StartNATSServer(ctx context.Context, cfg NATSConfig) (*NATSServer, error) {
	if cfg.Binary == "" || cfg.Dir == "" {
		return nil, errors.New("nats-server: Binary and Dir are required")
	}
	s := &NATSServer{cfg: cfg, port: -1} // -1: nats-server picks a free port
	if cfg.Conf != "" {
		if cfg.Port <= 0 {
			return nil, errors.New("nats-server: Port is required with Conf")
		}
		s.port = cfg.Port
	} else if err := s.writeConfig(); err != nil {
		return nil, err
	}
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *NATSServer) confPath() string {
	if s.cfg.Conf != "" {
		return s.cfg.Conf
	}
	return filepath.Join(s.cfg.Dir, "nats-server.conf")
}

func (s *NATSServer) args() []string {
	if s.cfg.Conf != "" {
		return []string{"-c", s.cfg.Conf}
	}
	args := []string{"-c", s.confPath(), "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(s.port)}
	if s.cfg.Shipped == "" { // the shipped file names its store (templated)
		args = append(args, "-sd", s.StoreDir())
	}
	return args
}

// StoreDir is the JetStream store directory.
func (s *NATSServer) StoreDir() string { return filepath.Join(s.cfg.Dir, "store") }

func (s *NATSServer) writeConfig() error {
	if s.cfg.Shipped != "" {
		return s.writeShippedConfig()
	}
	interval := "2m" // nats-server's default
	if s.cfg.SyncAlways {
		interval = "always"
	}
	// The store directory comes from -sd (a config file may not repeat it).
	conf := fmt.Sprintf("jetstream {\n  sync_interval: %s\n}\n", interval)
	if err := os.MkdirAll(s.cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("nats-server dir: %w", err)
	}
	if err := os.WriteFile(s.confPath(), []byte(conf), 0o644); err != nil {
		return fmt.Errorf("nats-server config: %w", err)
	}
	return nil
}

// Start (re)starts the server on its port and store; it is a no-op while
// the server runs.
func (s *NATSServer) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		select {
		case <-s.proc.Exited():
		default:
			return nil
		}
	}
	p, err := StartProcess(ctx, ProcessConfig{
		Name:         cmp.Or(s.cfg.Name, "nats-server"),
		Path:         s.cfg.Binary,
		Args:         s.args(),
		Env:          s.cfg.Env,
		Ready:        func(line string) bool { return strings.Contains(line, "Server is ready") },
		ReadyTimeout: 2 * time.Minute, // a large store takes a while to recover
	})
	if err != nil {
		return err
	}
	if s.port < 0 {
		m := listenLine.FindStringSubmatch(p.Logs())
		if m == nil {
			_ = p.Kill()
			return fmt.Errorf("nats-server: no listen line in:\n%s", p.Tail(4096))
		}
		s.port, _ = strconv.Atoi(m[1])
	}
	s.proc = p
	return nil
}

// URL is the client URL, stable across restarts.
func (s *NATSServer) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

// Process is the current server process.
func (s *NATSServer) Process() *Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc
}

// Kill sends SIGKILL and waits for the exit.
func (s *NATSServer) Kill() error { return s.Process().Kill() }

// Pause stops the server with SIGSTOP: connections stay open and nothing is
// acknowledged until Resume.
func (s *NATSServer) Pause() error {
	p := s.Process()
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	return waitStopped(p.PID(), 5*time.Second)
}

// waitStopped polls /proc until pid is in the stopped state: kill returns
// before the signal has stopped every thread of the target.
func waitStopped(pid int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return fmt.Errorf("read state of %d: %w", pid, err)
		}
		s := string(data)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) && (s[i+2] == 'T' || s[i+2] == 't') {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d not stopped after %s", pid, limit)
		}
		runtime.Gosched()
	}
}

// LameDuck sends SIGUSR2: the server stops accepting clients, hands its
// stream leaderships over, moves its clients away over its lame duck
// duration and exits. Wait for the exit on Process().Exited().
func (s *NATSServer) LameDuck() error { return s.Process().Signal(syscall.SIGUSR2) }

// Resume continues a paused server.
func (s *NATSServer) Resume() error { return s.Process().Signal(syscall.SIGCONT) }

// Stop resumes the server if paused and stops it with SIGTERM (killing it
// after 30 s).
func (s *NATSServer) Stop() error {
	p := s.Process()
	if p == nil {
		return nil
	}
	select {
	case <-p.Exited():
		return nil
	default:
	}
	_ = p.Signal(syscall.SIGCONT)
	if err := p.Terminate(30 * time.Second); err != nil && !isSignaled(err) {
		return err
	}
	return nil
}

// isSignaled reports whether err is an exit by signal, which is how
// nats-server may end after SIGTERM.
func isSignaled(err error) bool {
	return err != nil && strings.Contains(err.Error(), "signal")
}
