package faults

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nkeys"
)

// ShippedUsers are the NATS users of the shipped configuration, by the
// environment variable nats.conf reads each one's public nkey from.
var ShippedUsers = map[string]string{
	"ingress":      "INGRESS_NKEY",
	"projector":    "PROJECTOR_NKEY",
	"policy-admin": "POLICY_ADMIN_NKEY",
	"migrate":      "MIGRATE_NKEY",
}

// NATSClusterConfig configures a NATS cluster started from the shipped
// configuration file.
type NATSClusterConfig struct {
	// Binary is the nats-server program (see Build).
	Binary string
	// Dir holds each server's directory (configuration, store, pid file).
	Dir string
	// Conf is the shipped nats.conf; the files it includes are copied from
	// beside it.
	Conf string
	// Size is the number of servers. Default 3.
	Size int
}

// NATSCluster is a cluster of nats-server children on 127.0.0.1, each
// loaded from the shipped configuration with only addresses, paths and
// secrets filled in: random client, route and monitoring ports, a store
// per server, a fresh nkey per shipped user and a system password.
type NATSCluster struct {
	Nodes []*NATSServer
	// Names are the servers' names (server_name: nats-0, nats-1, ...).
	Names []string
	// Seeds are the nkey seed files of the ShippedUsers, by user.
	Seeds map[string]string
	// Monitor are the servers' monitoring base URLs (http://127.0.0.1:port).
	Monitor []string
}

// nodePorts are one server's listeners.
type nodePorts struct{ client, route, http int }

// StartNATSCluster writes each server's configuration and starts them all;
// it returns once every server accepts clients (the JetStream meta group
// may still be electing its leader: see WaitJetStream).
func StartNATSCluster(ctx context.Context, cfg NATSClusterConfig) (*NATSCluster, error) {
	cfg.Size = cmp.Or(cfg.Size, 3)
	if cfg.Binary == "" || cfg.Dir == "" || cfg.Conf == "" {
		return nil, errors.New("nats cluster: Binary, Dir and Conf are required")
	}
	src, err := os.ReadFile(cfg.Conf)
	if err != nil {
		return nil, fmt.Errorf("read shipped nats config: %w", err)
	}
	c := &NATSCluster{Seeds: map[string]string{}}
	env, err := c.secrets(cfg.Dir)
	if err != nil {
		return nil, err
	}
	free, err := freePorts(3 * cfg.Size)
	if err != nil {
		return nil, err
	}
	ports := make([]nodePorts, cfg.Size)
	for i := range ports {
		ports[i] = nodePorts{free[3*i], free[3*i+1], free[3*i+2]}
	}
	for i := range cfg.Size {
		name := "nats-" + strconv.Itoa(i)
		dir := filepath.Join(cfg.Dir, name)
		conf, err := TemplateNATSConf(string(src), dir, i, ports)
		if err != nil {
			return nil, err
		}
		if err := writeNodeDir(dir, cfg.Conf, conf); err != nil {
			return nil, err
		}
		c.Names = append(c.Names, name)
		c.Monitor = append(c.Monitor, fmt.Sprintf("http://127.0.0.1:%d", ports[i].http))
		c.Nodes = append(c.Nodes, &NATSServer{port: ports[i].client, cfg: NATSConfig{
			Binary: cfg.Binary, Dir: dir, Conf: filepath.Join(dir, "nats.conf"), Port: ports[i].client,
			Env: append([]string{"POD_NAME=" + name}, env...), Name: name,
		}})
	}
	// Start them together: a server with JetStream waits for its routes.
	errs := make(chan error, cfg.Size)
	for _, n := range c.Nodes {
		go func() { errs <- n.Start(ctx) }()
	}
	for range c.Nodes {
		err = errors.Join(err, <-errs)
	}
	if err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// secrets makes an nkey per shipped user (seed files under dir) and the
// system account's password, and returns the environment nats.conf reads.
func (c *NATSCluster) secrets(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("nats cluster dir: %w", err)
	}
	var env []string
	for user, variable := range ShippedUsers {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return nil, fmt.Errorf("nkey for %s: %w", user, err)
		}
		pub, _ := kp.PublicKey()
		seed, _ := kp.Seed()
		path := filepath.Join(dir, user+".nk")
		if err := os.WriteFile(path, seed, 0o600); err != nil {
			return nil, fmt.Errorf("nkey seed file: %w", err)
		}
		c.Seeds[user] = path
		env = append(env, variable+"="+pub)
	}
	return append(env, "SYS_PASSWORD=sys-"+strconv.FormatInt(time.Now().UnixNano(), 36)), nil
}

// writeNodeDir writes conf as dir/nats.conf with copies of the files the
// shipped configuration includes (found beside shipped).
func writeNodeDir(dir, shipped, conf string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("nats node dir: %w", err)
	}
	for _, m := range includeLine.FindAllStringSubmatch(conf, -1) {
		data, err := os.ReadFile(filepath.Join(filepath.Dir(shipped), m[1]))
		if err != nil {
			return fmt.Errorf("included nats config: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(m[1])), data, 0o600); err != nil {
			return fmt.Errorf("included nats config: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "nats.conf"), []byte(conf), 0o600); err != nil {
		return fmt.Errorf("nats config: %w", err)
	}
	return nil
}

var (
	includeLine = regexp.MustCompile(`(?m)^\s*include\s+"?([^"\s]+)"?`)
	routeURL    = regexp.MustCompile(`nats://nats-(\d+)\.[\w.-]+:\d+`)
)

// confSub replaces the setting re matches with with.
type confSub struct {
	re   *regexp.Regexp
	with string
}

// TemplateNATSConf fills the shipped configuration src in for server self
// of a cluster on 127.0.0.1 with the given ports and its files under dir:
// the client, monitoring and route listen addresses, the routes (nats-N's
// URL becomes node N's route port), the pid file and the store; timings
// (lame duck duration: nats-server refuses less than 30 s) are kept. Every
// setting must be found, so a change to the shipped file breaks loudly.
func TemplateNATSConf(src, dir string, self int, ports []nodePorts) (string, error) {
	p := ports[self]
	subs := []confSub{
		{regexp.MustCompile(`(?m)^listen:[ \t]*\S+`), fmt.Sprintf("listen: 127.0.0.1:%d", p.client)},
		{regexp.MustCompile(`(?m)^http:[ \t]*\S+`), fmt.Sprintf("http: 127.0.0.1:%d", p.http)},
		{regexp.MustCompile(`(?m)^pid_file:[ \t]*\S+`), fmt.Sprintf("pid_file: %q", filepath.Join(dir, "nats.pid"))},
		{regexp.MustCompile(`(?m)^([ \t]+)store_dir:[ \t]*\S+`), fmt.Sprintf("${1}store_dir: %q", filepath.Join(dir, "jetstream"))},
		{regexp.MustCompile(`(?m)^([ \t]+)listen:[ \t]*\S+`), fmt.Sprintf("${1}listen: 127.0.0.1:%d", p.route)},
	}
	for _, s := range subs {
		if !s.re.MatchString(src) {
			return "", fmt.Errorf("shipped nats config: no line matches %s", s.re)
		}
		src = s.re.ReplaceAllString(src, s.with)
	}
	var bad error
	routes := 0
	src = routeURL.ReplaceAllStringFunc(src, func(u string) string {
		n, _ := strconv.Atoi(routeURL.FindStringSubmatch(u)[1])
		if n >= len(ports) {
			bad = fmt.Errorf("shipped nats config: route %s names a server beyond the %d started", u, len(ports))
			return u
		}
		routes++
		return fmt.Sprintf("nats://127.0.0.1:%d", ports[n].route)
	})
	if bad != nil {
		return "", bad
	}
	if routes != len(ports) {
		return "", fmt.Errorf("shipped nats config: %d routes for %d servers", routes, len(ports))
	}
	return src, nil
}

// freePorts asks the kernel for n free ports on 127.0.0.1 (all held open
// together, so they differ). Servers need them known in advance: each
// server's routes name the others' ports.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// URLs is the comma-separated list of the servers' client URLs.
func (c *NATSCluster) URLs() string {
	urls := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		urls[i] = n.URL()
	}
	return strings.Join(urls, ",")
}

// Node returns the server named name (nats-N) and its index.
func (c *NATSCluster) Node(name string) (*NATSServer, int, error) {
	for i, n := range c.Names {
		if n == name {
			return c.Nodes[i], i, nil
		}
	}
	return nil, -1, fmt.Errorf("nats cluster: no server named %q", name)
}

// StreamLeader asks the servers' monitoring endpoints (/jsz) in turn which
// server leads stream, and returns its index. Each question is bounded by
// two seconds, so a frozen server is skipped; it fails while no answering
// server knows a leader.
func (c *NATSCluster) StreamLeader(ctx context.Context, stream string) (int, error) {
	var errs []error
	for i := range c.Nodes {
		leader, err := jszLeader(ctx, c.Monitor[i], stream)
		if err == nil && leader != "" {
			_, n, err := c.Node(leader)
			return n, err
		}
		errs = append(errs, fmt.Errorf("%s: %w", c.Names[i], cmp.Or(err, errors.New("no leader"))))
	}
	return -1, fmt.Errorf("leader of stream %s: %w", stream, errors.Join(errs...))
}

// ServerOf asks the servers' monitoring endpoints (/connz) which one the
// client connection named name (nats.Name, invitegate's --nats-name) is
// connected to, and returns its index.
func (c *NATSCluster) ServerOf(ctx context.Context, name string) (int, error) {
	var errs []error
	for i := range c.Nodes {
		found, err := connzHas(ctx, c.Monitor[i], name)
		if err == nil && found {
			return i, nil
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Names[i], err))
		}
	}
	return -1, fmt.Errorf("server of client %q: not connected: %w", name, errors.Join(errs...))
}

// connzHas reports whether one server has a client connection named name.
func connzHas(ctx context.Context, monitor, name string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, monitor+"/connz?limit=4096", nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var connz struct {
		Connections []struct {
			Name string `json:"name"`
		} `json:"connections"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&connz); err != nil {
		return false, fmt.Errorf("connz: %w", err)
	}
	for _, conn := range connz.Connections {
		if conn.Name == name {
			return true, nil
		}
	}
	return false, nil
}

// jszLeader reads the leader of stream from one server's /jsz.
func jszLeader(ctx context.Context, monitor, stream string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, monitor+"/jsz?accounts=true&streams=true", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var jsz struct {
		AccountDetails []struct {
			Streams []struct {
				Name    string `json:"name"`
				Cluster *struct {
					Leader string `json:"leader"`
				} `json:"cluster"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&jsz); err != nil {
		return "", fmt.Errorf("jsz: %w", err)
	}
	for _, a := range jsz.AccountDetails {
		for _, st := range a.Streams {
			if st.Name == stream && st.Cluster != nil {
				return st.Cluster.Leader, nil
			}
		}
	}
	return "", nil
}

// Stop stops every server (SIGTERM, SIGKILL after 30 s).
func (c *NATSCluster) Stop() {
	for _, n := range c.Nodes {
		if n.Process() != nil {
			_ = n.Stop()
		}
	}
}
