package deploy

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// The shipped NATS configurations: compose's users authenticate with
// passwords, Kubernetes's with nkeys. Both include the same permissions file.
const (
	NATSCompose    = "compose"
	NATSKubernetes = "kubernetes"

	composeNATSFile     = "compose/nats.conf"
	k8sNATSFile         = "k8s/base/nats.conf"
	natsPermissionsFile = "k8s/base/nats-permissions.conf"
)

// NATSUser is how one of invitegate's users (ingress, projector,
// policy-admin, migrate) authenticates against a written configuration:
// a password (compose) or the file of an nkey seed (Kubernetes).
type NATSUser struct {
	Name     string
	Password string
	NKeyFile string
}

// URL returns the server URL as this user dials it: with the password in
// it, as compose gives it, or as is (the nkey is a separate file).
func (u NATSUser) URL(serverURL string) string {
	if u.Password == "" {
		return serverURL
	}
	scheme, rest, _ := strings.Cut(serverURL, "://")
	return scheme + "://" + u.Name + ":" + u.Password + "@" + rest
}

// NATSConfig is a shipped NATS configuration written to a directory.
type NATSConfig struct {
	File  string              // nats.conf, for server.ProcessConfigFile
	Users map[string]NATSUser // by user name
}

// WriteNATSConfig writes the shipped NATS configuration of flavor
// (NATSCompose or NATSKubernetes) into dir as the server reads it: nats.conf
// and the permissions file it includes, unchanged but for the secrets and
// names taken from the environment ($NATS_*_PASSWORD, $*_NKEY, $POD_NAME,
// $SYS_PASSWORD), which are replaced by fresh ones. nkey seeds are written
// next to them, one file per user.
func WriteNATSConfig(dir, flavor string) (NATSConfig, error) {
	confFile, permsName := composeNATSFile, "permissions.conf" // as compose mounts it
	if flavor == NATSKubernetes {
		confFile, permsName = k8sNATSFile, "nats-permissions.conf" // as the ConfigMap holds it
	} else if flavor != NATSCompose {
		return NATSConfig{}, fmt.Errorf("nats config flavor %q: want %s or %s", flavor, NATSCompose, NATSKubernetes)
	}
	conf, err := readFile(confFile)
	if err != nil {
		return NATSConfig{}, err
	}
	perms, err := readFile(natsPermissionsFile)
	if err != nil {
		return NATSConfig{}, err
	}
	c := NATSConfig{File: filepath.Join(dir, "nats.conf"), Users: map[string]NATSUser{}}
	text, err := c.templateSecrets(dir, string(conf))
	if err != nil {
		return NATSConfig{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, permsName), perms, 0o600); err != nil {
		return NATSConfig{}, fmt.Errorf("write nats permissions: %w", err)
	}
	if err := os.WriteFile(c.File, []byte(text), 0o600); err != nil {
		return NATSConfig{}, fmt.Errorf("write nats config: %w", err)
	}
	return c, nil
}

var (
	// {user: ingress, password: $NATS_INGRESS_PASSWORD, ...}
	passwordUser = regexp.MustCompile(`user:\s*([a-z-]+),\s*password:\s*\$([A-Z_]+)`)
	// {nkey: $POLICY_ADMIN_NKEY, ...}: the user is policy-admin
	nkeyUser = regexp.MustCompile(`nkey:\s*\$([A-Z_]+)_NKEY`)
	confVar  = regexp.MustCompile(`\$([A-Z][A-Z0-9_]*)`)
)

// templateSecrets replaces every environment variable of the configuration
// text with a fresh value and records how each user authenticates.
func (c *NATSConfig) templateSecrets(dir, text string) (string, error) {
	values := map[string]string{"POD_NAME": "nats-0"}
	for _, m := range passwordUser.FindAllStringSubmatch(text, -1) {
		pw := randomSecret()
		values[m[2]] = pw
		c.Users[m[1]] = NATSUser{Name: m[1], Password: pw}
	}
	for _, m := range nkeyUser.FindAllStringSubmatch(text, -1) {
		name := strings.ToLower(strings.ReplaceAll(m[1], "_", "-"))
		pub, seedFile, err := writeNKey(dir, name)
		if err != nil {
			return "", err
		}
		values[m[1]+"_NKEY"] = pub
		c.Users[name] = NATSUser{Name: name, NKeyFile: seedFile}
	}
	var missing []string
	out := confVar.ReplaceAllStringFunc(text, func(v string) string {
		name := v[1:]
		if strings.HasSuffix(name, "_PERMISSIONS") { // defined by the permissions file
			return v
		}
		val, ok := values[name]
		if !ok {
			if !strings.HasSuffix(name, "_PASSWORD") {
				missing = append(missing, name)
				return v
			}
			val = randomSecret()
		}
		return `"` + val + `"`
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("nats config: no value for %s", strings.Join(missing, ", "))
	}
	return out, nil
}

func writeNKey(dir, user string) (pub, seedFile string, err error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", "", fmt.Errorf("nkey of %s: %w", user, err)
	}
	pub, err = kp.PublicKey()
	if err != nil {
		return "", "", fmt.Errorf("nkey of %s: %w", user, err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return "", "", fmt.Errorf("nkey of %s: %w", user, err)
	}
	seedFile = filepath.Join(dir, user+".nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		return "", "", fmt.Errorf("nkey of %s: %w", user, err)
	}
	return pub, seedFile, nil
}

func randomSecret() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// NATSServerOptions loads the written configuration as nats-server does and
// keeps its accounts, users, permissions and JetStream settings, only moving
// it onto this machine: a random local port, storeDir, no monitoring port,
// no cluster routes, no pid file, no signal handling. It also returns the
// options as loaded, to check what the file says.
func (c NATSConfig) NATSServerOptions(storeDir string) (run, loaded *server.Options, err error) {
	opts, err := server.ProcessConfigFile(c.File)
	if err != nil {
		return nil, nil, fmt.Errorf("load nats config: %w", err)
	}
	l := *opts
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", -1, 0
	opts.Cluster, opts.Routes = server.ClusterOpts{}, nil
	opts.StoreDir, opts.PidFile = storeDir, ""
	opts.NoSigs = true
	return opts, &l, nil
}
