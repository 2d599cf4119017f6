package ingress

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// TestSignVector is the test vector of Tencent's console guide.
func TestSignVector(t *testing.T) {
	t.Parallel()
	require.Equal(t, "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061", Sign("xxxxyyyy", "1669872112"))
}

func TestHandlerAuth(t *testing.T) {
	t.Parallel()
	withToken := func(c *Config) { c.CallbackToken = testToken; c.MaxClockSkew = time.Minute }
	vectorNow := time.Unix(1669872112, 0)
	const vectorSign = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"
	tests := []struct {
		name        string
		now         time.Time
		sign, rtime string // "" omits the parameter
		status      int
		info        string
		reason      string
	}{
		{"test vector", vectorNow, vectorSign, "1669872112", 200, "", ""},
		{"uppercase hex", vectorNow, strings.ToUpper(vectorSign), "1669872112", 200, "", ""},
		{"request 60s old", vectorNow.Add(time.Minute), vectorSign, "1669872112", 200, "", ""},
		{"request 60s ahead", vectorNow.Add(-time.Minute), vectorSign, "1669872112", 200, "", ""},
		{"request too old", vectorNow.Add(time.Minute + time.Second), vectorSign, "1669872112", 401,
			"RequestTime 1669872112 is 1m1s from server time, more than the allowed 1m0s", reasonClockSkew},
		{"request too far ahead", vectorNow.Add(-time.Minute - time.Second), vectorSign, "1669872112", 401,
			"RequestTime 1669872112 is 1m1s from server time, more than the allowed 1m0s", reasonClockSkew},
		{"missing Sign", vectorNow, "", "1669872112", 401, "missing Sign query parameter", reasonMissingSign},
		{"missing RequestTime", vectorNow, vectorSign, "", 401, "missing RequestTime query parameter", reasonMissingRequestTime},
		{"RequestTime not a number", vectorNow, vectorSign, "yesterday", 401,
			`RequestTime "yesterday" is not a Unix time in seconds`, reasonBadRequestTime},
		{"wrong Sign", vectorNow, Sign("other-token", "1669872112"), "1669872112", 401, "Sign does not match", reasonBadSign},
		{"Sign of another time", vectorNow, Sign(testToken, "1669872113"), "1669872112", 401, "Sign does not match", reasonBadSign},
		{"Sign too short", vectorNow, vectorSign[:62], "1669872112", 401, "Sign does not match", reasonBadSign},
		{"Sign too long", vectorNow, vectorSign + "00", "1669872112", 401, "Sign does not match", reasonBadSign},
		{"Sign not hex", vectorNow, "zz" + vectorSign[2:], "1669872112", 401, "Sign does not match", reasonBadSign},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, withToken)
			b.now = tt.now
			q := inviteQuery()
			if tt.sign != "" {
				q.Set("Sign", tt.sign)
			}
			if tt.rtime != "" {
				q.Set("RequestTime", tt.rtime)
			}
			w := b.post(q, seedSample)
			if tt.status == http.StatusOK {
				requireAnswer(t, w, http.StatusOK, okAnswer)
				return
			}
			requireFail(t, w, tt.status, tt.info)
			require.Equal(t, 1.0, testutil.ToFloat64(b.h.metrics.errors.WithLabelValues(tt.reason)))
		})
	}
}

func TestHandlerWithoutTokenIgnoresSign(t *testing.T) {
	t.Parallel()
	b := setup(t)
	q := inviteQuery()
	q.Set("Sign", "garbage")
	q.Set("RequestTime", strconv.Itoa(1))
	requireAnswer(t, b.post(q, seedSample), http.StatusOK, okAnswer)
}

// The app check comes before authentication, authentication before the
// command: a stranger learns nothing from the error.
func TestHandlerCheckOrder(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.CallbackToken = testToken })
	q := inviteQuery()
	q.Set("SdkAppid", "1")
	requireFail(t, b.post(q, "x"), 403, `SdkAppid "1" is not this service's app`)
	q = commandQuery("Group.CallbackAfterGroupDestroyed")
	requireFail(t, b.post(q, "x"), 401, "missing Sign query parameter")
}
