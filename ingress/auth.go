package ingress

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
)

// Sign returns IM's callback signature for a token and a RequestTime:
// lowercase hex(SHA-256(token + requestTime)). It is not an HMAC, and covers
// neither the body nor the URL.
func Sign(token, requestTime string) string {
	sum := sha256.Sum256([]byte(token + requestTime))
	return hex.EncodeToString(sum[:])
}

// authenticate checks Sign and RequestTime against token at now. It returns
// nil or an error answered 401.
func authenticate(token string, maxSkew time.Duration, q *query, now time.Time) *callbackError {
	if q.seen&seenSign == 0 || q.sign == "" {
		return newCallbackError(401, reasonMissingSign, "missing Sign query parameter")
	}
	if q.seen&seenRequestTime == 0 || q.requestTime == "" {
		return newCallbackError(401, reasonMissingRequestTime, "missing RequestTime query parameter")
	}
	sec, err := strconv.ParseInt(q.requestTime, 10, 64)
	if err != nil {
		return newCallbackError(401, reasonBadRequestTime, fmt.Sprintf("RequestTime %q is not a Unix time in seconds", q.requestTime))
	}
	skew := now.Sub(time.Unix(sec, 0))
	if skew > maxSkew || skew < -maxSkew {
		return newCallbackError(401, reasonClockSkew, fmt.Sprintf("RequestTime %d is %s from server time, more than the allowed %s", sec, skew.Abs(), maxSkew))
	}
	var got [sha256.Size]byte
	n, err := hex.Decode(got[:], []byte(q.sign)[:min(len(q.sign), 2*sha256.Size)])
	want := sha256.Sum256([]byte(token + q.requestTime))
	if err != nil || n != sha256.Size || len(q.sign) != 2*sha256.Size || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return newCallbackError(401, reasonBadSign, "Sign does not match")
	}
	return nil
}
