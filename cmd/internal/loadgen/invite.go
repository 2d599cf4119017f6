package loadgen

import (
	"context"
	"errors"
)

// Invite is one hand-made Group.CallbackBeforeInviteJoinGroup, for scripts
// that need a given operator next to the generated load (a flooder, say).
type Invite struct {
	Operator string
	GroupID  string
	Members  []string
}

// Inviter sends hand-made invites the way Run sends drawn ones: the same
// URL, query parameters, signature, client settings and classification.
type Inviter struct {
	r *runner
}

// NewInviter returns an Inviter for cfg (URL, SdkAppID, Token, Timeout,
// Platforms; the rest is ignored).
func NewInviter(cfg Config) (*Inviter, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Inviter{r: &runner{cfg: cfg, targets: cfg.targets(), client: newClient(&cfg)}}, nil
}

// Send sends inv and returns its outcome: OutcomeAllow, OutcomePartial or
// OutcomeReject, or an error for a request without a valid answer.
func (in *Inviter) Send(ctx context.Context, inv Invite) (string, error) {
	if len(inv.Members) == 0 {
		return "", errors.New("loadgen: an invite needs at least one member")
	}
	d := &draw{command: CommandBeforeInviteJoinGroup, groupID: inv.GroupID, groupType: groupTypes[0],
		operator: inv.Operator, members: inv.Members, platform: in.r.cfg.Platforms[0], clientIP: clientIP(inv.Operator)}
	res := in.r.send(ctx, job{d: d})
	if res.outcome == OutcomeError {
		return "", errors.New("loadgen: " + res.errKind + ": " + res.errMsg)
	}
	return res.outcome, nil
}

// Close closes the Inviter's idle connections.
func (in *Inviter) Close() { in.r.client.CloseIdleConnections() }
