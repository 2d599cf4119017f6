// Package deploy holds everything that runs invitegate in production, and the
// Go code that keeps it honest.
//
// Place in the flow: around all of it.
//
//	IM -> ingress -> decider -> JetStream -> projector -> Postgres and snapshot -> ingress
//	 ^        \__ docker/ (one image), k8s/ and compose/ (replicas, NATS R3, PostgreSQL) __/
//	 |                      prometheus/ (alerts) and grafana/ (dashboard) watch it
//
// The directories:
//
//	docker/Dockerfile       static binary on distroless, non-root; one image for every role
//	compose/                docker compose: NATS, PostgreSQL, a one-shot migrate, 2 ingress
//	                        behind nginx, projector, Prometheus, Grafana
//	k8s/base, k8s/overlays  kustomize: the migrate Job, ingress (HPA, PDB), projector, 3-node
//	                        NATS JetStream, NATS accounts and permissions
//	                        (nats-permissions.conf: an allow-list per role), Secrets
//	grafana/invitegate.json the dashboard
//	prometheus/alerts.yaml  the alert rules, each with a runbook in the operator's guide
//
// The Go API is what other tests need from these files. MetricNames lists
// every invitegate_* series the dashboard and the alerts read (extracted with
// the PromQL parser), so that a test scraping a running binary can prove none
// of them is missing from /metrics:
//
//	names, err := deploy.MetricNames()
//	// for each name: the /metrics text has a line starting with name
//	// (histograms are read as name_bucket, which is how they appear there)
//
// EnvNames lists every INVITEGATE_* variable the manifests set, so a test can
// check each against the flags in `invitegate <role> --help`.
//
// WriteNATSConfig writes the shipped NATS configuration (compose's, with
// passwords, or Kubernetes's, with nkeys) into a directory with fresh
// secrets, and NATSServerOptions loads it for an embedded server on a local
// port, so a test can run every role as its shipped user:
//
//	c, err := deploy.WriteNATSConfig(dir, deploy.NATSKubernetes)
//	opts, _, err := c.NATSServerOptions(storeDir)
//	srv, err := server.NewServer(opts)
//	// connect as c.Users["ingress"]: --nats-url c.Users["ingress"].URL(srv.ClientURL()), --nats-nkey its NKeyFile
//
// The package's tests build the kustomizations with the kustomize Go library,
// validate the alert rules with Prometheus' own rule parser, parse the compose
// file and the dashboard, and start a real NATS server from each shipped
// configuration; cmd/invitegate's TestShippedNATS runs every role against it
// as its user and tries the attacks each must fail.
package deploy
