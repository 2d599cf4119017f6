// Package pgtest gives tests and benchmarks a database of their own on the
// test PostgreSQL server: TEST_DATABASE_URL when set (its database name is
// replaced, its host, user, password and parameters kept), else the
// machine's server (postgres://postgres@127.0.0.1:5432, trust auth).
//
// Place in the flow: beside the schema, for the tests of everything above it.
//
//	IM -> ingress -> decider -> JetStream -> projector -> [Postgres] and snapshot -> ingress
//
// NewDatabase creates an empty database, named invitegate_test_<random>;
// NewMigrated clones one from a template database that holds every
// migration (CREATE DATABASE ... TEMPLATE, a file copy, much cheaper than
// migrating). The template is named by a hash of the migrations
// (invitegate_tmpl_<hash>), built once per server and set of migrations
// under a PostgreSQL advisory lock, so concurrent test binaries, even of
// branches with other migrations, share it or build their own safely. Both
// drop the database when the test ends. The schema name "invitegate" is
// fixed, so a database (not a schema) is the unit of isolation.
package pgtest
