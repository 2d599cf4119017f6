package ingress

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	cfg := Config{SdkAppID: testApp}.withDefaults()
	require.NoError(t, cfg.validate())
	require.Equal(t, Config{
		HTTPAddr: "127.0.0.1:8080", AdminAddr: "127.0.0.1:9090", CallbackPath: "/callback", SdkAppID: testApp,
		MaxClockSkew: 60 * time.Second, MaxBodyBytes: 1 << 20, MaxMembers: 1000, MaxConnections: 1024,
		ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second,
		IdleTimeout: 30 * time.Second, MaxHeaderBytes: 64 << 10, ShutdownTimeout: 5 * time.Second,
	}, cfg)
	// Set fields are kept.
	cfg = Config{SdkAppID: testApp, MaxBodyBytes: 10, CallbackPath: "/im"}.withDefaults()
	require.EqualValues(t, 10, cfg.MaxBodyBytes)
	require.Equal(t, "/im", cfg.CallbackPath)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"missing SdkAppID", Config{}, "SdkAppID is required"},
		{"bad HTTPAddr", Config{SdkAppID: "1", HTTPAddr: "8080"}, `HTTPAddr "8080" is not host:port`},
		{"bad AdminAddr", Config{SdkAppID: "1", AdminAddr: "localhost"}, `AdminAddr "localhost" is not host:port`},
		{"same addresses", Config{SdkAppID: "1", HTTPAddr: "127.0.0.1:1", AdminAddr: "127.0.0.1:1"}, `HTTPAddr and AdminAddr are both "127.0.0.1:1"`},
		{"relative path", Config{SdkAppID: "1", CallbackPath: "callback"}, `CallbackPath "callback" must start with /`},
		{"path with query", Config{SdkAppID: "1", CallbackPath: "/cb?x=1"}, `CallbackPath "/cb?x=1" must start with /`},
		{"negative skew", Config{SdkAppID: "1", MaxClockSkew: -time.Second}, "MaxClockSkew must be positive, got -1s"},
		{"negative timeout", Config{SdkAppID: "1", IdleTimeout: -1}, "IdleTimeout must be positive, got -1ns"},
		{"negative body limit", Config{SdkAppID: "1", MaxBodyBytes: -1}, "MaxBodyBytes must be positive, got -1"},
		{"negative header limit", Config{SdkAppID: "1", MaxHeaderBytes: -1}, "MaxHeaderBytes must be positive, got -1"},
		{"member cap above costing", Config{SdkAppID: "1", MaxMembers: 1001}, "MaxMembers must be in 1..1000 (rules are costed at 1000 members), got 1001"},
		{"negative member cap", Config{SdkAppID: "1", MaxMembers: -1}, "MaxMembers must be in 1..1000"},
		{"negative connection cap", Config{SdkAppID: "1", MaxConnections: -1}, "MaxConnections must be positive, got -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.withDefaults().validate()
			require.ErrorContains(t, err, "ingress config: ")
			require.ErrorContains(t, err, tt.want)
			_, err = NewHandler(tt.cfg, Deps{})
			require.ErrorContains(t, err, tt.want)
		})
	}
	// Every problem is reported at once.
	err := Config{HTTPAddr: "x", MaxBodyBytes: -1}.withDefaults().validate()
	require.ErrorContains(t, err, "SdkAppID is required")
	require.ErrorContains(t, err, `HTTPAddr "x" is not host:port`)
	require.ErrorContains(t, err, "MaxBodyBytes must be positive")
}

func TestNewHandlerDeps(t *testing.T) {
	t.Parallel()
	_, err := NewHandler(Config{SdkAppID: "1"}, Deps{})
	require.EqualError(t, err, "ingress handler: Engine and Registry are required")
	b := setup(t)
	_, err = NewHandler(b.cfg, Deps{Engine: b.engine, Registry: b.reg})
	require.ErrorContains(t, err, "register ingress metrics (one Handler per registry)")
	_, err = NewServer(b.cfg, nil)
	require.EqualError(t, err, "ingress server: nil Handler")
}
