package decider

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Keys of the policy log are Ed25519 keys in standard formats, so that
// openssl and ssh-keygen can make and read them too:
//
//   - a private key is PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"), what
//     `openssl genpkey -algorithm ed25519` writes;
//   - a public key is one OpenSSH line, `ssh-ed25519 AAAA... NAME`, or a
//     PKIX PEM block ("-----BEGIN PUBLIC KEY-----", `openssl pkey -pubout`).
//
// A key's id is its OpenSSH fingerprint, "SHA256:" and the unpadded base64
// of the SHA-256 of its OpenSSH wire form: what `ssh-keygen -lf NAME.pub`
// prints, whatever format the key is written in.

const sshEd25519 = "ssh-ed25519"

// SigningKey is a private Ed25519 key that signs policy events or
// snapshots.
type SigningKey struct {
	priv ed25519.PrivateKey
	id   string
}

// GenerateSigningKey makes a new key.
func GenerateSigningKey() (*SigningKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return newSigningKey(priv), nil
}

func newSigningKey(priv ed25519.PrivateKey) *SigningKey {
	return &SigningKey{priv: priv, id: KeyID(priv.Public().(ed25519.PublicKey))}
}

// ParseSigningKey reads a PKCS#8 PEM Ed25519 private key.
func ParseSigningKey(data []byte) (*SigningKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New(`parse signing key: want a PKCS#8 PEM block ("-----BEGIN PRIVATE KEY-----")`)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse signing key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("parse signing key: a %T, want an Ed25519 key", k)
	}
	return newSigningKey(priv), nil
}

// ID returns the key's id (its OpenSSH SHA256 fingerprint).
func (k *SigningKey) ID() string { return k.id }

// Public returns the public half.
func (k *SigningKey) Public() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }

// MarshalPEM returns the private key as PKCS#8 PEM.
func (k *SigningKey) MarshalPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return nil, fmt.Errorf("encode signing key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// sign signs msg.
func (k *SigningKey) sign(msg []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(k.priv, msg))
}

// AuthorizedKey returns pub as one OpenSSH line, `ssh-ed25519 AAAA... name`.
func AuthorizedKey(pub ed25519.PublicKey, name string) string {
	line := sshEd25519 + " " + base64.StdEncoding.EncodeToString(sshWire(pub))
	if name != "" {
		line += " " + name
	}
	return line
}

// KeyID returns the id of pub: "SHA256:" and the unpadded base64 of the
// SHA-256 of its OpenSSH wire form.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(sshWire(pub))
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// sshWire is the OpenSSH wire form of an Ed25519 public key: two
// length-prefixed strings, the key type and the key.
func sshWire(pub ed25519.PublicKey) []byte {
	b := make([]byte, 0, 4+len(sshEd25519)+4+len(pub))
	b = binary.BigEndian.AppendUint32(b, uint32(len(sshEd25519)))
	b = append(b, sshEd25519...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(pub)))
	return append(b, pub...)
}

// parseSSHKey decodes the base64 field of an ssh-ed25519 line.
func parseSSHKey(b64 string) (ed25519.PublicKey, error) {
	wire, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("ssh-ed25519 key: %w", err)
	}
	typ, rest, ok := sshString(wire)
	if !ok || string(typ) != sshEd25519 {
		return nil, errors.New("ssh-ed25519 key: not an ssh-ed25519 key")
	}
	key, rest, ok := sshString(rest)
	if !ok || len(rest) != 0 || len(key) != ed25519.PublicKeySize {
		return nil, errors.New("ssh-ed25519 key: bad encoding")
	}
	return ed25519.PublicKey(key), nil
}

func sshString(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(len(b)-4) < uint64(n) {
		return nil, nil, false
	}
	return b[4 : 4+n], b[4+n:], true
}

// parsePEMPublicKey decodes a PKIX "PUBLIC KEY" block holding an Ed25519 key.
func parsePEMPublicKey(block *pem.Block) (ed25519.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key: a %T, want an Ed25519 key", k)
	}
	return pub, nil
}

// splitPEM cuts the PEM blocks out of data and returns them with what is
// left (the other lines).
func splitPEM(data []byte) ([]*pem.Block, []byte) {
	var blocks []*pem.Block
	var rest bytes.Buffer
	for {
		i := bytes.Index(data, []byte("-----BEGIN "))
		if i < 0 {
			rest.Write(data)
			return blocks, rest.Bytes()
		}
		rest.Write(data[:i])
		block, after := pem.Decode(data[i:])
		if block == nil {
			rest.Write(data[i:])
			return blocks, rest.Bytes()
		}
		blocks = append(blocks, block)
		data = after
	}
}

// keyFields splits an OpenSSH public key line into options (the field
// before the key type, when there is one), the key and the name.
func keyFields(line string) (options, key, name string, err error) {
	fields := strings.Fields(line)
	for i, f := range fields {
		if f != sshEd25519 {
			continue
		}
		if i > 1 || i+1 >= len(fields) {
			break
		}
		if i == 1 {
			options = fields[0]
		}
		return options, fields[i+1], strings.Join(fields[i+2:], " "), nil
	}
	return "", "", "", errors.New(`want "[options] ssh-ed25519 BASE64 [name]"`)
}
