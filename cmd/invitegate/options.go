package main

import (
	"fmt"
	"time"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/ingress"
	"github.com/invitegate/invitegate/ingress/outbox"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/invitegate/invitegate/projector"
)

// logOptions are the flags every long-running command takes.
type logOptions struct {
	format string
	level  string
}

func (o *logOptions) register(f *flags) {
	f.String(&o.format, "log-format", "json", "log format: json or text")
	f.String(&o.level, "log-level", "info", "log level: debug, info, warn or error")
}

// ingressOptions are the flags of the callback server.
type ingressOptions struct {
	cfg             ingress.Config
	policyFile      string
	failMode        string
	decisionTimeout time.Duration
	eventsOff       bool
}

func (o *ingressOptions) register(f *flags) {
	c := &o.cfg
	f.String(&c.SdkAppID, "sdkappid", "", "the app's SDKAppID; callbacks for any other SdkAppid are answered 403 (required)")
	f.String(&c.HTTPAddr, "http-addr", ingress.DefaultHTTPAddr, "host:port of the callback listener")
	f.String(&c.AdminAddr, "admin-addr", ingress.DefaultAdminAddr, "host:port of the admin listener (/metrics, /healthz, /readyz)")
	f.Bool(&c.Pprof, "admin-pprof", false, "also serve Go's profiles under /debug/pprof/ on the admin listener")
	f.String(&c.CallbackPath, "callback-path", ingress.DefaultCallbackPath, "URL path IM posts callbacks to")
	f.String(&c.CallbackToken, "callback-token", "", "callback authentication token from the IM console; when set, Sign and RequestTime are required")
	f.Duration(&c.MaxClockSkew, "max-clock-skew", ingress.DefaultMaxClockSkew, "how far RequestTime may be from now before a signed callback is refused")
	f.Int64(&c.MaxBodyBytes, "max-body-bytes", ingress.DefaultMaxBodyBytes, "largest callback body accepted; larger is answered 413")
	f.Int(&c.MaxMembers, "max-members", decider.DefaultMaxMembers, fmt.Sprintf("most members of one callback (at most %d, the count rules are costed at); an invite with more is answered by --fail-mode, a membership callback with more is recorded with its first ones; counted in invitegate_limited_callbacks_total and marked on the event", decider.DefaultMaxMembers))
	f.Duration(&o.decisionTimeout, "decision-timeout", decider.DefaultDecisionTimeout, "bound on one policy decision; past it the invite is answered by --fail-mode, counted in invitegate_limited_callbacks_total and marked on the event")
	f.Int(&c.MaxConnections, "max-connections", ingress.DefaultMaxConnections, "most open connections on the callback listener; past it new ones wait in the accept queue (counted in invitegate_connections_limit_reached_total)")
	f.Duration(&c.ReadHeaderTimeout, "read-header-timeout", ingress.DefaultReadHeaderTimeout, "bound on reading a request's headers")
	f.Duration(&c.ReadTimeout, "read-timeout", ingress.DefaultReadTimeout, "bound on reading a whole request")
	f.Duration(&c.WriteTimeout, "write-timeout", ingress.DefaultWriteTimeout, "bound on handling and writing an answer")
	f.Duration(&c.IdleTimeout, "idle-timeout", ingress.DefaultIdleTimeout, "how long a kept-alive connection may idle")
	f.Int(&c.MaxHeaderBytes, "max-header-bytes", ingress.DefaultMaxHeaderBytes, "bound on the request line and headers")
	f.Duration(&c.ShutdownTimeout, "shutdown-timeout", ingress.DefaultShutdownTimeout, "bound on finishing in-flight callbacks at stop")
	f.String(&o.policyFile, "policy", "", "policy file (YAML or JSON) loaded at start; without it the service answers by --fail-mode")
	f.String(&o.failMode, "fail-mode", string(decider.FailOpen), "answer while no policy is loaded: open (allow) or closed (reject with ErrorCode 1)")
	f.Bool(&o.eventsOff, "events-off", false, "do not publish events (no NATS needed); for benchmarks and emergencies")
}

func (o *ingressOptions) validate() error {
	if o.cfg.SdkAppID == "" {
		return usagef("--sdkappid (or %s) is required", EnvName("sdkappid"))
	}
	switch decider.FailMode(o.failMode) {
	case decider.FailOpen, decider.FailClosed:
	default:
		return usagef("--fail-mode %q: want open or closed", o.failMode)
	}
	if o.decisionTimeout <= 0 || o.decisionTimeout >= 2*time.Second {
		return usagef("--decision-timeout %v: want more than 0 and less than IM's 2s", o.decisionTimeout)
	}
	return nil
}

// natsOptions are the flags of the NATS connection and the event stream.
type natsOptions struct {
	cfg       natsconn.Config
	stream    natsconn.EventStreamConfig
	noMigrate bool
}

func (o *natsOptions) register(f *flags, embedded bool) {
	c := &o.cfg
	help := "NATS URL (or comma-separated URLs)"
	if embedded {
		help += "; empty: embed a NATS server with JetStream, store under --data-dir"
	}
	f.String(&c.URL, "nats-url", "", help)
	f.String(&c.CredsFile, "nats-creds", "", "NATS credentials file (JWT and nkey seed)")
	f.String(&c.NKeyFile, "nats-nkey", "", "file holding an nkey seed")
	f.String(&c.TLSCA, "nats-tls-ca", "", "PEM file of CAs that verify the NATS server")
	f.String(&c.TLSCert, "nats-tls-cert", "", "PEM client certificate for NATS (with --nats-tls-key)")
	f.String(&c.TLSKey, "nats-tls-key", "", "PEM key of --nats-tls-cert")
	f.String(&c.Name, "nats-name", natsconn.DefaultName, "connection name shown by the NATS server")
	if embedded {
		f.String(&c.Embedded.ListenAddr, "embedded-nats-addr", "", "host:port on which the embedded NATS server also listens; empty: in-process only")
		f.Bool(&c.Embedded.SyncAlways, "embedded-nats-sync-always", false, "fsync every JetStream write of the embedded server before acknowledging (sync_interval: always)")
	}
	f.Int(&o.stream.Replicas, "js-replicas", natsconn.DefaultReplicas, "replicas of the INVITEGATE_EVENTS stream (3 in a production cluster)")
	f.Duration(&o.stream.MaxAge, "events-max-age", natsconn.DefaultMaxAge, "how long events stay in the stream; the projector must catch up within it")
	f.Duration(&o.stream.Duplicates, "events-duplicate-window", natsconn.DefaultDuplicates, "stream dedup window on batch ids; must cover the outbox's retry horizon")
}

// registerNoMigrate adds --no-migrate, of the services (run, ingress,
// projector): whether they may provision what is missing at start.
func (o *natsOptions) registerNoMigrate(f *flags) {
	f.Bool(&o.noMigrate, "no-migrate", false, "provision nothing at start: neither migrate the PostgreSQL schema nor create a missing JetStream stream or bucket "+
		"(a missing one fails, naming 'invitegate migrate up', which the shipped manifests run as a setup step), nor seed an empty policy log with --policy "+
		"(the file is served at revision 0 until 'invitegate policy apply'); without it, what is missing is created and what differs from the flags is updated")
}

// provisioning applies --no-migrate to the stream configuration.
func (o *natsOptions) provisioning() {
	if o.noMigrate {
		o.stream.Provision = natsconn.ProvisionNever
	}
}

// outboxOptions are the flags of the event outbox and its spool.
type outboxOptions struct{ cfg outbox.Config }

func (o *outboxOptions) register(f *flags) {
	c := &o.cfg
	f.Int(&c.MaxBatchEvents, "outbox-batch-events", outbox.DefaultMaxBatchEvents, "most events in one published batch (one NATS message)")
	f.Duration(&c.BatchDelay, "outbox-batch-delay", outbox.DefaultBatchDelay, "longest an event waits for its batch to fill")
	f.Int(&c.MaxInFlight, "outbox-max-in-flight", outbox.DefaultMaxInFlight, "batches awaiting their PubAck at once")
	f.Duration(&c.AckTimeout, "outbox-ack-timeout", outbox.DefaultAckTimeout, "wait for a PubAck before re-publishing a batch with the same id")
	f.Int64(&c.MaxMemoryBytes, "outbox-max-memory-bytes", outbox.DefaultMaxMemoryBytes, "unacknowledged batches kept in memory before spilling to the spool")
	f.Int64(&c.SpoolMaxBytes, "spool-max-bytes", outbox.DefaultSpoolMaxBytes, "disk spool bound; beyond it events are dropped and counted")
	f.Duration(&c.FlushTimeout, "outbox-flush-timeout", outbox.DefaultFlushTimeout, "at stop, wait this long for PubAcks before spooling the rest")
	f.String((*string)(&c.Durability), "event-durability", string(outbox.DefaultDurability),
		"when a callback is answered: async (at once; a killed process loses its last batches) or sync (once its event is acknowledged by JetStream or fsynced to the spool)")
	f.Duration(&c.DurabilityTimeout, "event-durability-timeout", outbox.DefaultDurabilityTimeout,
		"sync: longest an answer waits for its event to be durable (at most 1.5s); past it the answer is sent and counted as durability_timeout")
	f.Duration(&c.SpoolAfter, "event-spool-after", outbox.DefaultSpoolAfter,
		"sync: wait this long for a PubAck before fsyncing the event to the spool instead")
}

// projectorOptions are the flags of the projector.
type projectorOptions struct{ cfg projector.Config }

func (o *projectorOptions) register(f *flags) {
	c := &o.cfg
	f.String(&c.DatabaseURL, "database-url", projector.DefaultDatabaseURL, "PostgreSQL URL; the database is created if missing and the user may")
	f.String(&c.Consumer, "consumer", projector.DefaultConsumer, "durable consumer name shared by every projector")
	f.Int(&c.BatchSize, "batch-size", projector.DefaultBatchSize, "most events written in one transaction")
	f.Duration(&c.BatchWait, "batch-wait", projector.DefaultBatchWait, "longest a batch waits to fill")
	f.Int(&c.InFlight, "projector-in-flight", projector.DefaultInFlight, "batches written at once, each in its own transaction")
	f.Int(&c.MaxDeliver, "max-deliver", projector.DefaultMaxDeliver, "deliveries of a message that fails to store before it goes to dead_letters")
	f.Duration(&c.Retention, "retention", 0, "drop the partitions (UTC days) of invite_events, invite_members and membership_events older than this (at least 24h); rollups are kept; 0 keeps everything")
}

// dataDirOption is shared by the outbox spool and the embedded NATS store.
func registerDataDir(f *flags, p *string) {
	f.String(p, "data-dir", "./.data", "directory for the outbox spool and the embedded NATS store")
}

func natsStoreDir(dataDir string) string { return fmt.Sprintf("%s/nats", dataDir) }
