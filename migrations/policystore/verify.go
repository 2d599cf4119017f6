package policystore

import (
	"errors"
	"fmt"

	"github.com/invitegate/invitegate/decider"
)

// Verify checks who put rec into the log: a message copied in by another
// stream's RePublish (it carries a Nats-Stream header) is refused, and with
// trust enabled the signature must verify with a key trusted for the app.
// It returns the author to record ("" without trust) or a
// *decider.ChangeError.
func (r Record) Verify(trust *decider.Trust) (string, error) {
	if r.Republished != "" {
		return "", &decider.ChangeError{Reason: decider.RejectRepublished,
			Err: fmt.Errorf("republished from stream %q into the policy log", r.Republished)}
	}
	return trust.VerifyEvent(r.App, r.Subject, r.Seq, r.Data, r.KeyID, r.Signature)
}

// ApplyRecord verifies rec (Verify) and applies it to fold: what every
// reader of the log that folds it calls. It returns the change when the
// data parses, with Author replaced by the signing key's identity when
// trust is enabled, and a *decider.ChangeError when the event is not
// applied; the fold's position advances either way (decider.ErrOutOfOrder
// for an event it already covers).
func ApplyRecord(fold *decider.Fold, trust *decider.Trust, rec Record) (*decider.Change, error) {
	author, err := rec.Verify(trust)
	if err != nil {
		if serr := fold.Skip(rec.Seq); serr != nil {
			return nil, serr
		}
		c, _ := decider.ParseChange(rec.Data) // for the log line and the audit, when it parses
		return c, err
	}
	c, err := fold.ApplyEvent(rec.Kind, rec.Data, rec.Seq)
	if c != nil && trust.Enabled() {
		c.Author = author
	}
	if errors.Is(err, decider.ErrOutOfOrder) {
		return nil, err
	}
	return c, err
}
