package deploy

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// MetricPrefix is the prefix of every metric invitegate exports. Series
// without it (up, from Prometheus itself) are not in invitegate's /metrics.
const MetricPrefix = "invitegate_"

// ErrNoQueries is returned when a dashboard or a rule file holds no query.
var ErrNoQueries = errors.New("no queries")

// Query is one PromQL expression of the dashboard or of the alert rules.
type Query struct {
	Source string // "grafana/invitegate.json: panel <title>" or "prometheus/alerts.yaml: alert <name>"
	Expr   string // as written; Grafana's $__rate_interval and friends included
}

// MetricNames returns every invitegate_* series name that the Grafana
// dashboard and the Prometheus alert rules read, sorted and without
// duplicates. Names are the selectors' names as written: a histogram appears
// as name_bucket (the series histogram_quantile reads), which is also how
// its lines start in the /metrics text exposition.
func MetricNames() ([]string, error) {
	queries, err := Queries()
	if err != nil {
		return nil, err
	}
	return metricNames(queries)
}

// Queries returns the queries of the dashboard and of the alert rules. The
// rules are parsed and validated by Prometheus' own rule-file parser
// (rulefmt), which also checks each expr is valid PromQL and each template in
// the annotations parses.
func Queries() ([]Query, error) {
	dash, err := readFile(DashboardFile)
	if err != nil {
		return nil, err
	}
	alerts, err := readFile(AlertsFile)
	if err != nil {
		return nil, err
	}
	dq, err := dashboardQueries(DashboardFile, dash)
	if err != nil {
		return nil, err
	}
	aq, err := alertQueries(AlertsFile, alerts)
	if err != nil {
		return nil, err
	}
	return append(dq, aq...), nil
}

func newParser() parser.Parser { return parser.NewParser(parser.Options{}) }

// metricNames parses every query and collects the names of its vector
// selectors (the metric name, or an equality matcher on __name__).
func metricNames(queries []Query) ([]string, error) {
	p := newParser()
	var names []string
	for _, q := range queries {
		expr, err := p.ParseExpr(grafanaMacros.Replace(q.Expr))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.Source, err)
		}
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				if name := selectorName(vs); strings.HasPrefix(name, MetricPrefix) {
					names = append(names, name)
				}
			}
			return nil
		})
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

func selectorName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}

// grafanaMacros turns Grafana's interval variables into a duration, so that a
// dashboard query parses as PromQL.
var grafanaMacros = strings.NewReplacer(
	"${__rate_interval}", "5m", "$__rate_interval", "5m",
	"${__interval}", "5m", "$__interval", "5m",
	"${__range}", "1h", "$__range", "1h",
)

// dashboardPanel is the part of a Grafana panel that holds queries; rows
// keep their collapsed panels in Panels.
type dashboardPanel struct {
	Title   string                  `json:"title"`
	Targets []struct{ Expr string } `json:"targets"`
	Panels  []dashboardPanel        `json:"panels"`
}

func dashboardQueries(source string, data []byte) ([]Query, error) {
	var dash struct {
		Panels []dashboardPanel `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	var out []Query
	var walk func([]dashboardPanel)
	walk = func(panels []dashboardPanel) {
		for _, p := range panels {
			for _, t := range p.Targets {
				if strings.TrimSpace(t.Expr) != "" {
					out = append(out, Query{Source: source + ": panel " + p.Title, Expr: t.Expr})
				}
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", source, ErrNoQueries)
	}
	return out, nil
}

// ParseRules parses and validates a Prometheus rule file the way Prometheus
// does when it loads it (unknown fields are errors).
func ParseRules(source string, data []byte) (*rulefmt.RuleGroups, error) {
	groups, errs := rulefmt.Parse(data, false, model.UTF8Validation, newParser(), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %w", source, errors.Join(errs...))
	}
	return groups, nil
}

func alertQueries(source string, data []byte) ([]Query, error) {
	groups, err := ParseRules(source, data)
	if err != nil {
		return nil, err
	}
	var out []Query
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			name := cmp.Or(r.Alert, r.Record)
			out = append(out, Query{Source: source + ": " + g.Name + "/" + name, Expr: r.Expr})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", source, ErrNoQueries)
	}
	return out, nil
}
