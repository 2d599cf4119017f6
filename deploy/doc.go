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
//	compose/                docker compose: NATS, PostgreSQL, 2 ingress behind nginx, projector,
//	                        Prometheus, Grafana
//	k8s/base, k8s/overlays  kustomize: ingress (HPA, PDB), projector, 3-node NATS JetStream,
//	                        NATS accounts and permissions (nats-permissions.conf), Secrets
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
// The package's tests build the kustomizations with the kustomize Go library,
// validate the alert rules with Prometheus' own rule parser, parse the compose
// file and the dashboard, and start a real NATS server from the shipped
// configuration to try every permission grant and denial.
package deploy
