// Command invitegate is the one binary of invitegate, and the composition
// root: the only place that reads flags and environment variables and wires
// the packages together with go.uber.org/fx.
//
// Place in the flow:
//
//	IM -> ingress -> decider -> JetStream -> projector -> Postgres and snapshot -> ingress
//	      \_________________ all started, configured and stopped from here ____________/
//
// Subcommands:
//
//	invitegate run          every role in one process (embedded NATS without --nats-url)
//	invitegate ingress      the callback server alone
//	invitegate projector    the JetStream -> PostgreSQL projector alone
//	invitegate migrate      up | down | status of the PostgreSQL schema (and, with
//	                        --nats-url, of the JetStream streams and buckets)
//	invitegate policy       check | apply | show | history | diff | rollback | status
//	invitegate list         add | remove | show: list entries as policy log events
//	invitegate loadgen      the IM traffic simulator
//	invitegate docs         the configuration reference (cmd/invitegate/README.md)
//
// Benchmark and comparison tooling is not in this binary: it is the
// development binary cmd/invitegate-dev.
//
// Every flag --some-flag may also be set by the environment variable
// INVITEGATE_SOME_FLAG; the flag wins. Flags go before or after a command's
// arguments. `invitegate CMD --help` lists them.
package main
