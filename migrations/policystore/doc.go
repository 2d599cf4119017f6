// Package policystore is the client of the policy log as it is stored in
// NATS JetStream: the stream INVITEGATE_POLICY (subjects
// invitegate.policy.<app>.<kind>), the compacted snapshots in the Object
// Store and the replicas' status in the KV bucket invitegate_policy_status.
//
// Place in the flow:
//
//	policy admin -> [policy log] -> ingress (policyfeed follower)
//	                             -> projector (compactor, revisions writer)
//
// Both sides of the queue read the log through this package, so the
// ingress's follower and the projector's compactor meet only through what
// JetStream stores, never through each other's packages. The streams and
// buckets themselves are declared in migrations/natsconn, beside the SQL
// schema: both are the layout of what is stored.
//
// Record.Verify and ApplyRecord are how every reader folds the log: an
// event copied in by another stream (Nats-Stream header) is refused, and
// with a decider.Trust only events signed by a trusted key apply. A Log
// WithSigner signs what it publishes; WithTrust folds as the replicas do.
//
// A Reader reads the log in order through one ephemeral consumer at a
// time, which it replaces from the next event when the connection moves to
// another server, heartbeats stop or a delivery is missing. A Log's
// requests are bounded per attempt (AttemptTimeout) and sent again while
// they go unanswered or find no leader (Retry): a publish keeps its
// Nats-Msg-Id across attempts, so it is stored once.
//
// A Log is one app's log: Publish (validated), Seed, Head, Read, Reader,
// State (the fold up to a revision), Document, Replicas and WaitRevision
// (what `invitegate policy apply --wait` uses), PutStatus and DeleteStatus
// (what a replica reports). SaveSnapshot, LoadSnapshot, StatSnapshot and the
// checkpoint functions are the compacted snapshot's format, written by the
// projector's compactor and read by every replica.
//
//	log, err := policystore.OpenLog(ctx, js, "1400000000", natsconn.PolicyStreamConfig{})
//	rev, err := log.Publish(ctx, change)
//	replicas, err := log.WaitRevision(ctx, rev, 15*time.Second)
package policystore
