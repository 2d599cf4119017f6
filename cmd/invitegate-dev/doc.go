// Command invitegate-dev is the development binary: the benchmarks and the
// comparison that the production binary does not carry.
//
//	go run ./cmd/invitegate-dev compare          side by side (make bench-compare)
//	go run ./cmd/invitegate-dev bench projector  the projector's drain rate (make bench-projector)
//	go run ./cmd/invitegate-dev bench analytics  the analyst queries on 10M events (make bench-analytics)
//	go run ./cmd/invitegate-dev barehandler      the bare net/http baseline the comparison measures
//
// compare runs the side-by-side benchmarks in one go on this machine and
// writes the results as Markdown:
//
//	go run ./cmd/invitegate-dev compare -out deploy/bench/2026-11-28-compare.md
//
// Its place in the flow is in front of it, like IM:
//
//	[loadgen] -> ingress (or bare handler, or OPA) -> decider -> JetStream -> projector -> Postgres
//
// Targets, each a child process measured with the same loadgen settings:
//
//   - bare: `invitegate-dev barehandler` (this binary as a child process),
//     a plain net/http handler decoding the callback with encoding/json and
//     answering a fixed refusal (the practical ceiling);
//   - events-off: `invitegate ingress --events-off`;
//   - events-embedded: `invitegate ingress`, events to its embedded
//     JetStream (default fsync interval);
//   - events-embedded-sync: the same with --embedded-nats-sync-always;
//   - events-nats-always: `invitegate ingress --nats-url
//     --event-durability async` to a nats-server child (the v2.15 module)
//     with sync_interval: always;
//   - events-nats-always-sync: the same with --event-durability sync (each
//     answer waits for its PubAck), against a nats-server child of its own;
//   - opa: `opa run --server` (built from github.com/open-policy-agent/opa
//     at -opa-version into a temporary directory, never committed) with
//     deploy/bench/policy.rego, the decisions of deploy/bench/policy.yaml.
//
// Measures: closed-loop throughput (-concurrency workers for -duration,
// -rounds rounds in rotating order, median reported) with its p99, the CPU
// time of the target's processes per callback and the machine's idle CPU
// share; the durability pair (events-nats-always and -sync) again with
// -saturation-concurrency workers, enough to keep the CPU busy although each
// sync callback waits for a PubAck; open-loop latency at -rate; and the end-to-end latency of `invitegate run` at
// -e2e-rate: from the answer (loadgen's record: send time + service time) to
// the row being visible in PostgreSQL, observed with LISTEN on a NOTIFY
// sent by a row trigger the benchmark adds to its own database (a
// notification is delivered when the projector's transaction commits). The
// rows' projected_at (the start of that transaction) gives a lower bound.
//
// The machine is shared and has two cores: loadgen and the target share
// them, so compare ratios measured in the same run, not absolute figures.
package main
