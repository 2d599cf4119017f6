package loadgen

import (
	"net/url"
	"strconv"
	"unicode/utf8"

	"github.com/invitegate/invitegate/ingress"
)

// requestURL is base plus the query parameters IM appends, in IM's order.
// Sign and RequestTime come only with a token.
func requestURL(base string, cfg *Config, d *draw, unixSec int64) string {
	b := make([]byte, 0, len(base)+192)
	b = append(b, base...)
	b = append(b, "?SdkAppid="...)
	b = append(b, url.QueryEscape(cfg.SdkAppID)...)
	b = append(b, "&CallbackCommand="...)
	b = append(b, d.command...)
	b = append(b, "&contenttype=json&ClientIP="...)
	b = append(b, d.clientIP...)
	b = append(b, "&OptPlatform="...)
	b = append(b, url.QueryEscape(d.platform)...)
	if cfg.Token != "" {
		b = append(b, "&Sign="...)
		b = append(b, ingress.Sign(cfg.Token, strconv.FormatInt(unixSec, 10))...)
		b = append(b, "&RequestTime="...)
		b = strconv.AppendInt(b, unixSec, 10)
	}
	return string(b)
}

// body is the callback's JSON, shaped like IM's samples (EventTime, in
// milliseconds, as a string).
func body(d *draw, eventTimeMs int64) []byte {
	b := make([]byte, 0, 256+40*len(d.members))
	b = append(b, `{"CallbackCommand":`...)
	b = appendString(b, d.command)
	b = append(b, `,"GroupId":`...)
	b = appendString(b, d.groupID)
	b = append(b, `,"Type":`...)
	b = appendString(b, d.groupType)
	list := "DestinationMembers"
	switch d.command {
	case CommandAfterNewMemberJoin:
		b = append(b, `,"JoinType":`...)
		b = appendString(b, d.changeType)
		list = "NewMemberList"
	case CommandAfterMemberExit:
		b = append(b, `,"ExitType":`...)
		b = appendString(b, d.changeType)
		list = "ExitMemberList"
	}
	b = append(b, `,"Operator_Account":`...)
	b = appendString(b, d.operator)
	b = append(b, `,"`...)
	b = append(b, list...)
	b = append(b, `":[`...)
	for i, m := range d.members {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"Member_Account":`...)
		b = appendString(b, m)
		b = append(b, '}')
	}
	b = append(b, `],"EventTime":"`...)
	b = strconv.AppendInt(b, eventTimeMs, 10)
	return append(b, `"}`...)
}

// appendString appends s as a JSON string. Generated ids are plain ASCII;
// this still escapes whatever a RunID or platform might carry.
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
		i++
	}
	return append(b, '"')
}
