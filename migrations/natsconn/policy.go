package natsconn

import (
	"cmp"
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitegate/invitegate/decider"
)

// JetStream names of the policy log's side stores.
const (
	// PolicyStatusBucket is the KV bucket where every ingress replica
	// reports the policy revision it applied, under key <app>.<replica>.
	PolicyStatusBucket = "invitegate_policy_status"
	// PolicySnapshotBucket is the Object Store bucket holding the compacted
	// policy snapshot of each app (written by the projector's compactor).
	PolicySnapshotBucket = "invitegate_policy_snapshots"
)

// PolicyStreamConfig sizes the INVITEGATE_POLICY stream and its buckets.
// The stream keeps every event for ever (it is the audit log): no age,
// count or size limit, and deletes and purges are refused.
type PolicyStreamConfig struct {
	// Replicas of the stream and both buckets, 1 to 5. Default 1;
	// production clusters should use 3.
	Replicas int
	// Duplicates is the dedup window on Nats-Msg-Id (a CLI retrying a
	// publish whose ack was lost). Default 2 minutes.
	Duplicates time.Duration
	// StatusTTL is how long a replica's status entry lives without being
	// refreshed: a replica that stops reporting for this long is gone.
	// Default 1 minute; replicas refresh well within it.
	StatusTTL time.Duration
	// Provision says whether EnsurePolicyStores may create a missing
	// stream or bucket, or update one that differs (see
	// EventStreamConfig.Provision).
	Provision Provisioning
}

// Defaults of PolicyStreamConfig.
const (
	DefaultPolicyDuplicates = 2 * time.Minute
	DefaultPolicyStatusTTL  = time.Minute
)

// WithDefaults returns c with every zero field set to its default.
func (c PolicyStreamConfig) WithDefaults() PolicyStreamConfig {
	c.Replicas = cmp.Or(c.Replicas, DefaultReplicas)
	c.Duplicates = cmp.Or(c.Duplicates, DefaultPolicyDuplicates)
	c.StatusTTL = cmp.Or(c.StatusTTL, DefaultPolicyStatusTTL)
	return c
}

// Validate checks c after defaults.
func (c PolicyStreamConfig) Validate() error {
	c = c.WithDefaults()
	switch {
	case c.Replicas < 1 || c.Replicas > 5:
		return invalid("policy stream replicas %d not in 1..5", c.Replicas)
	case c.Duplicates < 0:
		return invalid("policy stream duplicate window %s is negative", c.Duplicates)
	case c.StatusTTL < time.Second:
		return invalid("policy status TTL %s is under 1s", c.StatusTTL)
	}
	return c.Provision.validate()
}

// StreamConfig returns the JetStream configuration of the policy stream.
func (c PolicyStreamConfig) StreamConfig() jetstream.StreamConfig {
	c = c.WithDefaults()
	return jetstream.StreamConfig{
		Name:        decider.PolicyStream,
		Description: "invitegate policy change events (the policy log, kept for ever)",
		Subjects:    []string{decider.PolicySubjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		Replicas:    c.Replicas,
		MaxAge:      0,
		MaxBytes:    -1,
		MaxMsgs:     -1,
		Duplicates:  c.Duplicates,
		DenyDelete:  true,
		DenyPurge:   true,
		AllowDirect: true,
	}
}

// PolicyStores are the stream and buckets of the policy log.
type PolicyStores struct {
	Stream    jetstream.Stream
	Status    jetstream.KeyValue
	Snapshots jetstream.ObjectStore
}

// EnsurePolicyStores returns the policy stream, the status KV bucket and
// the snapshot Object Store. It looks each up first and sends nothing more
// for one that already has cfg; one that is missing it creates and one that
// differs it updates, unless cfg.Provision is ProvisionNever (then a
// missing one is an error wrapping ErrNotProvisioned, one that differs is
// used as it is). With ProvisionUpdate it
// creates or updates each to cfg; calling it again with the same cfg
// changes nothing.
func EnsurePolicyStores(ctx context.Context, js jetstream.JetStream, cfg PolicyStreamConfig) (PolicyStores, error) {
	if err := cfg.Validate(); err != nil {
		return PolicyStores{}, err
	}
	cfg = cfg.WithDefaults()
	var st PolicyStores
	var err error
	if st.Stream, err = ensureStream(ctx, js, cfg.StreamConfig(), cfg.Provision); err != nil {
		return st, err
	}
	if st.Status, err = ensureKeyValue(ctx, js, cfg.StatusConfig(), cfg.Provision); err != nil {
		return st, err
	}
	if st.Snapshots, err = ensureObjectStore(ctx, js, cfg.SnapshotConfig(), cfg.Provision); err != nil {
		return st, err
	}
	return st, nil
}

// StatusConfig returns the configuration of the status KV bucket.
func (c PolicyStreamConfig) StatusConfig() jetstream.KeyValueConfig {
	c = c.WithDefaults()
	return jetstream.KeyValueConfig{
		Bucket:      PolicyStatusBucket,
		Description: "policy revision applied by each live ingress replica (<app>.<replica>)",
		History:     1,
		TTL:         c.StatusTTL,
		Storage:     jetstream.MemoryStorage,
		Replicas:    c.Replicas,
	}
}

// SnapshotConfig returns the configuration of the snapshot Object Store.
func (c PolicyStreamConfig) SnapshotConfig() jetstream.ObjectStoreConfig {
	c = c.WithDefaults()
	return jetstream.ObjectStoreConfig{
		Bucket:      PolicySnapshotBucket,
		Description: "compacted policy snapshot of each app (the fold of INVITEGATE_POLICY)",
		Storage:     jetstream.FileStorage,
		Replicas:    c.Replicas,
		Compression: true,
	}
}
