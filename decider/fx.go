package decider

import "go.uber.org/fx"

// Module provides the *Engine every decision goes through, built from a
// supplied FailMode. The engine starts with no snapshot: a policy source
// (the --policy file, or the policy log's follower in ingress/policyfeed)
// loads snapshots into it, and until one does, decisions follow the fail
// mode. The package stays pure: fx is wiring, not I/O.
var Module = fx.Module("decider", fx.Provide(provideEngine))

func provideEngine(mode FailMode) *Engine { return NewEngine(mode, nil) }
