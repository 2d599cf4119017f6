package decider

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// StatsSubject is the core NATS subject the aggregator publishes stats
// updates on and every ingress subscribes to.
const StatsSubject = "invitegate.stats.updates"

// ErrBadStatsMessage is returned by DecodeStatUpdates for a malformed message.
var ErrBadStatsMessage = errors.New("malformed stats message")

// StatUpdate is the absolute value of one statistic for one key. A Value
// of 0 means the key is idle for that statistic: the ingress forgets it.
type StatUpdate struct {
	Stat  Stat
	App   string
	Key   string
	Value int64
}

// statsWireVersion is the first byte of every stats message.
const statsWireVersion = 1

// AppendStatUpdate appends u to a stats message being built in b (start b
// with NewStatsMessage). The record is: stat (1 byte), value (zig-zag
// varint), app and key (each a uvarint length and the bytes).
func AppendStatUpdate(b []byte, u StatUpdate) []byte {
	b = append(b, byte(u.Stat))
	b = binary.AppendVarint(b, u.Value)
	b = binary.AppendUvarint(b, uint64(len(u.App)))
	b = append(b, u.App...)
	b = binary.AppendUvarint(b, uint64(len(u.Key)))
	return append(b, u.Key...)
}

// NewStatsMessage starts a stats message in b[:0].
func NewStatsMessage(b []byte) []byte { return append(b[:0], statsWireVersion) }

// DecodeStatUpdates calls fn for every update of a stats message, in
// order. It returns ErrBadStatsMessage (wrapped, with the offset) at the
// first malformed record; the updates before it have been passed to fn.
func DecodeStatUpdates(msg []byte, fn func(StatUpdate)) error {
	if len(msg) == 0 || msg[0] != statsWireVersion {
		return fmt.Errorf("%w: unknown version", ErrBadStatsMessage)
	}
	for i := 1; i < len(msg); {
		start := i
		st := Stat(msg[i])
		i++
		v, n := binary.Varint(msg[i:])
		if n <= 0 || st >= NumStats {
			return fmt.Errorf("%w: record at %d", ErrBadStatsMessage, start)
		}
		i += n
		app, j, ok := readString(msg, i)
		if !ok {
			return fmt.Errorf("%w: record at %d", ErrBadStatsMessage, start)
		}
		key, k, ok := readString(msg, j)
		if !ok {
			return fmt.Errorf("%w: record at %d", ErrBadStatsMessage, start)
		}
		i = k
		fn(StatUpdate{Stat: st, App: app, Key: key, Value: v})
	}
	return nil
}

func readString(b []byte, i int) (string, int, bool) {
	l, n := binary.Uvarint(b[i:])
	if n <= 0 || l > uint64(len(b)-i-n) {
		return "", 0, false
	}
	i += n
	return string(b[i : i+int(l)]), i + int(l), true
}
