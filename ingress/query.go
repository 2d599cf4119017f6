package ingress

import (
	"net/url"
	"strings"
)

// maxQueryParams mirrors net/url's default limit: a query with more
// parameters is treated as empty, as url.URL.Query treats it.
const maxQueryParams = 10000

// query holds the query parameters IM sends. Each is the first valid value
// of its key, exactly as url.URL.Query().Get would return it, but read
// without building a url.Values map.
type query struct {
	app         string // SdkAppid
	command     string // CallbackCommand
	clientIP    string // ClientIP
	platform    string // OptPlatform
	sign        string // Sign
	requestTime string // RequestTime
	seen        uint8  // bit per field already set
}

const (
	seenApp = 1 << iota
	seenCommand
	seenClientIP
	seenPlatform
	seenSign
	seenRequestTime
)

func parseQuery(raw string) query {
	var q query
	if strings.Count(raw, "&")+1 > maxQueryParams {
		return q
	}
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if kv == "" || strings.IndexByte(kv, ';') >= 0 {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		k, ok := unescapeQuery(k)
		if !ok {
			continue
		}
		if v, ok = unescapeQuery(v); ok {
			q.set(k, v)
		}
	}
	return q
}

func (q *query) set(k, v string) {
	var dst *string
	var bit uint8
	switch k {
	case "SdkAppid":
		dst, bit = &q.app, seenApp
	case "CallbackCommand":
		dst, bit = &q.command, seenCommand
	case "ClientIP":
		dst, bit = &q.clientIP, seenClientIP
	case "OptPlatform":
		dst, bit = &q.platform, seenPlatform
	case "Sign":
		dst, bit = &q.sign, seenSign
	case "RequestTime":
		dst, bit = &q.requestTime, seenRequestTime
	default:
		return
	}
	if q.seen&bit == 0 {
		*dst = v
		q.seen |= bit
	}
}

// unescapeQuery is url.QueryUnescape without an allocation when there is
// nothing to unescape.
func unescapeQuery(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, true
	}
	u, err := url.QueryUnescape(s)
	return u, err == nil
}
