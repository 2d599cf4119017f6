package bench

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/invitegate/invitegate/decider/cputime"
)

// backendCPU returns the CPU time used so far by the PostgreSQL backends
// connected to pool's database, read from /proc: only possible when the
// server runs on this machine and its /proc entries are readable (as root).
// ok is false otherwise.
func backendCPU(ctx context.Context, pool *pgxpool.Pool) (cpu time.Duration, ok bool) {
	rows, err := pool.Query(ctx, `SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`)
	if err != nil {
		return 0, false
	}
	defer rows.Close()
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) != nil {
			return 0, false
		}
		d, err := cputime.Of(pid)
		if err != nil {
			return 0, false
		}
		cpu += d
	}
	return cpu, rows.Err() == nil
}
