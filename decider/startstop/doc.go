// Package startstop is the one lifecycle of every invitegate component that
// owns goroutines: the policy and statistics followers and the outbox of the
// ingress, the ingress server, the projector's worker, statistics aggregator,
// policy compactor and revision writer.
//
// Place in the flow: beside the domain, under everything that runs.
//
//	IM -> ingress -> decider -> JetStream -> projector -> Postgres and snapshot -> ingress
//	      [startstop: how each of these components starts and stops]
//
// The contract is River's (riverqueue/river's BaseStartStop):
//
//   - Start starts the component's goroutines and returns; a second Start
//     while it runs does nothing and returns nil.
//   - Stop stops them and waits for them; it is idempotent and may be called
//     before Start (the component then never starts).
//   - Start after Stop returns ErrStopped: a component runs once.
//
// A component embeds one State and routes its Start and Stop through it:
//
//	func (w *Worker) Start(ctx context.Context) error {
//		return w.life.Start(func() error { return w.start(ctx) })
//	}
//
//	func (w *Worker) Stop(ctx context.Context) error {
//		return w.life.Stop(func() error { return w.stop(ctx) })
//	}
//
// The package sits under decider because decider is the lowest floor of
// the house, which both ingress and projector import, and because it keeps
// decider's promise: it imports nothing but the standard library's sync and
// errors, no network and no database. The domain itself never imports it.
// Package startstoptest holds the one stress test every component runs.
package startstop
