package grafana

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// TrendsFile is the invite-trends dashboard, relative to deploy/grafana.
const TrendsFile = "invite-trends.json"

//go:embed invite-trends.json
var trendsJSON []byte

// Query is one SQL query of a dashboard, as written there: Grafana's
// variables and macros not yet expanded.
type Query struct {
	// Name says where it is: "panel: <title>", "annotation: <name>" or
	// "variable: <name>".
	Name string
	// Format is the target's format: time_series or table.
	Format string
	SQL    string
}

type target struct {
	RefID  string `json:"refId"`
	Format string `json:"format"`
	RawSQL string `json:"rawSql"`
}

type dashboard struct {
	Panels []struct {
		Title   string   `json:"title"`
		Type    string   `json:"type"`
		Targets []target `json:"targets"`
	} `json:"panels"`
	Annotations struct {
		List []struct {
			Name   string `json:"name"`
			Target target `json:"target"`
		} `json:"list"`
	} `json:"annotations"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// TrendsQueries returns every SQL query of invite-trends.json: its query
// variables, its annotations and its panels' targets, in that order.
func TrendsQueries() ([]Query, error) {
	var d dashboard
	if err := json.Unmarshal(trendsJSON, &d); err != nil {
		return nil, fmt.Errorf("parse %s: %w", TrendsFile, err)
	}
	var qs []Query
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		sql, ok := v.Query.(string)
		if !ok || sql == "" {
			return nil, fmt.Errorf("%s: variable %s: want its query as a string", TrendsFile, v.Name)
		}
		qs = append(qs, Query{Name: "variable: " + v.Name, Format: "table", SQL: sql})
	}
	for _, a := range d.Annotations.List {
		if a.Target.RawSQL != "" {
			qs = append(qs, Query{Name: "annotation: " + a.Name, Format: "table", SQL: a.Target.RawSQL})
		}
	}
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			if t.RawSQL == "" {
				return nil, fmt.Errorf("%s: panel %q target %s has no rawSql", TrendsFile, p.Title, t.RefID)
			}
			qs = append(qs, Query{Name: "panel: " + p.Title, Format: t.Format, SQL: t.RawSQL})
		}
	}
	return qs, nil
}
