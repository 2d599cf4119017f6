package deploy

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
)

// clusterScoped are the kinds a namespace does not apply to.
var clusterScoped = map[string]bool{"Namespace": true}

func TestExampleOverlay(t *testing.T) {
	t.Parallel()
	b := kustomize(t, "k8s/overlays/example")
	for _, o := range b.objects {
		if !clusterScoped[o.Kind] {
			require.Equal(t, "invitegate", o.Metadata.Namespace, "%s/%s", o.Kind, o.Metadata.Name)
		}
	}
	var ns object
	b.get(t, "Namespace", "invitegate", &ns)
	require.Equal(t, "restricted", ns.Metadata.Labels["pod-security.kubernetes.io/enforce"])

	// The overlay's values win over the base's.
	cfg := b.configData(t, "invitegate-config")
	require.Equal(t, "1400123456", cfg["INVITEGATE_SDKAPPID"])
	require.Equal(t, "3", cfg["INVITEGATE_JS_REPLICAS"], "base values are kept")
	for _, w := range b.workloads(t) {
		for _, c := range w.Spec.Template.Spec.Containers {
			if strings.HasPrefix(c.Image, "invitegate") || strings.Contains(c.Image, "/invitegate") {
				require.Equal(t, "registry.example.com/invitegate/invitegate:v1.0.0", c.Image, w.Metadata.Name)
			}
		}
	}

	// PostgreSQL from CloudNativePG: the projector and the migrate Job read
	// the operator's app Secret.
	require.Len(t, b.all("Cluster"), 1)
	for kind, name := range map[string]string{"Deployment": "invitegate-projector", "Job": "invitegate-migrate"} {
		var w workload
		b.get(t, kind, name, &w)
		require.Equal(t, "invitegate-pg-app/uri", containerEnv(w.Spec.Template.Spec.Containers[0])["INVITEGATE_DATABASE_URL"], name)
	}

	var ing struct {
		Spec struct {
			TLS   []struct{ Hosts []string }
			Rules []struct {
				HTTP struct {
					Paths []struct {
						Path    string
						Backend struct {
							Service struct{ Name string }
						}
					}
				}
			}
		}
	}
	b.get(t, "Ingress", "invitegate", &ing)
	require.NotEmpty(t, ing.Spec.TLS, "IM reaches the callback over HTTPS")
	path := ing.Spec.Rules[0].HTTP.Paths[0]
	require.Equal(t, "/callback", path.Path, "only the callback is exposed")
	require.Equal(t, "invitegate-ingress", path.Backend.Service.Name)
	require.Equal(t, "/callback", cfg["INVITEGATE_CALLBACK_PATH"])
}

// The policies the manifests start the ingress with compile.
func TestShippedPoliciesCompile(t *testing.T) {
	t.Parallel()
	policies := map[string][]byte{}
	for name, data := range kustomize(t, "k8s/base").configData(t, "invitegate-policy") {
		policies["k8s invitegate-policy "+name] = []byte(data)
	}
	c := loadCompose(t)
	data, err := os.ReadFile(c.Services["ingress-1"].bindMounts()["/etc/invitegate/policy.yaml"])
	require.NoError(t, err)
	policies["compose policy"] = data
	for name, data := range policies {
		doc, err := decider.ParseDocument(data)
		require.NoError(t, err, name)
		_, err = decider.Compile(doc, 1)
		require.NoError(t, err, name)
	}
}
