package ingress

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/invitegate/invitegate/decider"
)

// fxDeps stands in for what cmd provides around the module.
func fxDeps(t *testing.T, withSink bool) fx.Option {
	engine := decider.NewEngine(decider.FailOpen, nil)
	loadPolicy(t, engine, testPolicy, 3)
	opts := []fx.Option{
		fx.Supply(Config{SdkAppID: testApp, HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0"}),
		fx.Supply(engine, prometheus.NewRegistry(), slog.New(slog.DiscardHandler)),
		fx.NopLogger,
	}
	if withSink {
		opts = append(opts, fx.Provide(func() EventSink { return &sinkFake{} }))
	}
	return fx.Options(opts...)
}

func TestModuleValidates(t *testing.T) {
	t.Parallel()
	for _, withSink := range []bool{false, true} {
		require.NoError(t, fx.ValidateApp(fxDeps(t, withSink), Module, fx.Invoke(func(*Server) {})))
	}
}

func TestModuleStartsAndStops(t *testing.T) {
	t.Parallel()
	var srv *Server
	var sink EventSink
	app := fxtest.New(t, fxDeps(t, true), Module, fx.Populate(&srv, &sink))
	app.RequireStart()
	resp, err := http.Post(callbackURL(srv), "", strings.NewReader(seedSample))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, okAnswer, string(body))
	app.RequireStop()
	require.Len(t, sink.(*sinkFake).all(), 1, "the optional sink is used when provided")
	_, err = http.Post(callbackURL(srv), "", strings.NewReader(seedSample))
	require.Error(t, err, "stopped")
}
