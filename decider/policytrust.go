package decider

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// A signed policy event carries two NATS headers beside its JSON body:
// the id of the key that signed it and the base64 Ed25519 signature of
// EventSigningInput. The body is stored and verified byte for byte.
const (
	HeaderPolicyKey       = "Invitegate-Policy-Key"
	HeaderPolicySignature = "Invitegate-Policy-Signature"
)

// Reasons of a ChangeError about who published the event.
const (
	RejectUnsigned     = "unsigned"      // trust is configured and the event has no signature
	RejectBadSignature = "bad_signature" // the signature does not verify (body, subject or app changed)
	RejectUntrustedKey = "untrusted_key" // signed by a key not trusted for this app (or revoked for this revision)
	RejectRepublished  = "republished"   // copied into the log by another stream (a Nats-Stream header)
)

// EventSigningInput returns the bytes a policy event's signature covers:
//
//	invitegate-policy-event/v1 LF <app> LF <subject> LF <sha256 of body, lower-case hex>
//
// app is the subject's app token (the SDKAppID), subject the full subject
// (invitegate.policy.<app>.<kind>), body the message exactly as published
// (hashed first, so a 900 KiB list event costs one SHA-256 pass, not a
// copy and a SHA-512 pass). The same body signed for another app or kind
// does not verify.
func EventSigningInput(app, subject string, body []byte) []byte {
	sum := sha256.Sum256(body)
	b := make([]byte, 0, 96+len(app)+len(subject))
	b = append(b, "invitegate-policy-event/v1\n"...)
	b = append(b, subjectToken(app)...)
	b = append(b, '\n')
	b = append(b, subject...)
	b = append(b, '\n')
	return hex.AppendEncode(b, sum[:])
}

// SignEvent returns the headers' values for body published on subject of app.
func (k *SigningKey) SignEvent(app, subject string, body []byte) (keyID, signature string) {
	return k.id, k.sign(EventSigningInput(app, subject, body))
}

// SnapshotSigningInput returns the bytes a compacted snapshot's signature
// covers: its app, revision, position, the fingerprint of the trust its
// events were checked against, and the SHA-256 (hex) of the object.
func SnapshotSigningInput(app string, revision, position uint64, trust, digest string) []byte {
	return fmt.Appendf(nil, "invitegate-policy-snapshot/v1\n%s\n%d\n%d\n%s\n%s", subjectToken(app), revision, position, trust, digest)
}

// SignSnapshot signs SnapshotSigningInput.
func (k *SigningKey) SignSnapshot(app string, revision, position uint64, trust, digest string) (keyID, signature string) {
	return k.id, k.sign(SnapshotSigningInput(app, revision, position, trust, digest))
}

// TrustedKey is one public key of a Trust.
type TrustedKey struct {
	ID        string // KeyID of Key
	Name      string // the name after the key on its line ("" when none)
	Key       ed25519.PublicKey
	Apps      []string // apps it may change; empty: every app
	Until     uint64   // revoked: only its events up to this revision are valid (0: not revoked)
	Snapshots bool     // trusted for compacted snapshots only, never for events
}

// Author returns what the policy log records as the author of an event
// this key signed: its name and id, or its id.
func (k *TrustedKey) Author() string {
	if k.Name != "" {
		return k.Name + " " + k.ID
	}
	return k.ID
}

func (k *TrustedKey) forApp(app string) bool {
	return len(k.Apps) == 0 || slices.Contains(k.Apps, subjectToken(app))
}

// Trust is the set of public keys allowed to change the policy. The zero
// Trust (no keys) verifies nothing: every event is accepted as before.
// A Trust is immutable and safe for concurrent use.
type Trust struct {
	byID map[string][]TrustedKey
	keys []TrustedKey
}

// ParseTrust reads trusted keys, one per line like OpenSSH's
// authorized_keys, with optional comma-separated options before the key:
//
//	# comments and blank lines are skipped
//	ssh-ed25519 AAAAC3Nza... alice
//	app=1400000000,app=1400000001 ssh-ed25519 AAAAC3Nza... bob
//	until=1234 ssh-ed25519 AAAAC3Nza... carol        (revoked after revision 1234)
//	snapshots ssh-ed25519 AAAAC3Nza... compactor      (signs compacted snapshots only)
//
// PKIX PEM blocks ("-----BEGIN PUBLIC KEY-----") are accepted too, trusted
// for events of every app. source names data in errors.
func ParseTrust(data []byte, source string) (*Trust, error) {
	t := &Trust{}
	blocks, rest := splitPEM(data)
	for i, block := range blocks {
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("%s: PEM block %d is a %q, want a PUBLIC KEY", source, i+1, block.Type)
		}
		pub, err := parsePEMPublicKey(block)
		if err != nil {
			return nil, fmt.Errorf("%s: PEM block %d: %w", source, i+1, err)
		}
		t.add(TrustedKey{ID: KeyID(pub), Key: pub})
	}
	sc := bufio.NewScanner(bytes.NewReader(rest))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		k, err := parseTrustLine(text)
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", source, line, err)
		}
		t.add(k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return t, nil
}

func parseTrustLine(line string) (TrustedKey, error) {
	options, b64, name, err := keyFields(line)
	if err != nil {
		return TrustedKey{}, err
	}
	pub, err := parseSSHKey(b64)
	if err != nil {
		return TrustedKey{}, err
	}
	k := TrustedKey{ID: KeyID(pub), Name: name, Key: pub}
	for opt := range strings.SplitSeq(options, ",") {
		key, value, _ := strings.Cut(opt, "=")
		switch {
		case opt == "":
		case key == "app" && value != "":
			k.Apps = append(k.Apps, subjectToken(value))
		case key == "until":
			if k.Until, err = strconv.ParseUint(value, 10, 64); err != nil || k.Until == 0 {
				return TrustedKey{}, fmt.Errorf("option %q: want until=REVISION (a positive integer)", opt)
			}
		case opt == "snapshots":
			k.Snapshots = true
		default:
			return TrustedKey{}, fmt.Errorf("unknown option %q (want app=ID, until=REVISION or snapshots)", opt)
		}
	}
	return k, nil
}

func (t *Trust) add(k TrustedKey) {
	if t.byID == nil {
		t.byID = map[string][]TrustedKey{}
	}
	t.byID[k.ID] = append(t.byID[k.ID], k)
	t.keys = append(t.keys, k)
}

// Merge returns the keys of t and others together.
func (t *Trust) Merge(others ...*Trust) *Trust {
	out := &Trust{}
	for _, src := range append([]*Trust{t}, others...) {
		if src == nil {
			continue
		}
		for _, k := range src.keys {
			out.add(k)
		}
	}
	return out
}

// Enabled reports whether t holds any key: then only signed events apply.
func (t *Trust) Enabled() bool { return t != nil && len(t.keys) > 0 }

// Keys returns the trusted keys in the order they were read.
func (t *Trust) Keys() []TrustedKey {
	if t == nil {
		return nil
	}
	return slices.Clone(t.keys)
}

// Fingerprint identifies the keys trusted for app's events (snapshot keys
// excepted): "" when t is not enabled. A snapshot folded under another
// fingerprint is not loaded, since it may hold events this trust rejects.
func (t *Trust) Fingerprint(app string) string {
	if !t.Enabled() {
		return ""
	}
	var lines []string
	for _, k := range t.keys {
		if !k.Snapshots && k.forApp(app) {
			lines = append(lines, fmt.Sprintf("%s until=%d", k.ID, k.Until))
		}
	}
	slices.Sort(lines)
	sum := sha256.Sum256([]byte(strings.Join(slices.Compact(lines), "\n")))
	return hex.EncodeToString(sum[:16])
}

// VerifyEvent checks the signature of the event at revision seq of app,
// published on subject with body. With t not enabled it accepts every
// event (author ""). Otherwise it returns the author to record (the key's
// name and id) or a *ChangeError whose Reason is RejectUnsigned,
// RejectBadSignature or RejectUntrustedKey.
func (t *Trust) VerifyEvent(app, subject string, seq uint64, body []byte, keyID, signature string) (string, error) {
	if !t.Enabled() {
		return "", nil
	}
	if keyID == "" && signature == "" {
		return "", &ChangeError{Reason: RejectUnsigned, Err: errors.New("the event is not signed and --policy-trust is set")}
	}
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return "", &ChangeError{Reason: RejectBadSignature, Err: fmt.Errorf("signature of key %s is not %d bytes of base64", shorten(keyID), ed25519.SignatureSize)}
	}
	candidates := t.byID[keyID]
	if len(candidates) == 0 {
		return "", &ChangeError{Reason: RejectUntrustedKey, Err: fmt.Errorf("key %s is not trusted", shorten(keyID))}
	}
	if !ed25519.Verify(candidates[0].Key, EventSigningInput(app, subject, body), sig) {
		return "", &ChangeError{Reason: RejectBadSignature, Err: fmt.Errorf("signature of key %s does not verify for subject %s", keyID, subject)}
	}
	var why error
	for i := range candidates {
		k := &candidates[i]
		switch {
		case k.Snapshots:
			why = fmt.Errorf("key %s is trusted for snapshots only", keyID)
		case !k.forApp(app):
			why = fmt.Errorf("key %s is not trusted for app %s", keyID, app)
		case k.Until != 0 && seq > k.Until:
			why = fmt.Errorf("key %s is revoked after revision %d", keyID, k.Until)
		default:
			return k.Author(), nil
		}
	}
	return "", &ChangeError{Reason: RejectUntrustedKey, Err: why}
}

// VerifySnapshot checks the signature of app's compacted snapshot: a key
// trusted for snapshots of app must have signed SnapshotSigningInput.
func (t *Trust) VerifySnapshot(app string, revision, position uint64, trust, digest, keyID, signature string) error {
	if keyID == "" || signature == "" {
		return errors.New("the compacted snapshot is not signed (give the compactor --policy-snapshot-key)")
	}
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return errors.New("the compacted snapshot's signature is not valid base64 of the right size")
	}
	msg := SnapshotSigningInput(app, revision, position, trust, digest)
	for _, k := range t.byID[keyID] {
		if k.Snapshots && k.forApp(app) && ed25519.Verify(k.Key, msg, sig) {
			return nil
		}
	}
	return fmt.Errorf("the compacted snapshot is not signed by a key trusted for snapshots (key %s)", shorten(keyID))
}
