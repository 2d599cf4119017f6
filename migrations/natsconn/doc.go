// Package natsconn is the NATS side of the composition root: it starts the
// embedded JetStream server when no URL is configured, opens the client
// connection with reconnect-forever options, and defines the streams and
// buckets invitegate uses (INVITEGATE_EVENTS, INVITEGATE_POLICY and the
// policy log's status and snapshot buckets).
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
