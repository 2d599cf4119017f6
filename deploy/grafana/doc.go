// Package grafana holds the dashboards of deploy/grafana and what tests and
// benchmarks need to run the SQL of the invite-trends dashboard the way
// Grafana would.
//
// Place in the flow: beside it, reading what the projector wrote.
//
//	IM -> ingress -> decider -> JetStream -> projector -> Postgres and snapshot -> ingress
//	                                                          |
//	                      Grafana (invite-trends.json, role invitegate_analyst)
//
// invite-trends.json draws invite trends, refusals by rule, top inviters,
// policy revisions (annotations) and a decision lookup from PostgreSQL.
// TrendsQueries lists every SQL query in it (panels, annotations, query
// variables); Expand replaces Grafana's template variables and the macros of
// its PostgreSQL data source ($__timeFilter, $__timeFrom, $__timeTo,
// $__timeGroup, $__timeGroupAlias) as Grafana does, so that the result runs
// on a plain connection:
//
//	qs, err := grafana.TrendsQueries()
//	sql, err := grafana.Expand(qs[0].SQL, grafana.Expansion{
//		From: time.Now().Add(-7 * 24 * time.Hour), To: time.Now(),
//		Vars: map[string][]string{"app": {"1400000000"}, "member": {""}, "operator": {""}, "group": {""}},
//	})
//
// The package's test runs every query so expanded, as invitegate_analyst,
// on a migrated database holding a week of events; `make bench-analytics`
// times them over 10,000,000 events.
package grafana
