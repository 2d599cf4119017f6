package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/invitegate/invitegate/deploy/grafana"
	"github.com/invitegate/invitegate/projector"
)

// dashboardQueries returns, for bench analytics, every query of the
// invite-trends dashboard expanded as Grafana would over the last 7 days
// (its default range) and 30 days, every app selected; the decision lookup
// for a member and for an operator of the loaded data; and
// invitegate.decisions as `invitegate decisions` calls it.
func dashboardQueries(ctx context.Context, pool *pgxpool.Pool) ([]projector.Query, error) {
	qs, err := grafana.TrendsQueries()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var member, operator string
	err = pool.QueryRow(ctx, `SELECT member FROM invitegate.invite_members
		WHERE refused AND received_at > now() - interval '1 hour' LIMIT 1`).Scan(&member)
	if err != nil {
		return nil, fmt.Errorf("pick a refused member: %w", err)
	}
	err = pool.QueryRow(ctx, `SELECT operator FROM invitegate.top_inviters_daily
		WHERE day = (now() AT TIME ZONE 'UTC')::date - 1 ORDER BY members_invited DESC LIMIT 1`).Scan(&operator)
	if err != nil {
		return nil, fmt.Errorf("pick an operator: %w", err)
	}
	var out []projector.Query
	for _, days := range []int{7, 30} {
		x := grafana.Expansion{From: now.Add(-time.Duration(days) * 24 * time.Hour), To: now,
			Vars: map[string][]string{"member": {""}, "operator": {""}, "group": {""}}}
		apps, err := appValues(ctx, pool, qs, x)
		if err != nil {
			return nil, err
		}
		x.Vars["app"] = apps
		for _, q := range qs {
			lookups := []map[string]string{nil}
			if q.Name == "panel: Decision lookup" {
				lookups = []map[string]string{{"member": member}, {"operator": operator}}
			}
			for _, vars := range lookups {
				xv := x
				xv.Vars = map[string][]string{}
				for k, v := range x.Vars {
					xv.Vars[k] = v
				}
				name := fmt.Sprintf("%dd %s", days, strings.TrimPrefix(q.Name, "panel: "))
				for k, v := range vars {
					xv.Vars[k] = []string{v}
					name += " (" + k + ")"
				}
				sql, err := grafana.Expand(q.SQL, xv)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", q.Name, err)
				}
				out = append(out, projector.Query{Name: name, SQL: sql})
			}
		}
	}
	for _, who := range []struct{ arg, id string }{{"p_member", member}, {"p_operator", operator}} {
		out = append(out, projector.Query{
			Name: "30d decisions(" + who.arg + ")",
			SQL: fmt.Sprintf("SELECT * FROM invitegate.decisions(%s => %s, p_from => now() - interval '30 days')",
				who.arg, quoteLiteral(who.id)),
		})
	}
	return out, nil
}

// appValues runs the dashboard's app variable query: "All".
func appValues(ctx context.Context, pool *pgxpool.Pool, qs []grafana.Query, x grafana.Expansion) ([]string, error) {
	for _, q := range qs {
		if q.Name != "variable: app" {
			continue
		}
		sql, err := grafana.Expand(q.SQL, x)
		if err != nil {
			return nil, err
		}
		rows, err := pool.Query(ctx, sql)
		if err != nil {
			return nil, fmt.Errorf("variable app: %w", err)
		}
		return pgx.CollectRows(rows, pgx.RowTo[string])
	}
	return nil, fmt.Errorf("%s: no variable app", grafana.TrendsFile)
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
