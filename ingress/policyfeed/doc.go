// Package policyfeed keeps every ingress replica on the newest policy of the
// policy log, an event-sourced log on NATS JetStream.
//
// Place in the flow:
//
//	IM -> ingress -> decider -> JetStream -> projector -> Postgres and snapshot -> [ingress]
//
// The log is the stream INVITEGATE_POLICY, subjects
// invitegate.policy.<app>.<kind>, kept for ever (it is the audit log). Its
// events are decider.Change values (replaced, list.added, list.removed) and
// a policy snapshot is their fold (decider.Fold): its revision is the stream
// sequence of the last event applied. An event that does not validate is
// never applied: the last good policy stays, and the rejection is logged and
// counted in invitegate_policy_events_rejected_total{reason}. With
// Config.Trust (--policy-trust), neither is an event without a valid
// signature of a trusted key (policystore.ApplyRecord), a snapshot on disk
// folded under another trust, or a compacted snapshot not signed by a key
// trusted for snapshots; a snapshot that cannot be used is counted in
// invitegate_policy_snapshot_load_errors_total{source} and, until the log
// is caught up, marks the engine unready (/readyz says why).
//
// A Follower, one per ingress process:
//
//  1. at Start, loads its last good snapshot from DataDir/policy/<app>.json
//     into the decider.Engine, so a replica serves even when NATS is down;
//  2. in the background, opens the log (creating the stream and buckets if
//     needed), seeds an empty log with Config.Seed (the --policy file; a
//     non-empty log ignores it with a log line; with SeedServeOnly it
//     serves the file at revision 0 instead), loads the compacted
//     snapshot the projector keeps in the Object Store when it is newer,
//     replays only the events after it, then applies live events from a
//     policystore.Reader, swapping the engine's snapshot (lock-free for
//     deciders) whenever no more events are pending; the reader replaces
//     its consumer by itself the moment the connection moves to another
//     server or heartbeats stop;
//  3. writes each new snapshot to disk (at most once per SaveInterval) and
//     reports its revision in the KV bucket invitegate_policy_status under
//     <app>.<replica>: at each change, after each reconnect and every
//     StatusInterval; a failed write is retried within a second or so, and
//     an event that changes nothing writes nothing.
//
// A policystore.Log is the client side of one app's log: Publish (validated), Seed,
// Head, Read, State (the fold up to a revision), Replicas and WaitRevision
// (what `invitegate policy apply --wait` uses). policystore.SaveSnapshot, policystore.LoadSnapshot
// and the checkpoint functions are the compacted snapshot's format, shared
// with the projector's compactor.
//
//	f, err := policyfeed.New(policyfeed.Config{App: "1400000000", DataDir: dir}, js, engine, logger, reg)
//	err = f.Start(ctx) // serves the snapshot on disk at once, follows in the background
//	<-f.CaughtUp()     // every event in the log at start applied
//	defer f.Stop(ctx)
package policyfeed
