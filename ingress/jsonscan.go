package ingress

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxNestingDepth is encoding/json's limit on nested arrays and objects;
// the parser rejects deeper input exactly as encoding/json does.
const maxNestingDepth = 10000

// scanner is a validating JSON tokenizer over a string. It accepts exactly
// what encoding/json accepts (RFC 8259, invalid UTF-8 inside strings replaced
// by U+FFFD, nesting up to maxNestingDepth). Strings without escapes or
// invalid UTF-8 are returned as substrings of the input: no allocation.
type scanner struct {
	s          string
	i          int
	maxMembers int    // member cap (parseBodyCapped)
	stack      []byte // skipValue's open containers
}

func (p *scanner) ws() {
	s, i := p.s, p.i
	for i < len(s) && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t') {
		i++
	}
	p.i = i
}

// peek returns the next byte after whitespace, or 0 at the end.
func (p *scanner) peek() byte {
	p.ws()
	if p.i >= len(p.s) {
		return 0
	}
	return p.s[p.i]
}

func (p *scanner) syntaxErr(expected string) error {
	if p.i >= len(p.s) {
		return &bodyError{reason: reasonMalformedJSON, msg: "malformed JSON: unexpected end of body, expected " + expected}
	}
	return &bodyError{reason: reasonMalformedJSON, msg: fmt.Sprintf("malformed JSON: expected %s at byte %d, found %q", expected, p.i, p.s[p.i])}
}

// expect consumes c after whitespace.
func (p *scanner) expect(c byte, what string) error {
	if p.peek() != c {
		return p.syntaxErr(what)
	}
	p.i++
	return nil
}

// str reads a JSON string at p.i (after whitespace) and returns its value.
func (p *scanner) str() (string, error) {
	if p.peek() != '"' {
		return "", p.syntaxErr("string")
	}
	start := p.i
	simple, err := p.scanString()
	if err != nil {
		return "", err
	}
	raw := p.s[start:p.i]
	if simple {
		return raw[1 : len(raw)-1], nil
	}
	return unquote(raw[1 : len(raw)-1]), nil
}

// unquote decodes the content of a string scanString validated, as
// encoding/json does: escapes decoded, \u surrogate pairs joined, lone
// surrogates and invalid UTF-8 replaced by U+FFFD. One allocation, at most
// the size of the content.
func unquote(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			i++
			switch e := s[i]; e {
			case 'u':
				r := rune(hex4(s[i+1:]))
				i += 5
				if utf16.IsSurrogate(r) {
					r2 := utf8.RuneError
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						r2 = rune(hex4(s[i+2:]))
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				b.WriteRune(r)
			default:
				b.WriteByte(escapeValue[e])
				i++
			}
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			i += size
			b.WriteRune(r) // RuneError for an invalid byte, as encoding/json
		}
	}
	return b.String()
}

// escapeValue maps the character after a backslash to its value.
var escapeValue = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// hex4 decodes four hex digits scanEscape validated.
func hex4(s string) uint16 {
	var v uint16
	for _, c := range []byte(s[:4]) {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		v = v<<4 | uint16(c)
	}
	return v
}

// scanString consumes a string starting at the opening quote at p.i.
// simple reports that its content is its value (no escapes, valid UTF-8).
func (p *scanner) scanString() (simple bool, err error) {
	p.i++
	start := p.i
	escaped, high := false, false
	for p.i < len(p.s) {
		// Skip plain bytes with locals: the compiler keeps them in registers.
		s, i := p.s, p.i
		for i < len(s) && plainStringByte[s[i]] {
			i++
		}
		p.i = i
		if i == len(s) {
			break
		}
		c := s[i]
		switch {
		case c == '"':
			p.i++
			return !escaped && (!high || utf8.ValidString(p.s[start:p.i-1])), nil
		case c == '\\':
			escaped = true
			if err := p.scanEscape(); err != nil {
				return false, err
			}
		case c < 0x20:
			return false, &bodyError{reason: reasonMalformedJSON, msg: fmt.Sprintf("malformed JSON: control character %q in string at byte %d", c, p.i)}
		default:
			high = high || c >= utf8.RuneSelf
			p.i++
		}
	}
	return false, p.syntaxErr(`closing '"'`)
}

// scanEscape consumes one escape sequence starting at the backslash at p.i.
func (p *scanner) scanEscape() error {
	p.i++
	if p.i >= len(p.s) {
		return p.syntaxErr("escape sequence")
	}
	switch p.s[p.i] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		p.i++
		return nil
	case 'u':
		p.i++
		for k := 0; k < 4; k++ {
			if p.i >= len(p.s) || !isHex(p.s[p.i]) {
				return p.syntaxErr(`hex digit in \u escape`)
			}
			p.i++
		}
		return nil
	}
	return p.syntaxErr("valid escape character")
}

// plainStringByte marks the bytes a JSON string holds as they are: printable
// ASCII but the quote and the backslash.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// number consumes a JSON number at p.i (after whitespace) and returns its text.
func (p *scanner) number() (string, error) {
	start := p.i
	if p.i < len(p.s) && p.s[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.s) && p.s[p.i] == '0':
		p.i++
	case p.i < len(p.s) && '1' <= p.s[p.i] && p.s[p.i] <= '9':
		p.digits()
	default:
		return "", p.syntaxErr("digit")
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		if p.digits() == 0 {
			return "", p.syntaxErr("digit after decimal point")
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		if p.digits() == 0 {
			return "", p.syntaxErr("digit in exponent")
		}
	}
	return p.s[start:p.i], nil
}

func (p *scanner) digits() int {
	start := p.i
	for p.i < len(p.s) && isDigit(p.s[p.i]) {
		p.i++
	}
	return p.i - start
}

// literal consumes true, false or null at p.i.
func (p *scanner) literal() error {
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(p.s)-p.i >= len(lit) && p.s[p.i:p.i+len(lit)] == lit {
			p.i += len(lit)
			return nil
		}
	}
	return p.syntaxErr("value")
}

// null consumes a null literal if one is next and reports whether it did.
func (p *scanner) null() bool {
	if p.peek() == 'n' && len(p.s)-p.i >= 4 && p.s[p.i:p.i+4] == "null" {
		p.i += 4
		return true
	}
	return false
}

// skipValue consumes any JSON value; depth is the nesting depth of the
// container holding it. It walks nested containers without recursion.
func (p *scanner) skipValue(depth int) error {
	// The open containers ('{' or '['), in a buffer the scanner keeps: one
	// allocation per body at most, however many values are skipped.
	p.stack = p.stack[:0]
	for {
		if err := p.skipScalarOrOpen(depth); err != nil {
			return err
		}
		stack := p.stack
		// After a value or an opening: close containers until one needs
		// another value.
		for len(stack) > 0 {
			top := stack[len(stack)-1]
			c := p.peek()
			if c == ',' {
				p.i++
				if top == '{' {
					if err := p.skipKey(); err != nil {
						return err
					}
				}
				break
			}
			if top == '{' && c == '}' || top == '[' && c == ']' {
				p.i++
				stack = stack[:len(stack)-1]
				p.stack = stack
				continue
			}
			if top == '{' {
				return p.syntaxErr("',' or '}' after object member")
			}
			return p.syntaxErr("',' or ']' after array element")
		}
		if len(stack) == 0 {
			return nil
		}
	}
}

// skipScalarOrOpen consumes a scalar, or opens containers (pushing them)
// until a scalar or an empty container has been consumed.
func (p *scanner) skipScalarOrOpen(depth int) error {
	for {
		switch c := p.peek(); c {
		case '{', '[':
			if depth+len(p.stack)+1 > maxNestingDepth {
				return &bodyError{reason: reasonMalformedJSON, msg: fmt.Sprintf("malformed JSON: nesting deeper than %d at byte %d", maxNestingDepth, p.i)}
			}
			p.i++
			end := byte('}')
			if c == '[' {
				end = ']'
			}
			if p.peek() == end {
				p.i++
				return nil
			}
			p.stack = append(p.stack, c)
			if c == '{' {
				if err := p.skipKey(); err != nil {
					return err
				}
			}
		case '"':
			_, err := p.scanString()
			return err
		case 't', 'f', 'n':
			return p.literal()
		default:
			if c != '-' && !isDigit(c) {
				return p.syntaxErr("value")
			}
			_, err := p.number()
			return err
		}
	}
}

// skipKey consumes an object key and its colon.
func (p *scanner) skipKey() error {
	if p.peek() != '"' {
		return p.syntaxErr("string for object key")
	}
	if _, err := p.scanString(); err != nil {
		return err
	}
	return p.expect(':', "':' after object key")
}
