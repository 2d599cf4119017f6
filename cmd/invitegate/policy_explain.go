package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/ingress"
)

// maxExplainBody bounds the callback body explain reads (the ingress's
// default bound).
const maxExplainBody = 1 << 20

func cmdPolicyExplain(ctx context.Context, e env, args []string) error {
	var (
		o                      logCLIOptions
		policy, app, ip, platf string
		asJSON                 bool
		stats                  = &fixedStats{}
	)
	f := newFlags("policy explain", "invitegate policy explain [flags] < body.json",
		"Decides one Group.CallbackBeforeInviteJoinGroup request, the callback's JSON body read from\n"+
			"stdin and the query parameters given as flags, and prints the answer and what every rule\n"+
			"evaluated to, in document order: for a refuse_member rule, per member; shadow rules and\n"+
			"rule errors included. The policy is --policy FILE (a candidate, offline), else the policy\n"+
			"in force, read from the policy log (--nats-url, --sdkappid).", e.getenv)
	o.register(f, e, false)
	f.String(&policy, "policy", "", "a policy file to explain with instead of the policy in force")
	f.String(&app, "app", "", "SdkAppid of the request (default --sdkappid)")
	f.String(&ip, "client-ip", "", "ClientIP of the request")
	f.String(&platf, "platform", "", "OptPlatform of the request")
	f.Bool(&asJSON, "json", false, "print the trace as JSON")
	f.fs.Var(statFlag{stats}, "stat", "a statistic the rules read: NAME=VALUE for every key, or NAME:KEY=VALUE (repeatable); others read 0")
	rest, err := parseFlags(f, args, e)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return usagef("policy explain: want no arguments (the body is read from stdin), got %q", rest)
	}
	req, err := readCallbackBody(e.stdin)
	if err != nil {
		return err
	}
	req.App, req.ClientIP, req.Platform = cmpOr(app, o.app), ip, platf
	snap, source, err := explainPolicy(ctx, &o, policy)
	if err != nil {
		return err
	}
	trace, err := decider.Explain(snap, req, stats)
	if err != nil {
		return err
	}
	if asJSON {
		return writeTraceJSON(e.stdout, source, &trace)
	}
	writeTrace(e.stdout, source, &trace)
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// explainPolicy returns the candidate file's snapshot, or the policy in
// force from the log.
func explainPolicy(ctx context.Context, o *logCLIOptions, path string) (*decider.Snapshot, string, error) {
	if path != "" {
		snap, err := loadPolicyFile(path, 0)
		return snap, path, err
	}
	if err := o.validate(); err != nil {
		return nil, "", usagef("%v (or give --policy FILE)", err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	log, closeLog, err := o.openLog(ctx)
	if err != nil {
		return nil, "", err
	}
	defer closeLog()
	fold, err := stateAt(ctx, log, 0)
	if err != nil {
		return nil, "", err
	}
	return fold.Snapshot(), fmt.Sprintf("app %s, revision %d (in force)", log.App(), fold.Revision()), nil
}

// readCallbackBody reads the body and parses and checks it as the
// callback does (ingress.InviteRequest).
func readCallbackBody(r io.Reader) (*decider.Request, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxExplainBody+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if len(data) > maxExplainBody {
		return nil, usagef("body: larger than %d bytes", maxExplainBody)
	}
	req, err := ingress.InviteRequest(string(data))
	if err != nil {
		return nil, usagef("body: %v", err)
	}
	return &req, nil
}

// statFlag parses --stat NAME=VALUE and NAME:KEY=VALUE into a fixedStats.
type statFlag struct{ s *fixedStats }

func (f statFlag) String() string { return "" }

func (f statFlag) Set(v string) error {
	lhs, val, ok := strings.Cut(v, "=")
	n, err := strconv.ParseInt(val, 10, 64)
	if !ok || err != nil {
		return fmt.Errorf("want NAME=VALUE or NAME:KEY=VALUE with an integer VALUE")
	}
	name, key, perKey := strings.Cut(lhs, ":")
	st, ok := decider.StatByName(name)
	if !ok {
		return fmt.Errorf("unknown statistic %q", name)
	}
	if !perKey {
		f.s.all[st] = n
		return nil
	}
	if f.s.per[st] == nil {
		f.s.per[st] = map[string]int64{}
	}
	f.s.per[st][key] = n
	return nil
}

// imAnswer is the answer IM would get, as the ingress writes it.
func imAnswer(d *decider.Decision) string { return string(ingress.AppendDecision(nil, d)) }

func writeTrace(w io.Writer, source string, t *decider.Trace) {
	d := &t.Decision
	fmt.Fprintf(w, "policy:   %s\n", source)
	fmt.Fprintf(w, "outcome:  %s; responsible rule: %s\n", d.Outcome, responsible(d))
	fmt.Fprintf(w, "answer:   %s\n", imAnswer(d))
	if len(d.RuleErrors) > 0 {
		fmt.Fprintf(w, "errors:   %s (counted as not matched)\n", strings.Join(d.RuleErrors, ", "))
	}
	for _, s := range d.Stats {
		fmt.Fprintf(w, "stat:     %s[%s] = %d\n", s.Stat, s.Key, s.Value)
	}
	fmt.Fprintln(w, "\nrules, in document order:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\trule\tkind\tmode\tvalue\teffect")
	for i, r := range t.Rules {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", i+1, r.Name, r.Kind, r.Mode, r.Result, ruleEffect(&r))
		if r.Error != "" {
			fmt.Fprintf(tw, "\t  error: %s\t\t\t\t\n", r.Error)
		}
		for _, m := range r.Members {
			fmt.Fprintf(tw, "\t  member %s\t\t\t%s\t%s\n", m.Member, m.Result, memberNote(&r, &m))
		}
	}
	tw.Flush()
}

func ruleEffect(r *decider.RuleTrace) string {
	if !r.Consulted {
		return "not consulted: the request was already rejected"
	}
	return r.Effect
}

func memberNote(r *decider.RuleTrace, m *decider.MemberTrace) string {
	switch {
	case m.Error != "":
		return "error: " + m.Error
	case m.RefusedBy == r.Name:
		return "refused"
	case m.RefusedBy != "" && m.Result == decider.ResultTrue && r.Mode == decider.ModeEnforce:
		return "already refused by " + m.RefusedBy
	}
	return ""
}

func writeTraceJSON(w io.Writer, source string, t *decider.Trace) error {
	type member struct {
		Member    string `json:"member"`
		Value     string `json:"value"`
		Error     string `json:"error,omitempty"`
		RefusedBy string `json:"refused_by,omitempty"`
	}
	type rule struct {
		Name      string   `json:"name"`
		Kind      string   `json:"kind"`
		Mode      string   `json:"mode"`
		Value     string   `json:"value"`
		Error     string   `json:"error,omitempty"`
		Consulted bool     `json:"consulted"`
		Effect    string   `json:"effect,omitempty"`
		Members   []member `json:"members,omitempty"`
	}
	d := &t.Decision
	out := struct {
		Policy     string                 `json:"policy"`
		Outcome    decider.Outcome        `json:"outcome"`
		Answer     json.RawMessage        `json:"answer"`
		RejectRule string                 `json:"reject_rule,omitempty"`
		Refused    []decider.Refusal      `json:"refused,omitempty"`
		Shadow     []decider.ShadowEffect `json:"shadow,omitempty"`
		RuleErrors []string               `json:"rule_errors,omitempty"`
		Stats      []decider.StatRead     `json:"stats,omitempty"`
		Rules      []rule                 `json:"rules"`
	}{Policy: source, Outcome: d.Outcome, Answer: json.RawMessage(imAnswer(d)), RejectRule: d.RejectRule,
		Refused: d.Refused, Shadow: d.Shadow, RuleErrors: d.RuleErrors, Stats: d.Stats}
	for _, r := range t.Rules {
		rr := rule{Name: r.Name, Kind: r.Kind, Mode: r.Mode, Value: r.Result, Error: r.Error, Consulted: r.Consulted, Effect: r.Effect}
		for _, m := range r.Members {
			rr.Members = append(rr.Members, member{m.Member, m.Result, m.Error, m.RefusedBy})
		}
		out.Rules = append(out.Rules, rr)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
