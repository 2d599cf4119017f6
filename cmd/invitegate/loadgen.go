package main

import (
	"context"
	"strings"

	"github.com/invitegate/invitegate/cmd/internal/loadgen"
)

func cmdLoadgen(ctx context.Context, e env, args []string) error {
	var (
		c         loadgen.Config
		platforms string
		quiet     bool
	)
	f := newFlags("loadgen", "invitegate loadgen --url URL [flags]",
		"Simulates Tencent IM: sends Group.CallbackBeforeInviteJoinGroup (and, with --membership-share,\n"+
			"membership callbacks) open-loop at --rate or closed-loop with --concurrency, and reports\n"+
			"latency percentiles, status and outcome counts.", e.getenv)
	f.String(&c.URL, "url", "http://127.0.0.1:8080/callback", "callback URL, without query string; a comma-separated list spreads requests round-robin")
	f.String(&c.SdkAppID, "sdkappid", loadgen.DefaultSdkAppID, "SdkAppid query parameter")
	f.String(&c.Token, "token", "", "callback token: sign requests (Sign, RequestTime) like IM")
	f.Float(&c.Rate, "rate", 0, "open-loop target requests/s; 0: closed-loop")
	f.Int(&c.Concurrency, "concurrency", loadgen.DefaultConcurrency, "closed-loop workers; cap on requests in flight")
	f.Duration(&c.Duration, "duration", 0, "length of the run (default 10s when --requests is 0)")
	f.Int64(&c.Requests, "requests", 0, "number of requests to send (0: bounded by --duration)")
	f.Duration(&c.Timeout, "timeout", loadgen.DefaultTimeout, "per-request timeout (IM's is 2s)")
	f.Int(&c.Operators, "operators", loadgen.DefaultOperators, "distinct inviting users (Zipf)")
	f.Float(&c.OperatorsZipf, "operators-zipf", loadgen.DefaultZipfS, "Zipf exponent of operators (> 0)")
	f.Int(&c.Groups, "groups", loadgen.DefaultGroups, "distinct groups (Zipf)")
	f.Float(&c.GroupsZipf, "groups-zipf", loadgen.DefaultZipfS, "Zipf exponent of groups (> 0)")
	f.Int(&c.Users, "users", loadgen.DefaultUsers, "population of invited members")
	f.Int(&c.MaxMembers, "max-members", loadgen.DefaultMaxMembers, "members per invite: 1..N")
	f.Float(&c.BannedShare, "banned-share", 0.05, "probability an operator or member is a banned id (banned-N)")
	f.Int(&c.BannedIDs, "banned-ids", loadgen.DefaultBannedIDs, "size of the banned id set")
	f.Float(&c.MembershipShare, "membership-share", 0, "share of requests that are membership callbacks")
	f.String(&platforms, "platforms", strings.Join(loadgen.DefaultPlatforms, ","), "OptPlatform values, comma-separated")
	f.Uint64(&c.Seed, "seed", 0, "random seed (same seed, same traffic)")
	f.String(&c.RecordFile, "record", "", "write one JSON line per request to this file (for the loss checker)")
	f.Bool(&c.JSON, "json", false, "JSON progress lines and JSON report")
	f.Bool(&quiet, "quiet", false, "no progress line each second")
	if _, err := parseFlags(f, args, e); err != nil {
		return err
	}
	for _, p := range strings.Split(platforms, ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.Platforms = append(c.Platforms, p)
		}
	}
	if !quiet {
		c.Progress = e.stderr
	}
	rep, err := loadgen.Run(ctx, c)
	if rep != nil {
		if werr := rep.Write(e.stdout); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}
