package loadgen

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	cfg := Config{URL: "http://127.0.0.1:8080/im"}.withDefaults()
	require.NoError(t, cfg.validate())
	require.Equal(t, DefaultSdkAppID, cfg.SdkAppID)
	require.Equal(t, DefaultConcurrency, cfg.Concurrency)
	require.Equal(t, DefaultDuration, cfg.Duration)
	require.Equal(t, 2*time.Second, cfg.Timeout)
	require.Equal(t, DefaultOperators, cfg.Operators)
	require.Equal(t, DefaultZipfS, cfg.OperatorsZipf)
	require.Equal(t, DefaultGroups, cfg.Groups)
	require.Equal(t, DefaultZipfS, cfg.GroupsZipf)
	require.Equal(t, DefaultUsers, cfg.Users)
	require.Equal(t, DefaultMaxMembers, cfg.MaxMembers)
	require.Equal(t, DefaultBannedIDs, cfg.BannedIDs)
	require.Equal(t, DefaultPlatforms, cfg.Platforms)
	require.Equal(t, time.Second, cfg.ProgressEvery)
	require.NotNil(t, cfg.Now)
	require.Zero(t, cfg.BannedShare)
	require.Zero(t, cfg.MembershipShare)

	withRequests := Config{URL: "http://x", Requests: 10}.withDefaults()
	require.Zero(t, withRequests.Duration, "Requests alone bounds the run")
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no url", func(c *Config) { c.URL = "" }, "url is required"},
		{"bad url", func(c *Config) { c.URL = "http://[::1" }, "url: parse"},
		{"scheme", func(c *Config) { c.URL = "ftp://host/x" }, "scheme must be http or https"},
		{"no host", func(c *Config) { c.URL = "http:///x" }, "has no host"},
		{"query", func(c *Config) { c.URL = "http://h/x?SdkAppid=1" }, "must have no query"},
		{"empty query", func(c *Config) { c.URL = "http://h/x?" }, "must have no query"},
		{"bad second target", func(c *Config) { c.URL = "http://h/x,ftp://h/y" }, "scheme must be http or https"},
		{"empty target", func(c *Config) { c.URL = "http://h/x," }, "url is required"},
		{"rate", func(c *Config) { c.Rate = -1 }, "rate -1 must be >= 0"},
		{"concurrency", func(c *Config) { c.Concurrency = -2 }, "concurrency -2 must be >= 1"},
		{"duration", func(c *Config) { c.Duration = -time.Second }, "duration -1s must be >= 0"},
		{"requests", func(c *Config) { c.Requests = -1 }, "requests -1 must be >= 0"},
		{"timeout", func(c *Config) { c.Timeout = -time.Second }, "timeout -1s"},
		{"operators", func(c *Config) { c.Operators = -1 }, "operators -1 must be >= 1"},
		{"operators zipf", func(c *Config) { c.OperatorsZipf = -0.5 }, "operators zipf exponent -0.5 must be > 0"},
		{"groups", func(c *Config) { c.Groups = -1 }, "groups -1 must be >= 1"},
		{"groups zipf", func(c *Config) { c.GroupsZipf = -1 }, "groups zipf exponent -1 must be > 0"},
		{"users", func(c *Config) { c.Users = -1 }, "users -1 must be >= 1"},
		{"max members", func(c *Config) { c.MaxMembers = -1 }, "max members -1 must be >= 1"},
		{"max members over population", func(c *Config) { c.Users, c.BannedIDs, c.MaxMembers = 3, 2, 6 }, "max members 6 exceeds users+banned ids 5"},
		{"banned share", func(c *Config) { c.BannedShare = 1.5 }, "banned share 1.5 must be in [0, 1]"},
		{"banned ids", func(c *Config) { c.BannedIDs = -1 }, "banned ids -1 must be >= 1"},
		{"membership share", func(c *Config) { c.MembershipShare = -0.1 }, "membership share -0.1 must be in [0, 1]"},
		{"progress", func(c *Config) { c.ProgressEvery = -time.Second }, "progress interval -1s"},
		{"run id too long", func(c *Config) { c.RunID = "abcdefghijklmnopq" }, `run id "abcdefghijklmnopq"`},
		{"run id charset", func(c *Config) { c.RunID = "a.b" }, `run id "a.b"`},
		{"platform", func(c *Config) { c.Platforms = []string{"iOS", ""} }, "platform 1 is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{URL: "http://127.0.0.1:8080/im"}
			tt.mutate(&cfg)
			err := cfg.withDefaults().validate()
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.ErrorContains(t, err, tt.want)
		})
	}
}
