package natsconn

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ensureStream returns the stream cfg.Name as p allows. ProvisionUpdate
// (migrate up) creates or updates it. Otherwise it looks it up first; an
// existing stream that already has cfg is used as it is, without a create
// or update request. ProvisionNever stops there (a missing stream is
// ErrNotProvisioned; one that differs is used as it is); ProvisionMissing
// creates a missing stream and updates one that differs.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig, p Provisioning) (jetstream.Stream, error) {
	if p == ProvisionUpdate {
		s, err := js.CreateOrUpdateStream(ctx, cfg)
		if err != nil {
			return nil, provisionError("create or update", "stream", cfg.Name, err)
		}
		return s, nil
	}
	s, err := js.Stream(ctx, cfg.Name)
	switch {
	case err == nil:
		if p == ProvisionNever || streamHas(s.CachedInfo().Config, cfg) {
			return s, nil
		}
		if s, err = js.UpdateStream(ctx, cfg); err != nil {
			return nil, provisionError("update", "stream", cfg.Name, err)
		}
		return s, nil
	case !errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, fmt.Errorf("look up stream %s: %w", cfg.Name, err)
	case p == ProvisionNever:
		return nil, fmt.Errorf("stream %s: %w", cfg.Name, ErrNotProvisioned)
	}
	s, err = js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // created meanwhile by another process
		s, err = js.Stream(ctx, cfg.Name)
	}
	if err != nil {
		return nil, provisionError("create", "stream", cfg.Name, err)
	}
	return s, nil
}

// streamHas says whether have (as the server reports it) already is want
// in every field invitegate sets.
func streamHas(have, want jetstream.StreamConfig) bool {
	return slices.Equal(have.Subjects, want.Subjects) && have.Description == want.Description &&
		have.Storage == want.Storage && have.Retention == want.Retention && have.Discard == want.Discard &&
		have.Replicas == want.Replicas && have.MaxAge == want.MaxAge && have.MaxBytes == want.MaxBytes &&
		have.MaxMsgs == want.MaxMsgs && have.Duplicates == want.Duplicates && have.DenyDelete == want.DenyDelete &&
		have.DenyPurge == want.DenyPurge && have.AllowDirect == want.AllowDirect
}

// ensureKeyValue is ensureStream for a KV bucket.
func ensureKeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig, p Provisioning) (jetstream.KeyValue, error) {
	if p == ProvisionUpdate {
		kv, err := js.CreateOrUpdateKeyValue(ctx, cfg)
		if err != nil {
			return nil, provisionError("create or update", "kv", cfg.Bucket, err)
		}
		return kv, nil
	}
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	switch {
	case err == nil:
		if p == ProvisionNever {
			return kv, nil
		}
		st, err := kv.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("look up kv %s: %w", cfg.Bucket, err)
		}
		have := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config
		if st.TTL() == cfg.TTL && st.History() == int64(max(cfg.History, 1)) && have.Replicas == cfg.Replicas &&
			have.Storage == cfg.Storage && have.Description == cfg.Description {
			return kv, nil
		}
		if kv, err = js.UpdateKeyValue(ctx, cfg); err != nil {
			return nil, provisionError("update", "kv", cfg.Bucket, err)
		}
		return kv, nil
	case !errors.Is(err, jetstream.ErrBucketNotFound):
		return nil, fmt.Errorf("look up kv %s: %w", cfg.Bucket, err)
	case p == ProvisionNever:
		return nil, fmt.Errorf("kv %s: %w", cfg.Bucket, ErrNotProvisioned)
	}
	kv, err = js.CreateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, cfg.Bucket)
	}
	if err != nil {
		return nil, provisionError("create", "kv", cfg.Bucket, err)
	}
	return kv, nil
}

// ensureObjectStore is ensureStream for an Object Store bucket.
func ensureObjectStore(ctx context.Context, js jetstream.JetStream, cfg jetstream.ObjectStoreConfig, p Provisioning) (jetstream.ObjectStore, error) {
	if p == ProvisionUpdate {
		obs, err := js.CreateOrUpdateObjectStore(ctx, cfg)
		if err != nil {
			return nil, provisionError("create or update", "object store", cfg.Bucket, err)
		}
		return obs, nil
	}
	obs, err := js.ObjectStore(ctx, cfg.Bucket)
	switch {
	case err == nil:
		if p == ProvisionNever {
			return obs, nil
		}
		st, err := obs.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("look up object store %s: %w", cfg.Bucket, err)
		}
		if st.Replicas() == cfg.Replicas && st.Storage() == cfg.Storage && st.IsCompressed() == cfg.Compression &&
			st.Description() == cfg.Description {
			return obs, nil
		}
		if obs, err = js.UpdateObjectStore(ctx, cfg); err != nil {
			return nil, provisionError("update", "object store", cfg.Bucket, err)
		}
		return obs, nil
	case !errors.Is(err, jetstream.ErrBucketNotFound):
		return nil, fmt.Errorf("look up object store %s: %w", cfg.Bucket, err)
	case p == ProvisionNever:
		return nil, fmt.Errorf("object store %s: %w", cfg.Bucket, ErrNotProvisioned)
	}
	obs, err = js.CreateObjectStore(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) || errors.Is(err, jetstream.ErrBucketExists) {
		obs, err = js.ObjectStore(ctx, cfg.Bucket)
	}
	if err != nil {
		return nil, provisionError("create", "object store", cfg.Bucket, err)
	}
	return obs, nil
}

// provisionError explains a create or update that got no answer: a NATS
// user without the right gets none (the server only reports the
// permissions violation asynchronously), so it wraps ErrNotProvisioned too.
func provisionError(verb, kind, name string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
		return fmt.Errorf("%s %s %s: %w (the NATS user may not %s it): %w", verb, kind, name, err, verb, ErrNotProvisioned)
	}
	return fmt.Errorf("%s %s %s: %w", verb, kind, name, err)
}
