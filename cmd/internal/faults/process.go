package faults

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNotReady is returned by StartProcess when the child exits, or its ready
// timeout passes, before it printed its ready line.
var ErrNotReady = errors.New("process not ready")

// DefaultReadyTimeout bounds the wait for a child's ready line.
const DefaultReadyTimeout = 60 * time.Second

// maxLogBytes bounds the output a Process keeps (the newest part is kept).
const maxLogBytes = 4 << 20

// ProcessConfig describes a child process.
type ProcessConfig struct {
	// Name labels errors and logs ("nats-server", "ingress", ...).
	Name string
	// Path and Args are the program and its arguments.
	Path string
	Args []string
	// Env is appended to the parent's environment.
	Env []string
	// Ready reports whether an output line (stdout or stderr) means the
	// child is ready. Nil: ready as soon as it started.
	Ready func(line string) bool
	// ReadyTimeout bounds the wait for Ready. Default DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// OnLine, when set, sees every output line, from the output goroutine.
	OnLine func(line string)
}

// Process is a running child. Its output (stdout and stderr, interleaved) is
// kept, up to the last 4 MiB; it is killed if the parent dies.
type Process struct {
	cfg    ProcessConfig
	cmd    *exec.Cmd
	exited chan struct{}

	mu        sync.Mutex
	logs      []byte
	readyLine string
	exitErr   error
}

// StartProcess starts the child and waits for its ready line.
func StartProcess(ctx context.Context, cfg ProcessConfig) (*Process, error) {
	cfg.ReadyTimeout = cmp.Or(cfg.ReadyTimeout, DefaultReadyTimeout)
	cmd := exec.Command(cfg.Path, cfg.Args...)
	cmd.Env = append(os.Environ(), cfg.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("%s: pipe: %w", cfg.Name, err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		_ = pr.Close()
		_ = pw.Close()
		return nil, fmt.Errorf("start %s: %w", cfg.Name, err)
	}
	_ = pw.Close() // the child holds its own copy
	p := &Process{cfg: cfg, cmd: cmd, exited: make(chan struct{})}
	ready := make(chan struct{})
	go p.read(pr, ready)
	if err := p.awaitReady(ctx, ready); err != nil {
		_ = p.Kill()
		return nil, err
	}
	return p, nil
}

// read consumes the child's output until it closes, then reaps the child.
func (p *Process) read(r io.ReadCloser, ready chan struct{}) {
	defer close(p.exited)
	var once sync.Once
	if p.cfg.Ready == nil {
		once.Do(func() { close(ready) })
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		p.appendLog(line)
		if p.cfg.OnLine != nil {
			p.cfg.OnLine(line)
		}
		if p.cfg.Ready != nil && p.cfg.Ready(line) {
			once.Do(func() {
				p.mu.Lock()
				p.readyLine = line
				p.mu.Unlock()
				close(ready)
			})
		}
	}
	_, _ = io.Copy(io.Discard, r)
	_ = r.Close()
	err := p.cmd.Wait()
	p.mu.Lock()
	p.exitErr = err
	p.mu.Unlock()
}

func (p *Process) appendLog(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.logs = append(append(p.logs, line...), '\n')
	if len(p.logs) > maxLogBytes {
		p.logs = append(p.logs[:0], p.logs[len(p.logs)-maxLogBytes/2:]...)
	}
}

func (p *Process) awaitReady(ctx context.Context, ready <-chan struct{}) error {
	timer := time.NewTimer(p.cfg.ReadyTimeout)
	defer timer.Stop()
	select {
	case <-ready:
		return nil
	case <-p.exited:
		return fmt.Errorf("%w: %s exited (%v) before it was ready:\n%s", ErrNotReady, p.cfg.Name, p.ExitErr(), p.Tail(4096))
	case <-timer.C:
		return fmt.Errorf("%w: %s not ready within %s:\n%s", ErrNotReady, p.cfg.Name, p.cfg.ReadyTimeout, p.Tail(4096))
	case <-ctx.Done():
		return fmt.Errorf("%w: %s: %w", ErrNotReady, p.cfg.Name, ctx.Err())
	}
}

// Name is the configured name.
func (p *Process) Name() string { return p.cfg.Name }

// PID is the child's process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// ReadyLine is the output line that made the child ready ("" without Ready).
func (p *Process) ReadyLine() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.readyLine
}

// Logs returns the output kept so far.
func (p *Process) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(p.logs)
}

// Tail returns the last n bytes of the output kept.
func (p *Process) Tail(n int) string {
	s := p.Logs()
	if len(s) > n {
		s = s[len(s)-n:]
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return s
}

// Exited is closed once the child has exited and its output is read.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// ExitErr is the child's exit error once Exited is closed (nil: status 0).
func (p *Process) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

// Signal sends sig to the child.
func (p *Process) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %s %v: %w", p.cfg.Name, sig, err)
	}
	return nil
}

// Wait waits for the child to exit and returns its exit error.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.exited:
		return p.ExitErr()
	case <-ctx.Done():
		return fmt.Errorf("wait for %s: %w", p.cfg.Name, ctx.Err())
	}
}

// Kill sends SIGKILL and waits for the child to be reaped. Killing an exited
// child is a no-op.
func (p *Process) Kill() error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL) // fails only when already gone
	<-p.exited
	return nil
}

// Terminate sends SIGTERM and waits for the exit, up to timeout; past it the
// child is killed and an error returned. It returns the exit error.
func (p *Process) Terminate(timeout time.Duration) error {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		select {
		case <-p.exited:
			return p.ExitErr()
		default:
			return err
		}
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.exited:
		return p.ExitErr()
	case <-timer.C:
		_ = p.Kill()
		return fmt.Errorf("%s did not exit within %s of SIGTERM; killed", p.cfg.Name, timeout)
	}
}
