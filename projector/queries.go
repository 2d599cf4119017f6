package projector

import (
	_ "embed"
	"strings"
)

//go:embed queries.sql
var queriesSQL string

// Query is one documented analyst query.
type Query struct {
	Name string // e.g. "last-day-by-hour"
	Doc  string // what it answers
	SQL  string
}

// AnalystQueries returns the documented analyst queries of queries.sql, in
// file order, without the final semicolon: last-day-by-hour, thirty-days-by-day, top-inviters,
// refusals-by-rule. They take no parameters.
func AnalystQueries() []Query {
	var qs []Query
	parts := strings.Split(queriesSQL, "-- name: ")
	for _, part := range parts[1:] {
		name, body, _ := strings.Cut(part, "\n")
		q := Query{Name: strings.TrimSpace(name)}
		var sql []string
		for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
			if doc, ok := strings.CutPrefix(line, "-- "); ok && len(sql) == 0 {
				q.Doc = strings.TrimSpace(q.Doc + " " + doc)
				continue
			}
			sql = append(sql, line)
		}
		q.SQL = strings.TrimSuffix(strings.TrimSpace(strings.Join(sql, "\n")), ";")
		qs = append(qs, q)
	}
	return qs
}
