package deploy

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// What operations rely on in the NATS cluster, in the base and the example
// overlay: three servers never on one node, at most one down by choice, the
// lame duck preStop hook, and every role creating its streams R3.
func TestNATSClusterPromises(t *testing.T) {
	t.Parallel()
	eachKustomization(t, func(t *testing.T, b built) {
		var sts workload
		b.get(t, "StatefulSet", "nats", &sts)
		require.Equal(t, 3, *sts.Spec.Replicas, "three NATS servers")
		pod := sts.Spec.Template.Spec
		require.NotNil(t, pod.Affinity, "nats: no affinity")
		require.NotNil(t, pod.Affinity.PodAntiAffinity, "nats: no pod anti-affinity")
		hostname := false
		for _, term := range pod.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			if term.TopologyKey == "kubernetes.io/hostname" {
				requireSelects(t, term.LabelSelector.MatchLabels, sts.Spec.Template.Metadata.Labels)
				hostname = true
			}
		}
		require.True(t, hostname, "nats: no required anti-affinity on kubernetes.io/hostname")

		var pdb struct {
			Spec struct {
				MaxUnavailable int
				Selector       struct{ MatchLabels map[string]string }
			}
		}
		b.get(t, "PodDisruptionBudget", "nats", &pdb)
		require.Equal(t, 1, pdb.Spec.MaxUnavailable, "a voluntary disruption takes one server at most")
		requireSelects(t, pdb.Spec.Selector.MatchLabels, sts.Spec.Template.Metadata.Labels)

		conf := b.configData(t, "nats-config")["nats.conf"]
		require.Contains(t, conf, "sync_interval: always")
		require.Equal(t, 3, strings.Count(conf, ".nats-headless:6222"), "a route to each of the three servers")

		// Every role reads INVITEGATE_JS_REPLICAS=3 from the shared
		// ConfigMap, so whichever creates a stream or bucket makes it R3.
		cfg := b.configData(t, "invitegate-config")
		require.Equal(t, "3", cfg["INVITEGATE_JS_REPLICAS"])
		for _, name := range []string{"invitegate-ingress", "invitegate-projector"} {
			var d workload
			b.get(t, "Deployment", name, &d)
			for _, c := range d.Spec.Template.Spec.Containers {
				require.True(t, readsConfigMap(c, "invitegate-config"), "%s/%s does not read invitegate-config", name, c.Name)
				for _, e := range c.Env {
					require.NotEqual(t, "INVITEGATE_JS_REPLICAS", e.Name, "%s/%s overrides the stream replicas", name, c.Name)
				}
			}
		}
	})
}

// readsConfigMap reports whether c takes its environment from the ConfigMap
// generated as base (kustomize appends a hash to the name).
func readsConfigMap(c container, base string) bool {
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil && hasHashSuffix(ef.ConfigMapRef.Name, base) {
			return true
		}
	}
	return false
}
