package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Invitegate is a running `invitegate <role>` child (or `invitegate-dev
// barehandler`) with the addresses it logged: Callback for the roles that
// serve callbacks (run, ingress, barehandler), Admin for every role.
type Invitegate struct {
	*Process
	Role     string
	Callback string // http://host:port/callback; "" for the projector
	Admin    string // host:port of /metrics, /healthz, /readyz
}

// listening is the JSON log line that tells a role's bound addresses:
// {"msg":"ingress listening","callback":"http://...","admin":"host:port"},
// {"msg":"admin listening","addr":"host:port"} (projector), and
// {"msg":"barehandler listening","callback":"http://..."}.
type listening struct {
	Msg      string `json:"msg"`
	Callback string `json:"callback"`
	Admin    string `json:"admin"`
	Addr     string `json:"addr"`
}

// readyMessage is the log message a role prints once it serves.
func readyMessage(role string) string {
	switch role {
	case "projector":
		return "admin listening"
	case "barehandler":
		return "barehandler listening"
	}
	return "ingress listening"
}

// StartInvitegate starts `bin role args...` (JSON logs, the default) and
// waits for the line saying it listens. onLine, when not nil, sees every
// output line.
func StartInvitegate(ctx context.Context, bin, role string, onLine func(string), args ...string) (*Invitegate, error) {
	want := readyMessage(role)
	p, err := StartProcess(ctx, ProcessConfig{
		Name:   role,
		Path:   bin,
		Args:   append([]string{role}, args...),
		OnLine: onLine,
		Ready: func(line string) bool {
			var l listening
			return json.Unmarshal([]byte(line), &l) == nil && l.Msg == want
		},
		ReadyTimeout: 90 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	var l listening
	if err := json.Unmarshal([]byte(p.ReadyLine()), &l); err != nil {
		_ = p.Kill()
		return nil, fmt.Errorf("%s ready line: %w", role, err)
	}
	ig := &Invitegate{Process: p, Role: role, Callback: l.Callback, Admin: l.Admin}
	if role == "projector" {
		ig.Admin = l.Addr
	}
	return ig, nil
}

// MetricsURL is the child's /metrics URL.
func (ig *Invitegate) MetricsURL() string { return "http://" + ig.Admin + "/metrics" }
