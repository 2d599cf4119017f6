// Package barehandler is the "practical ceiling" of the side-by-side
// benchmark: the least a Go net/http server can do for IM's invite callback.
// It decodes the body with plain encoding/json and answers a fixed partial
// refusal of the first destination member:
//
//	{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","RefusedMembers_Account":["<first member>"]}
//
// It checks no signature, evaluates no policy and publishes no event, so it
// stands outside the flow
//
//	IM -> ingress -> decider -> JetStream -> projector -> Postgres and snapshot -> ingress
//
// and only measures what the ingress is compared against: the same load
// (cmd/internal/loadgen) against both, throughput ratio and p99. Other commands get
// {"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""} (so does an invite with
// no members); a body that does not decode gets 400, one over 1 MiB 413, a
// method other than POST 405, each with a FAIL answer.
//
//	srv := httptest.NewServer(barehandler.New())
package barehandler
