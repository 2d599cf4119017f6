package decider

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func mustKey(t *testing.T) *SigningKey {
	t.Helper()
	k, err := GenerateSigningKey()
	require.NoError(t, err)
	return k
}

func TestSigningKeyRoundTrip(t *testing.T) {
	t.Parallel()
	k := mustKey(t)
	pem, err := k.MarshalPEM()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(pem), "-----BEGIN PRIVATE KEY-----\n"))
	back, err := ParseSigningKey(pem)
	require.NoError(t, err)
	require.Equal(t, k.ID(), back.ID())
	require.Regexp(t, `^SHA256:[A-Za-z0-9+/]{43}$`, k.ID())
	_, err = ParseSigningKey([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))
	require.ErrorContains(t, err, "PKCS#8")
}

func TestParseTrust(t *testing.T) {
	t.Parallel()
	a, b := mustKey(t), mustKey(t)
	data := "# admins\n\n" + AuthorizedKey(a.Public(), "alice smith") + "\n" +
		"app=1400000000,app=1400000001,until=9 " + AuthorizedKey(b.Public(), "") + "\n" +
		"snapshots " + AuthorizedKey(b.Public(), "compactor") + "\n"
	tr, err := ParseTrust([]byte(data), "f")
	require.NoError(t, err)
	keys := tr.Keys()
	require.Len(t, keys, 3)
	require.Equal(t, "alice smith", keys[0].Name)
	require.Equal(t, []string{"1400000000", "1400000001"}, keys[1].Apps)
	require.Equal(t, uint64(9), keys[1].Until)
	require.True(t, keys[2].Snapshots)
	require.NotEqual(t, tr.Fingerprint("1400000000"), tr.Fingerprint("1400000002"), "per-app keys change the fingerprint")
	require.Equal(t, "", (*Trust)(nil).Fingerprint("x"))

	for bad, want := range map[string]string{
		"ssh-rsa AAAA x":                                                 `want "[options] ssh-ed25519`,
		"ssh-ed25519 !!!":                                                "ssh-ed25519 key",
		"frob " + AuthorizedKey(a.Public(), ""):                          `unknown option "frob"`,
		"until=0 " + AuthorizedKey(a.Public(), ""):                       "until=REVISION",
		"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n": "want a PUBLIC KEY",
	} {
		_, err := ParseTrust([]byte(bad), "f")
		require.ErrorContains(t, err, want, bad)
		require.ErrorContains(t, err, "f:")
	}
}

func TestVerifyEvent(t *testing.T) {
	t.Parallel()
	alice, bob, comp := mustKey(t), mustKey(t), mustKey(t)
	tr, err := ParseTrust([]byte(AuthorizedKey(alice.Public(), "alice")+"\n"+
		"app=other,until=5 "+AuthorizedKey(bob.Public(), "bob")+"\n"+
		"snapshots "+AuthorizedKey(comp.Public(), "compactor")), "f")
	require.NoError(t, err)
	app := "1400000000"
	subj := PolicySubject(app, ChangeListAdded)
	body := []byte(`{"kind":"list.added","list":"l","ids":["x"]}`)
	reason := func(err error) string {
		var ce *ChangeError
		require.ErrorAs(t, err, &ce)
		return ce.Reason
	}
	id, sig := alice.SignEvent(app, subj, body)
	author, err := tr.VerifyEvent(app, subj, 7, body, id, sig)
	require.NoError(t, err)
	require.Equal(t, "alice "+alice.ID(), author)

	_, err = tr.VerifyEvent(app, subj, 7, body, "", "")
	require.Equal(t, RejectUnsigned, reason(err))
	_, err = tr.VerifyEvent(app, subj, 7, append([]byte(" "), body...), id, sig)
	require.Equal(t, RejectBadSignature, reason(err))
	_, err = tr.VerifyEvent(app, PolicySubject(app, ChangeListRemoved), 7, body, id, sig)
	require.Equal(t, RejectBadSignature, reason(err))
	_, err = tr.VerifyEvent("1400000001", subj, 7, body, id, sig)
	require.Equal(t, RejectBadSignature, reason(err))
	_, err = tr.VerifyEvent(app, subj, 7, body, id, "@@")
	require.Equal(t, RejectBadSignature, reason(err))

	id, sig = comp.SignEvent(app, subj, body)
	_, err = tr.VerifyEvent(app, subj, 7, body, id, sig)
	require.Equal(t, RejectUntrustedKey, reason(err))
	require.ErrorContains(t, err, "snapshots only")
	id, sig = bob.SignEvent(app, subj, body)
	_, err = tr.VerifyEvent(app, subj, 1, body, id, sig)
	require.ErrorContains(t, err, "not trusted for app")
	osubj := PolicySubject("other", ChangeListAdded)
	id, sig = bob.SignEvent("other", osubj, body)
	_, err = tr.VerifyEvent("other", osubj, 5, body, id, sig)
	require.NoError(t, err, "up to its revocation")
	_, err = tr.VerifyEvent("other", osubj, 6, body, id, sig)
	require.ErrorContains(t, err, "revoked after revision 5")

	// Without keys, nothing is checked.
	author, err = (*Trust)(nil).VerifyEvent(app, subj, 1, body, "", "")
	require.NoError(t, err)
	require.Empty(t, author)

	// Snapshots: only a snapshots key.
	id, sig = comp.SignSnapshot(app, 3, 4, "fp", "d")
	require.NoError(t, tr.VerifySnapshot(app, 3, 4, "fp", "d", id, sig))
	require.Error(t, tr.VerifySnapshot(app, 3, 5, "fp", "d", id, sig))
	id, sig = alice.SignSnapshot(app, 3, 4, "fp", "d")
	require.ErrorContains(t, tr.VerifySnapshot(app, 3, 4, "fp", "d", id, sig), "not signed by a key trusted for snapshots")
}
