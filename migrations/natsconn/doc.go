// Package natsconn is the layout of what invitegate stores in NATS
// JetStream, and the way to it: the INVITEGATE_EVENTS stream, the
// INVITEGATE_POLICY stream with its snapshot and status buckets (each
// created or updated by an Ensure function), the client connection with
// reconnect-forever options, and the embedded JetStream server used when no
// URL is configured.
//
// Why beside the SQL schema: the streams and buckets are to JetStream what
// the migrations are to PostgreSQL, the layout of what is stored. Both sides
// of the queue depend on it (the ingress publishes into the streams, the
// projector reads them and writes the snapshots), so it sits below both, in
// migrations, and the contract between ingress and projector can be read in
// one place: the subjects and the event codec in decider, the stored layout
// here and in the SQL files. ingress and projector never import each other.
//
// Streams and buckets are provisioned like the PostgreSQL schema: Provision
// (`invitegate migrate up --nats-url URL`) creates or updates them, with
// credentials allowed to. A service looks each one up first
// (EnsureEventStream, EnsurePolicyStores) and sends no create or update for
// one that is as it needs it. With ProvisionMissing (local use, the
// embedded server) it creates a missing one and updates one that differs;
// with ProvisionNever (--no-migrate) it never does: a missing one is
// ErrNotProvisioned and one that differs is used as it is. So the services'
// NATS users need no right to create or update a stream.
//
// Place in the flow:
//
//	IM -> ingress -> decider -> [JetStream] -> projector -> Postgres and snapshot -> ingress
//
// The ingress outbox publishes event batches over the connection made here;
// the projector consumes them from the stream ensured here.
//
// Without Config.URL, StartEmbedded runs nats-server in-process (JetStream on,
// store under Embedded.StoreDir) and Connect reaches it through
// nats.InProcessServer, so no TCP port is opened unless Embedded.ListenAddr is
// set. With Config.URL, Connect dials it with the credentials and TLS files
// given. Either way the connection reconnects forever (MaxReconnects -1),
// retries a failed first connect in the background (RetryOnFailedConnect),
// and logs disconnects, reconnects, closes and asynchronous errors.
//
// Durability caveats (see the pitfalls spec): a PubAck is only as durable as
// the server's fsync policy. Production should run the server with
// sync_interval always (Embedded.SyncAlways for the embedded one) and R3
// streams. The stream's duplicate window (EventStreamConfig.Duplicates) must
// cover the outbox's retry horizon; beyond it the projector's primary key on
// the event id is the backstop.
//
// Usage without fx:
//
//	srv, err := natsconn.StartEmbedded(cfg.Embedded, logger) // only when cfg.URL == ""
//	nc, err := natsconn.Connect(ctx, cfg, srv, logger)
//	js, err := jetstream.New(nc)
//	stream, err := natsconn.EnsureEventStream(ctx, js, natsconn.EventStreamConfig{})
//
// With fx, Module provides *server.Server (nil with a URL), *nats.Conn and
// jetstream.JetStream from a supplied Config, and tears them down in reverse.
package natsconn
