package grafana

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Expansion is what Grafana puts into a query: the dashboard's time range
// and the values of its variables (one value, or several for a multi-value
// variable or "All").
type Expansion struct {
	From, To time.Time
	Vars     map[string][]string
}

// ErrExpand is wrapped by every error of Expand.
var ErrExpand = errors.New("expand grafana query")

var (
	// variableRE matches ${name}, ${name:format} and $name; names starting
	// with __ are Grafana's macros and built-ins, left to macroRE.
	variableRE = regexp.MustCompile(`\$\{(\w+)(?::(\w+))?\}|\$(\w+)`)
	// macroRE is the PostgreSQL data source's own pattern for macros.
	macroRE = regexp.MustCompile(`\$([_a-zA-Z0-9]+)\(([^\)]*)\)`)
)

// Expand replaces in sql first the template variables, as Grafana's front
// end does (format sqlstring: each value quoted, quotes doubled, joined
// with commas; no format: the value as is, or sqlstring for several), then
// the macros of the PostgreSQL data source, as its back end does. An
// unknown variable or macro is an error.
func Expand(sql string, x Expansion) (string, error) {
	var errs []error
	sql = variableRE.ReplaceAllStringFunc(sql, func(m string) string {
		g := variableRE.FindStringSubmatch(m)
		name, format := g[1], g[2]
		if name == "" {
			name = g[3]
		}
		if strings.HasPrefix(name, "__") {
			return m
		}
		values, ok := x.Vars[name]
		if !ok {
			errs = append(errs, fmt.Errorf("%w: no value for variable %s", ErrExpand, name))
			return m
		}
		switch {
		case format == "sqlstring", format == "" && len(values) != 1:
			return sqlStrings(values)
		case format == "" || format == "raw":
			return strings.Join(values, ",")
		}
		errs = append(errs, fmt.Errorf("%w: variable %s: unknown format %s", ErrExpand, name, format))
		return m
	})
	sql = macroRE.ReplaceAllStringFunc(sql, func(m string) string {
		g := macroRE.FindStringSubmatch(m)
		args := strings.Split(g[2], ",")
		for i := range args {
			args[i] = strings.TrimSpace(args[i])
		}
		out, err := macro(g[1], args, x)
		if err != nil {
			errs = append(errs, err)
			return m
		}
		return out
	})
	if len(errs) == 0 && strings.Contains(sql, "$__") {
		errs = append(errs, fmt.Errorf("%w: unexpanded %q", ErrExpand, sql[strings.Index(sql, "$__"):]))
	}
	return sql, errors.Join(errs...)
}

func sqlStrings(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
	}
	return strings.Join(quoted, ",")
}

// macro expands one macro as grafana-postgresql-datasource does.
func macro(name string, args []string, x Expansion) (string, error) {
	from := "'" + x.From.UTC().Format(time.RFC3339Nano) + "'"
	to := "'" + x.To.UTC().Format(time.RFC3339Nano) + "'"
	switch name {
	case "__timeFilter":
		if args[0] == "" {
			return "", fmt.Errorf("%w: %s needs a column", ErrExpand, name)
		}
		return args[0] + " BETWEEN " + from + " AND " + to, nil
	case "__timeFrom":
		return from, nil
	case "__timeTo":
		return to, nil
	case "__timeGroup", "__timeGroupAlias":
		if len(args) < 2 {
			return "", fmt.Errorf("%w: %s needs a column and an interval", ErrExpand, name)
		}
		d, err := parseInterval(strings.Trim(args[1], "'"))
		if err != nil {
			return "", err
		}
		s := strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
		out := "floor(extract(epoch from " + args[0] + ")/" + s + ")*" + s
		if name == "__timeGroupAlias" {
			out += ` AS "time"`
		}
		return out, nil
	}
	return "", fmt.Errorf("%w: unknown macro $%s", ErrExpand, name)
}

// parseInterval reads Grafana's intervals: a number and s, m, h, d or w.
func parseInterval(s string) (time.Duration, error) {
	units := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}
	if len(s) < 2 {
		return 0, fmt.Errorf("%w: interval %q", ErrExpand, s)
	}
	unit, ok := units[s[len(s)-1]]
	n, err := strconv.Atoi(s[:len(s)-1])
	if !ok || err != nil || n <= 0 {
		return 0, fmt.Errorf("%w: interval %q", ErrExpand, s)
	}
	return time.Duration(n) * unit, nil
}
