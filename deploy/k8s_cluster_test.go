package deploy

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// What operations rely on in the NATS cluster, in the base and the example
// overlay: three servers never on one node, at most one down by choice, the
// lame duck preStop hook, and the setup Job (`migrate up`) creating the
// streams and buckets R3 while the services provision nothing.
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

		// The setup Job creates the streams and buckets: `migrate up` with
		// the NATS URL and INVITEGATE_JS_REPLICAS=3 of the shared ConfigMap,
		// so they are R3. The services read the same ConfigMap, provision
		// nothing (INVITEGATE_NO_MIGRATE) and override neither.
		cfg := b.configData(t, "invitegate-config")
		require.Equal(t, "3", cfg["INVITEGATE_JS_REPLICAS"])
		require.NotEmpty(t, cfg["INVITEGATE_NATS_URL"], "migrate up provisions NATS only with a NATS URL")
		require.Equal(t, "true", cfg["INVITEGATE_NO_MIGRATE"])
		var job workload
		b.get(t, "Job", "invitegate-migrate", &job)
		require.Len(t, job.Spec.Template.Spec.Containers, 1)
		c := job.Spec.Template.Spec.Containers[0]
		require.Equal(t, []string{"migrate", "up"}, c.Args, "the setup Job provisions")
		require.True(t, readsConfigMap(c, "invitegate-config"), "invitegate-migrate does not read invitegate-config")
		requireNoOverride(t, "invitegate-migrate", c, "INVITEGATE_JS_REPLICAS", "INVITEGATE_NATS_URL")
		require.Equal(t, "/etc/invitegate/nats/migrate.nk", containerEnv(c)["INVITEGATE_NATS_NKEY"], "as the NATS user migrate")
		for _, name := range []string{"invitegate-ingress", "invitegate-projector"} {
			var d workload
			b.get(t, "Deployment", name, &d)
			for _, c := range d.Spec.Template.Spec.Containers {
				require.True(t, readsConfigMap(c, "invitegate-config"), "%s/%s does not read invitegate-config", name, c.Name)
				requireNoOverride(t, name, c, "INVITEGATE_JS_REPLICAS", "INVITEGATE_NO_MIGRATE")
			}
		}
	})
}

// requireNoOverride fails if c sets one of names itself (in its environment
// or as a flag) instead of taking it from the shared ConfigMap.
func requireNoOverride(t *testing.T, workload string, c container, names ...string) {
	t.Helper()
	for _, name := range names {
		for _, e := range c.Env {
			require.NotEqual(t, name, e.Name, "%s/%s overrides %s", workload, c.Name, name)
		}
		flag := "--" + strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, "INVITEGATE_")), "_", "-")
		for _, a := range c.Args {
			require.False(t, strings.HasPrefix(a, flag), "%s/%s overrides %s with %s", workload, c.Name, name, a)
		}
	}
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
