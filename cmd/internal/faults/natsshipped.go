package faults

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/invitegate/invitegate/deploy"
)

// The lines of the shipped configuration that name this machine's
// addresses and paths: the listen address (-a and -p decide it), the
// monitoring address (a random port) and the JetStream store.
var (
	shippedListen = regexp.MustCompile(`(?m)^listen: .*$`)
	shippedHTTP   = regexp.MustCompile(`(?m)^http: .*$`)
	shippedStore  = regexp.MustCompile(`(?m)^(\s*)store_dir: .*$`)
)

// writeShippedConfig writes the shipped configuration into the server's
// directory (deploy.WriteNATSConfig: fresh secrets) and moves it onto this
// machine: loopback addresses and the server's store directory.
func (s *NATSServer) writeShippedConfig() error {
	if s.cfg.Shipped != deploy.NATSCompose {
		// The Kubernetes file describes a three-server cluster with routes
		// to its pods; its permissions are the same file.
		return fmt.Errorf("nats-server: shipped configuration %q: want %s", s.cfg.Shipped, deploy.NATSCompose)
	}
	if err := os.MkdirAll(s.cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("nats-server dir: %w", err)
	}
	written, err := deploy.WriteNATSConfig(s.cfg.Dir, s.cfg.Shipped)
	if err != nil {
		return fmt.Errorf("nats-server shipped config: %w", err)
	}
	text, err := os.ReadFile(written.File)
	if err != nil {
		return fmt.Errorf("nats-server shipped config: %w", err)
	}
	conf := string(text)
	for _, re := range []*regexp.Regexp{shippedListen, shippedHTTP, shippedStore} {
		if !re.MatchString(conf) {
			return fmt.Errorf("nats-server shipped config: no line matches %s", re)
		}
	}
	conf = shippedListen.ReplaceAllString(conf, "listen: 127.0.0.1:-1")
	conf = shippedHTTP.ReplaceAllString(conf, "http: 127.0.0.1:-1")
	conf = shippedStore.ReplaceAllString(conf, "${1}store_dir: "+quoteConf(s.StoreDir()))
	if err := os.WriteFile(s.confPath(), []byte(conf), 0o600); err != nil {
		return fmt.Errorf("nats-server config: %w", err)
	}
	s.users = written.Users
	return nil
}

// quoteConf quotes a path for the configuration file.
func quoteConf(v string) string { return `"` + strings.ReplaceAll(v, `"`, `\"`) + `"` }

// UserURL is the client URL that connects as the shipped user name (with
// its password), or URL when the server is not the shipped one.
func (s *NATSServer) UserURL(name string) string {
	if s.users == nil {
		return s.URL()
	}
	u, ok := s.users[name]
	if !ok {
		panic("nats-server: no shipped user " + name)
	}
	return u.URL(s.URL())
}

// Violations returns the server's log lines that tell of a permission
// violation by the client connection named conn (nats.Name) on subject:
// `... - "v1.x:go:<conn>" - ... Publish Violation - Subject "<subject>"`.
func (s *NATSServer) Violations(conn, subject string) []string {
	var out []string
	for _, line := range s.AllViolations() {
		if strings.Contains(line, ":"+conn+`" - `) && strings.HasSuffix(line, `Subject "`+subject+`"`) {
			out = append(out, line)
		}
	}
	return out
}

// AllViolations returns every line of the server's log that tells of a
// permission or authorization violation.
func (s *NATSServer) AllViolations() []string {
	var out []string
	for line := range strings.Lines(s.Process().Logs()) {
		if strings.Contains(line, "Violation") {
			out = append(out, strings.TrimRight(line, "\n"))
		}
	}
	return out
}
