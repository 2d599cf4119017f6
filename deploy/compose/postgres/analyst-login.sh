#!/bin/sh
# Runs once, when the postgres container initialises an empty data volume
# (docker-entrypoint-initdb.d): creates "grafana", the login the invite-trends
# dashboard's data source uses, as a member of invitegate_analyst, the
# read-only role the schema migration (00006) grants SELECT to. The role is
# created here too so that the login can join it before the projector's
# first migration; the migration then only grants.
# On a volume initialised before this file existed, run the same SQL by hand
# (deploy/README.md, "Grafana").
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
	-v pw="${GRAFANA_DB_PASSWORD:?GRAFANA_DB_PASSWORD is not set}" <<'SQL'
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'invitegate_analyst') THEN
        CREATE ROLE invitegate_analyst NOLOGIN;
    END IF;
END $$;
CREATE ROLE grafana LOGIN PASSWORD :'pw' IN ROLE invitegate_analyst;
ALTER ROLE grafana SET default_transaction_read_only = on;
ALTER ROLE grafana SET statement_timeout = '30s';
SQL
