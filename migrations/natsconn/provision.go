package natsconn

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitegate/invitegate/decider"
)

// Provisioning says what a service may do about the streams and buckets it
// uses. They are provisioned like the PostgreSQL schema: `invitegate migrate
// up --nats-url URL` creates or updates them (ProvisionUpdate), with
// credentials allowed to. A service looks each one up first and sends no
// create or update for one that is as it needs it; with ProvisionNever
// (--no-migrate) it never does, so its credentials need no stream create or
// update right.
type Provisioning uint8

const (
	// ProvisionMissing (the default) looks each stream and bucket up,
	// creates one that is missing and updates one that differs from the
	// configuration; one that matches gets no request but the look-up:
	// local use and the embedded server, where nobody ran `migrate up`.
	ProvisionMissing Provisioning = iota
	// ProvisionNever only looks them up and uses them as they are: a
	// missing one fails with ErrNotProvisioned (--no-migrate, set in the
	// shipped manifests).
	ProvisionNever
	// ProvisionUpdate creates what is missing and updates what exists to
	// the configuration: `invitegate migrate up`.
	ProvisionUpdate
)

// ErrNotProvisioned is returned, wrapped with the name of the stream or
// bucket, when one is missing and the Provisioning forbids creating it.
var ErrNotProvisioned = errors.New("not provisioned: run `invitegate migrate up --nats-url URL` with credentials that may create it")

// String names p as in logs.
func (p Provisioning) String() string {
	switch p {
	case ProvisionMissing:
		return "missing"
	case ProvisionNever:
		return "never"
	case ProvisionUpdate:
		return "update"
	}
	return fmt.Sprintf("Provisioning(%d)", uint8(p))
}

func (p Provisioning) validate() error {
	if p > ProvisionUpdate {
		return invalid("provisioning %d unknown", uint8(p))
	}
	return nil
}

// Store is one stream or bucket invitegate uses, and whether it exists.
type Store struct {
	Kind   string // stream, kv or object store
	Name   string
	Exists bool
}

func (s Store) String() string {
	state := "missing"
	if s.Exists {
		state = "present"
	}
	return fmt.Sprintf("%s %s: %s", s.Kind, s.Name, state)
}

// Inventory looks up every stream and bucket invitegate uses
// (`invitegate migrate status --nats-url URL`).
func Inventory(ctx context.Context, js jetstream.JetStream) ([]Store, error) {
	stores := []Store{
		{Kind: "stream", Name: decider.EventStream},
		{Kind: "stream", Name: decider.PolicyStream},
		{Kind: "kv", Name: PolicyStatusBucket},
		{Kind: "object store", Name: PolicySnapshotBucket},
	}
	for i := range stores {
		var err error
		switch stores[i].Kind {
		case "stream":
			_, err = js.Stream(ctx, stores[i].Name)
		case "kv":
			_, err = js.KeyValue(ctx, stores[i].Name)
		default:
			_, err = js.ObjectStore(ctx, stores[i].Name)
		}
		switch {
		case err == nil:
			stores[i].Exists = true
		case !errors.Is(err, jetstream.ErrStreamNotFound) && !errors.Is(err, jetstream.ErrBucketNotFound):
			return nil, fmt.Errorf("look up %s %s: %w", stores[i].Kind, stores[i].Name, err)
		}
	}
	return stores, nil
}

// Provisioned is one stream or bucket `migrate up` ensured.
type Provisioned struct {
	Kind    string // stream, kv or object store
	Name    string
	Created bool // false: it existed and was updated to the configuration
}

func (p Provisioned) String() string {
	verb := "updated"
	if p.Created {
		verb = "created"
	}
	return fmt.Sprintf("%s %s: %s", p.Kind, p.Name, verb)
}

// Provision creates or updates every stream and bucket invitegate uses
// (`invitegate migrate up --nats-url URL`): INVITEGATE_EVENTS, the policy
// stream and its status and snapshot buckets, each to its configuration,
// whatever the Provisioning fields of events and policy say. Running it
// again with the same configuration changes nothing.
func Provision(ctx context.Context, js jetstream.JetStream, events EventStreamConfig, policy PolicyStreamConfig) ([]Provisioned, error) {
	stores, err := Inventory(ctx, js)
	if err != nil {
		return nil, err
	}
	events.Provision, policy.Provision = ProvisionUpdate, ProvisionUpdate
	if _, err := EnsureEventStream(ctx, js, events); err != nil {
		return nil, err
	}
	if _, err := EnsurePolicyStores(ctx, js, policy); err != nil {
		return nil, err
	}
	done := make([]Provisioned, len(stores))
	for i, s := range stores {
		done[i] = Provisioned{Kind: s.Kind, Name: s.Name, Created: !s.Exists}
	}
	return done, nil
}
