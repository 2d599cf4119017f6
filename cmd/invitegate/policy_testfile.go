package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/invitegate/invitegate/decider"
)

// maxTestFileBytes bounds a policy test file.
const maxTestFileBytes = 16 << 20

// testFile is a policy test file: table-driven cases, each a request and
// what the policy should answer.
type testFile struct {
	Cases []testCase `yaml:"cases"`
}

type testCase struct {
	Name    string      `yaml:"name"`
	Request testRequest `yaml:"request"`
	Expect  testExpect  `yaml:"expect"`
}

// testRequest sets every variable a rule can read.
type testRequest struct {
	Operator  string    `yaml:"operator"`
	Members   []string  `yaml:"members"`
	Group     testGroup `yaml:"group"`
	Platform  string    `yaml:"platform"`
	ClientIP  string    `yaml:"client_ip"`
	App       string    `yaml:"app"`
	EventTime eventTime `yaml:"event_time"`
	// Stats: stats.NAME for this request; a number applies to every key, a
	// map gives the value per key (operator, member or group id).
	Stats map[string]yaml.Node `yaml:"stats"`
}

type testGroup struct {
	ID   string `yaml:"id"`
	Type string `yaml:"type"`
}

// eventTime is an RFC 3339 time or IM's milliseconds since the epoch.
type eventTime struct{ time.Time }

func (t *eventTime) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: event_time: want an RFC 3339 time or milliseconds since the epoch", n.Line)
	}
	if ms, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
		t.Time = time.UnixMilli(ms).UTC()
		return nil
	}
	parsed, err := time.Parse(time.RFC3339Nano, n.Value)
	if err != nil {
		return fmt.Errorf("line %d: event_time %q: want an RFC 3339 time or milliseconds since the epoch", n.Line, n.Value)
	}
	t.Time = parsed
	return nil
}

// testExpect is what a case checks; only the fields given are compared.
type testExpect struct {
	Outcome    *string   `yaml:"outcome"`
	ErrorCode  *int      `yaml:"error_code"`
	ErrorInfo  *string   `yaml:"error_info"`
	Rule       *string   `yaml:"rule"`
	Refused    *[]string `yaml:"refused"`
	Shadow     *[]string `yaml:"shadow"`
	RuleErrors *[]string `yaml:"rule_errors"`
}

// readTestFile reads and checks a test file; every error is a usage error
// naming the file (exit 2).
func readTestFile(path string) (*testFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("test file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTestFileBytes+1))
	if err != nil {
		return nil, usagef("test file %s: %w", path, err)
	}
	if len(data) > maxTestFileBytes {
		return nil, usagef("test file %s: larger than %d bytes", path, maxTestFileBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var tf testFile
	if err := dec.Decode(&tf); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, usagef("test file %s: empty", path)
		}
		return nil, usagef("test file %s: %w", path, err)
	}
	if len(tf.Cases) == 0 {
		return nil, usagef("test file %s: no cases", path)
	}
	seen := map[string]bool{}
	for i := range tf.Cases {
		c := &tf.Cases[i]
		switch {
		case c.Name == "":
			return nil, usagef("test file %s: cases[%d]: name is required", path, i)
		case seen[c.Name]:
			return nil, usagef("test file %s: cases[%d]: duplicate name %q", path, i, c.Name)
		}
		seen[c.Name] = true
		if _, err := c.Request.stats(); err != nil {
			return nil, usagef("test file %s: case %q: %w", path, c.Name, err)
		}
		if o := c.Expect.Outcome; o != nil && !slices.Contains([]string{"allow", "partial", "reject"}, *o) {
			return nil, usagef("test file %s: case %q: expect.outcome %q: want allow, partial or reject", path, c.Name, *o)
		}
	}
	return &tf, nil
}

func (r *testRequest) request() *decider.Request {
	members := r.Members
	if members == nil {
		members = []string{}
	}
	return &decider.Request{App: r.App, GroupID: r.Group.ID, GroupType: r.Group.Type, Operator: r.Operator,
		Members: members, Platform: r.Platform, ClientIP: r.ClientIP, EventTime: r.EventTime.Time}
}

// stats returns the statistics source of the request.
func (r *testRequest) stats() (*fixedStats, error) {
	s := &fixedStats{}
	for name, node := range r.Stats {
		st, ok := decider.StatByName(name)
		if !ok {
			return nil, fmt.Errorf("stats.%s: unknown statistic", name)
		}
		switch node.Kind {
		case yaml.ScalarNode:
			var v int64
			if err := node.Decode(&v); err != nil {
				return nil, fmt.Errorf("stats.%s: want an integer or a map of key to integer", name)
			}
			s.all[st] = v
		case yaml.MappingNode:
			var per map[string]int64
			if err := node.Decode(&per); err != nil {
				return nil, fmt.Errorf("stats.%s: want an integer or a map of key to integer", name)
			}
			s.per[st] = per
		default:
			return nil, fmt.Errorf("stats.%s: want an integer or a map of key to integer", name)
		}
	}
	return s, nil
}

// fixedStats is a StatsSource of given values: per key, else for every
// key, else 0.
type fixedStats struct {
	all [decider.NumStats]int64
	per [decider.NumStats]map[string]int64
}

func (s *fixedStats) Stat(st decider.Stat, _ string, key string) int64 {
	if v, ok := s.per[st][key]; ok {
		return v
	}
	return s.all[st]
}
