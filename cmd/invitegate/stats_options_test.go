package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
)

// TestValidateAppWithStats checks the fx graph of each role with the
// traffic statistics wired in (stats_options.go).
func TestValidateAppWithStats(t *testing.T) {
	t.Parallel()
	logger, err := newLogger(&bytes.Buffer{}, "json", "info")
	require.NoError(t, err)
	in := &ingressOptions{failMode: "open"}
	in.cfg.SdkAppID = "1"
	for name, c := range natsRoles(in) {
		so := newStatsOptions(true, true)
		c.stats = so.enable(c)
		require.NotNil(t, c.stats, name)
		require.NoError(t, fx.ValidateApp(appOptions(c, logger)...), name)
	}
	none := newStatsOptions(true, true)
	require.Nil(t, none.enable(appConfig{ingress: in}), "no NATS, no statistics")
	off := newStatsOptions(true, true)
	off.off = true
	require.Nil(t, off.enable(appConfig{ingress: in, nats: &natsOptions{}}))
}
