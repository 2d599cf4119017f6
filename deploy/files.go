package deploy

import (
	"embed"
	"fmt"
)

// files holds the deployment files that the exported functions read, so that
// they work from any working directory and from a test binary elsewhere.
//
//go:embed grafana/invitegate.json grafana/invite-trends.json prometheus/alerts.yaml compose/compose.yaml compose/nats.conf k8s
var files embed.FS

// Paths of the embedded files, relative to deploy/.
const (
	DashboardFile = "grafana/invitegate.json"
	// TrendsDashboardFile is the analytics dashboard (PostgreSQL); its
	// queries are tested by package deploy/grafana.
	TrendsDashboardFile = "grafana/invite-trends.json"
	AlertsFile          = "prometheus/alerts.yaml"
	ComposeFile         = "compose/compose.yaml"
	K8sDir              = "k8s"
)

func readFile(name string) ([]byte, error) {
	b, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}
