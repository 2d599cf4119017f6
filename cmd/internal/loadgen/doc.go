// Package loadgen plays Tencent IM's backend against a callback URL: it sends
// Group.CallbackBeforeInviteJoinGroup (and, when asked, the membership
// callbacks) the way IM does, and measures the answers. It is the library
// behind `invitegate loadgen`, and the load of the benchmarks and the fault
// suite. Its place in the flow is in front of it:
//
//	[loadgen as IM] -> ingress -> decider -> JetStream -> projector -> Postgres and snapshot -> ingress
//
// What it sends: a POST per callback with IM's query parameters (SdkAppid,
// CallbackCommand, contenttype=json, ClientIP, OptPlatform, and Sign and
// RequestTime when Config.Token is set) and a body shaped like IM's samples,
// EventTime a string of milliseconds. Operators and groups are drawn from Zipf
// distributions, 1..MaxMembers distinct members per invite from a uniform
// population, with a share of ids from a banned set ("banned-<n>"). The draws
// follow Config.Seed; GroupIds end in a per-run unique key (see Record).
//
// How: over keep-alive connections (one http.Transport, up to Concurrency
// idle connections, Timeout 2 s like IM), either open-loop (Rate > 0: request
// i is due at start + i/Rate whatever the answers, and its latency counts
// from then, so a stalled server cannot hide its stall) or closed-loop
// (Concurrency workers, each sending when its previous answer came).
//
//	rep, err := loadgen.Run(ctx, loadgen.Config{URL: "http://127.0.0.1:8080/im", Rate: 1000, Duration: time.Minute})
//	if err != nil && rep == nil { ... }
//	rep.Write(os.Stdout)
//
// An answer counts when it is HTTP 200 with a JSON body whose ActionStatus is
// OK or FAIL, what IM requires; it is then allow, partial (ErrorCode 0 and
// RefusedMembers_Account), reject (ErrorCode != 0), or ok for a membership
// callback. Anything else is an error of one kind: timeout, connection,
// status, bad_body, or canceled. Latency percentiles cover answered requests.
//
// With Config.RecordFile each request sent becomes one JSON line (Record), so
// a checker can classify every request as answered or not and look each
// answered one up in PostgreSQL by its GroupId.
package loadgen
