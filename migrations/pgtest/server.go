package pgtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
)

// EnvURL is the environment variable naming the test server, as a
// PostgreSQL URL; its database name is replaced by each test's.
const EnvURL = "TEST_DATABASE_URL"

// DefaultURL is the test server when EnvURL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// server returns the test server's URL, from EnvURL or DefaultURL.
func server() *url.URL {
	raw := os.Getenv(EnvURL)
	if raw == "" {
		raw = DefaultURL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		panic(fmt.Sprintf("pgtest: %s=%q is not a postgres://host/... URL", EnvURL, raw))
	}
	return u
}

// URL returns the url of database name on the test server.
func URL(name string) string {
	u := server()
	u.Path = "/" + name
	return u.String()
}

// URLAs returns the url of database name on the test server for user,
// without a password.
func URLAs(user, name string) string {
	u := server()
	u.Path = "/" + name
	u.User = url.User(user)
	return u.String()
}

// Addr returns the test server's host:port, for a proxy put in front of it.
func Addr() string {
	u := server()
	if u.Port() == "" {
		return u.Host + ":5432"
	}
	return u.Host
}

// RandomName returns prefix followed by 12 random hex digits.
func RandomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}
