package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/invitegate/invitegate/decider"
)

// Signing and trust of the policy log (decider/README.md, "Signed
// changes"): --signing-key on the commands that publish, --policy-trust on
// the commands that read or follow the log.

const (
	signingKeyHelp  = "`FILE`: PKCS#8 PEM Ed25519 private key that signs each published event (make one with 'invitegate policy keygen'); the recorded author is the key's identity"
	policyTrustHelp = "`FILE` of public keys allowed to change the policy (one '[options] ssh-ed25519 AAAA... name' per line, or PEM); repeat or comma-separate for several files. With keys, events without a valid signature of one of them are never applied"
)

// maxKeyFileBytes bounds a key or trust file.
const maxKeyFileBytes = 1 << 20

func readKeyFile(path string) ([]byte, error) { return readBounded(path, maxKeyFileBytes) }

// readBounded reads a file of at most limit bytes.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("read %s: over %d bytes", path, limit)
	}
	return data, nil
}

// loadTrust reads the trust files; none gives nil (no verification), and a
// file list without a single key is an error (trust would silently be off).
func loadTrust(files []string) (*decider.Trust, error) {
	if len(files) == 0 {
		return nil, nil
	}
	var trust *decider.Trust
	for _, path := range files {
		data, err := readKeyFile(path)
		if err != nil {
			return nil, fmt.Errorf("--policy-trust: %w", err)
		}
		t, err := decider.ParseTrust(data, path)
		if err != nil {
			return nil, fmt.Errorf("--policy-trust: %w", err)
		}
		trust = t.Merge(trust)
	}
	if !trust.Enabled() {
		return nil, fmt.Errorf("--policy-trust %v: no public key in the files (trust would be off)", files)
	}
	return trust, nil
}

// loadSigningKey reads a private key; "" gives nil.
func loadSigningKey(path string) (*decider.SigningKey, error) {
	if path == "" {
		return nil, nil
	}
	data, err := readKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	k, err := decider.ParseSigningKey(data)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return k, nil
}

func cmdPolicyKeygen(_ context.Context, e env, args []string) error {
	var out string
	var force bool
	f := newFlags("policy keygen", "invitegate policy keygen --out NAME",
		"Writes a new Ed25519 key pair: NAME.key, the private key (PKCS#8 PEM, mode 0600), which\n"+
			"signs policy changes (--signing-key), and NAME.pub, the public key (one OpenSSH line,\n"+
			"`ssh-ed25519 AAAA... NAME`), which replicas trust (--policy-trust). It prints the key id.", e.getenv)
	f.String(&out, "out", "", "`NAME`: path of the pair without extension (required)")
	f.Bool(&force, "force", false, "overwrite existing files")
	rest, err := parseFlags(f, args, e)
	if err != nil {
		return err
	}
	if out == "" || len(rest) != 0 {
		return usagef("policy keygen: want --out NAME and no arguments")
	}
	key, err := decider.GenerateSigningKey()
	if err != nil {
		return err
	}
	priv, err := key.MarshalPEM()
	if err != nil {
		return err
	}
	name := filepath.Base(out)
	pub := decider.AuthorizedKey(key.Public(), name) + "\n"
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	for _, file := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{out + ".key", priv, 0o600}, {out + ".pub", []byte(pub), 0o644}} {
		if err := writeKeyFile(file.path, file.data, file.mode, flags); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stdout, "wrote %s.key (private: keep it with whoever changes the policy) and %s.pub (public: add it to --policy-trust)\nkey id %s\n",
		out, out, key.ID())
	return nil
}

func writeKeyFile(path string, data []byte, mode os.FileMode, flags int) error {
	f, err := os.OpenFile(path, flags, mode)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists (use --force to overwrite)", path)
	}
	if err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	if err := f.Chmod(mode); err != nil { // whatever the umask or an older file said
		f.Close()
		return fmt.Errorf("write key: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	return nil
}
