package faults

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Commands the fuzzer puts in the query string.
const (
	commandInvite = "Group.CallbackBeforeInviteJoinGroup"
	commandJoin   = "Group.CallbackAfterNewMemberJoin"
	commandExit   = "Group.CallbackAfterMemberExit"
)

// FuzzCase is one hostile callback: its query parameters and body.
type FuzzCase struct {
	App     string // SdkAppid sent; may differ from the service's
	Command string // CallbackCommand sent; "" means the parameter is left out
	Body    []byte
}

// Fuzzer draws FuzzCases deterministically from a seed: mostly mutated
// invite bodies, some membership and unknown commands, some wrong apps.
// It is not safe for concurrent use.
type Fuzzer struct {
	rng *rand.Rand
	app string
}

// NewFuzzer returns a Fuzzer for the service's app id.
func NewFuzzer(app string, seed uint64) *Fuzzer {
	return &Fuzzer{rng: rand.New(rand.NewPCG(seed, 0xfa417)), app: app}
}

// Next draws one case.
func (f *Fuzzer) Next() FuzzCase {
	c := FuzzCase{App: f.app, Command: commandInvite}
	switch p := f.rng.IntN(100); {
	case p < 5:
		c.Command = commandJoin
	case p < 10:
		c.Command = commandExit
	case p < 12:
		c.Command = "Group.CallbackSomethingNew" + strconv.Itoa(f.rng.IntN(10))
	case p < 13:
		c.Command = ""
	case p < 14:
		c.App = strconv.Itoa(f.rng.IntN(1 << 30))
	}
	c.Body = f.body(c.Command)
	return c
}

// body picks one way of making a body. Many-member bodies are rare: each
// valid one becomes an event of hundreds of rows downstream.
func (f *Fuzzer) body(command string) []byte {
	valid := f.valid(command)
	switch p := f.rng.IntN(100); {
	case p < 8:
		return valid
	case p < 20:
		return f.flip(valid)
	case p < 30:
		return valid[:f.rng.IntN(len(valid)+1)]
	case p < 40:
		return f.insert(valid)
	case p < 48:
		return f.splice(valid, f.valid(command))
	case p < 60:
		return f.wrongType(command)
	case p < 68:
		return f.deep()
	case p < 76:
		return f.random()
	case p < 84:
		return []byte(oddDocuments[f.rng.IntN(len(oddDocuments))])
	case p < 92:
		return f.oddStrings(command)
	case p < 93:
		return f.manyMembers(command)
	default:
		return f.flip(f.insert(valid))
	}
}

// membersKey is the member list's field name for a command.
func membersKey(command string) string {
	switch command {
	case commandJoin:
		return "NewMemberList"
	case commandExit:
		return "ExitMemberList"
	}
	return "DestinationMembers"
}

func (f *Fuzzer) valid(command string) []byte {
	var b strings.Builder
	b.WriteString(`{"CallbackCommand":"` + command + `","GroupId":"@TGS#fuzz` + strconv.Itoa(f.rng.IntN(1000)) +
		`","Type":"Public","Operator_Account":"u` + strconv.Itoa(f.rng.IntN(100)) + `","` + membersKey(command) + `":[`)
	for i := range 1 + f.rng.IntN(4) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"Member_Account":"m` + strconv.Itoa(f.rng.IntN(1000)) + `"}`)
	}
	b.WriteString(`],"EventTime":"` + strconv.FormatInt(1670574414123+f.rng.Int64N(1e9), 10) + `"}`)
	return []byte(b.String())
}

// special bytes are those that matter to a JSON parser.
const special = "{}[]\":,\\ \t\n0123456789-+.eEtrufalsn\x00\x7f\xff\xc3\xa9\xed\xa0\x80"

func (f *Fuzzer) flip(b []byte) []byte {
	b = append([]byte(nil), b...)
	for range 1 + f.rng.IntN(8) {
		if len(b) == 0 {
			break
		}
		i := f.rng.IntN(len(b))
		if f.rng.IntN(2) == 0 {
			b[i] ^= 1 << f.rng.IntN(8)
		} else {
			b[i] = special[f.rng.IntN(len(special))]
		}
	}
	return b
}

func (f *Fuzzer) insert(b []byte) []byte {
	i := f.rng.IntN(len(b) + 1)
	ins := make([]byte, 1+f.rng.IntN(16))
	for j := range ins {
		ins[j] = special[f.rng.IntN(len(special))]
	}
	return append(append(append([]byte(nil), b[:i]...), ins...), b[i:]...)
}

func (f *Fuzzer) splice(a, b []byte) []byte {
	return append(append([]byte(nil), a[:f.rng.IntN(len(a)+1)]...), b[f.rng.IntN(len(b)+1):]...)
}

// logUniform draws from 1..max with a log-uniform law: big cases exist but
// are rare, so a million bodies stay a few minutes of work.
func (f *Fuzzer) logUniform(limit int) int {
	return max(1, min(limit, int(math.Exp(f.rng.Float64()*math.Log(float64(limit))))))
}

func (f *Fuzzer) random() []byte {
	b := make([]byte, f.rng.IntN(512))
	for i := range b {
		b[i] = byte(f.rng.Uint32())
	}
	return b
}

// wrongValues are JSON values of every type, for fields that want another.
var wrongValues = []string{`null`, `true`, `0`, `-1`, `1e400`, `18446744073709551616`, `""`, `"x"`, `[]`, `{}`,
	`[null]`, `[1,2]`, `[{"Member_Account":5}]`, `[{"Member_Account":null}]`, `[{}]`, `{"Member_Account":"a"}`,
	`"\u0000"`, `"\ud800"`, `"1670574414123"`, `1670574414123`, `-0`, `1.5`, `"` + strings.Repeat("9", 40) + `"`}

var fields = []string{"CallbackCommand", "GroupId", "Type", "Operator_Account", "EventTime", "JoinType", "ExitType"}

func (f *Fuzzer) wrongType(command string) []byte {
	field := fields[f.rng.IntN(len(fields))]
	if f.rng.IntN(3) == 0 {
		field = membersKey(command)
	}
	v := wrongValues[f.rng.IntN(len(wrongValues))]
	s := string(f.valid(command))
	// Either a duplicate key (first or last wins?) or the only one.
	if f.rng.IntN(2) == 0 {
		return []byte(`{"` + field + `":` + v + "," + s[1:])
	}
	return []byte(s[:len(s)-1] + `,"` + field + `":` + v + "}")
}

func (f *Fuzzer) deep() []byte {
	n := f.logUniform(100_000)
	open, closing := "[", "]"
	if f.rng.IntN(2) == 0 {
		open, closing = `{"a":`, "}"
	}
	inner := strings.Repeat(open, n) + "1" + strings.Repeat(closing, f.rng.IntN(n+1))
	return []byte(`{"GroupId":"g","Operator_Account":"o","DestinationMembers":[],"Type":` + inner + `}`)
}

// oddDocuments are whole bodies that are valid JSON, or nearly, but no callback.
var oddDocuments = []string{"", " ", "null", "[]", "{}", `""`, "0", "true", "{", "}", `{"":""}`,
	`{"GroupId":}`, `{"GroupId" "g"}`, `{,}`, "\xef\xbb\xbf{}", `{"a":1}garbage`, `{}{}`,
	`{"GroupId":"g","Operator_Account":"o","DestinationMembers":[]}`,
	`{"GroupId":"g","Operator_Account":"o","DestinationMembers":[{"Member_Account":""}]}`}

func (f *Fuzzer) oddStrings(command string) []byte {
	odd := []string{`\u0000`, `\ud800`, `\udfff\ud800`, "\xff\xfe", `\"`, `\\`, "\u2028", `</script>`,
		strings.Repeat("x", f.logUniform(100_000)), `\u00e9\uD83D\uDE00`, "\t", `%00`, `'`}
	s := strings.Replace(string(f.valid(command)), `"u`, `"`+odd[f.rng.IntN(len(odd))]+`u`, 1)
	return []byte(s)
}

func (f *Fuzzer) manyMembers(command string) []byte {
	var b strings.Builder
	b.WriteString(`{"GroupId":"@TGS#many","Operator_Account":"o","` + membersKey(command) + `":[`)
	for i := range f.logUniform(5_000) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"Member_Account":"m` + strconv.Itoa(i%7) + `"}`)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}
