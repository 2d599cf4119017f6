package ingress

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseQuery(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"SdkAppid=1400000001&CallbackCommand=Group.CallbackBeforeInviteJoinGroup&contenttype=json&ClientIP=127.0.0.1&OptPlatform=iOS",
		"SdkAppid=1&SdkAppid=2",                               // first value wins
		"SdkAppid=%31%34&OptPlatform=Web+Mobile",              // unescaping
		"SdkAppid=%zz&SdkAppid=3",                             // invalid escape skipped
		"SdkAppid=1;x=2&SdkAppid=4",                           // semicolons are not separators
		"Sign&RequestTime=&ClientIP=::1",                      // no '=' and empty values
		"&&SdkAppid=5&",                                       // empty pairs
		"Sdk%41ppid=6",                                        // escaped key
		strings.Repeat("a=1&", maxQueryParams) + "SdkAppid=7", // over the limit: empty
	} {
		requireQueryLikeURL(t, raw)
	}
}

func FuzzParseQuery(f *testing.F) {
	f.Add("SdkAppid=1400000001&CallbackCommand=Group.CallbackBeforeInviteJoinGroup&contenttype=json&ClientIP=127.0.0.1&OptPlatform=iOS&Sign=ab&RequestTime=1")
	f.Add("SdkAppid=%zz&SdkAppid=3;&Sign=a+b%20c")
	f.Fuzz(requireQueryLikeURL)
}

// requireQueryLikeURL checks parseQuery against url.URL.Query().Get.
func requireQueryLikeURL(t *testing.T, raw string) {
	u := url.URL{RawQuery: raw}
	want := u.Query()
	got := parseQuery(raw)
	for k, v := range map[string]string{"SdkAppid": got.app, "CallbackCommand": got.command, "ClientIP": got.clientIP,
		"OptPlatform": got.platform, "Sign": got.sign, "RequestTime": got.requestTime} {
		require.Equal(t, want.Get(k), v, "%s in %q", k, raw)
	}
	require.Equal(t, want.Has("SdkAppid"), got.seen&seenApp != 0)
	require.Equal(t, want.Has("Sign"), got.seen&seenSign != 0)
	require.Equal(t, want.Has("RequestTime"), got.seen&seenRequestTime != 0)
}
