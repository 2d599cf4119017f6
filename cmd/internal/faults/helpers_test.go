package faults_test

import (
	"errors"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// serve runs srv on 127.0.0.1:0 until the test ends.
func serve(t *testing.T, srv *http.Server) (url, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		require.NoError(t, srv.Close())
		require.True(t, errors.Is(<-done, http.ErrServerClosed))
	})
	return "http://" + ln.Addr().String(), ln.Addr().String()
}
