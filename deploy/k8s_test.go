package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var kustomizations = []string{"k8s/base", "k8s/overlays/example"}

// eachKustomization runs f on the build of the base and of the example
// overlay, in parallel subtests.
func eachKustomization(t *testing.T, f func(t *testing.T, b built)) {
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			f(t, kustomize(t, dir))
		})
	}
}

// hardeningProblems lists what a workload lacks: probes, requests and limits,
// a non-root read-only container without privilege escalation or capabilities.
func hardeningProblems(w workload) []string {
	var out []string
	pod := w.Spec.Template.Spec
	podNonRoot := pod.SecurityContext != nil && isTrue(pod.SecurityContext.RunAsNonRoot)
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		out = append(out, "automountServiceAccountToken is not false")
	}
	if pod.SecurityContext == nil || pod.SecurityContext.SeccompProfile == nil ||
		pod.SecurityContext.SeccompProfile.Type != "RuntimeDefault" {
		out = append(out, "no RuntimeDefault seccomp profile")
	}
	for _, c := range pod.Containers {
		bad := func(format string, a ...any) {
			out = append(out, fmt.Sprintf("container %s: ", c.Name)+fmt.Sprintf(format, a...))
		}
		if c.ReadinessProbe == nil && w.Kind != "Job" { // a Job runs to completion, serving nothing
			bad("no readinessProbe")
		}
		if c.LivenessProbe == nil && w.Kind != "Job" {
			bad("no livenessProbe")
		}
		for _, r := range []string{"cpu", "memory"} {
			if c.Resources.Requests[r] == "" {
				bad("no %s request", r)
			}
			if c.Resources.Limits[r] == "" {
				bad("no %s limit", r)
			}
		}
		sc := c.SecurityContext
		if sc == nil {
			bad("no securityContext")
			continue
		}
		if !podNonRoot && !isTrue(sc.RunAsNonRoot) {
			bad("runAsNonRoot is not true")
		}
		if !isTrue(sc.ReadOnlyRootFilesystem) {
			bad("readOnlyRootFilesystem is not true")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			bad("allowPrivilegeEscalation is not false")
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
			bad("capabilities are not dropped")
		}
	}
	return out
}

func isTrue(b *bool) bool { return b != nil && *b }

func TestKustomizationsBuildHardenedWorkloads(t *testing.T) {
	t.Parallel()
	eachKustomization(t, func(t *testing.T, b built) {
		ws := b.workloads(t)
		var names []string
		for _, w := range ws {
			names = append(names, w.Kind+"/"+w.Metadata.Name)
			require.Empty(t, hardeningProblems(w), "%s/%s", w.Kind, w.Metadata.Name)
		}
		require.ElementsMatch(t, []string{
			"Deployment/invitegate-ingress", "Deployment/invitegate-projector", "StatefulSet/nats", "Job/invitegate-migrate",
		}, names)
	})
}

// The check above must be able to fail: a Deployment without probes, limits
// and security context is reported on every count.
func TestHardeningCheckCatchesBareDeployment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
	}
	write("kustomization.yaml", "resources: [bare.yaml]\n")
	write("bare.yaml", `apiVersion: apps/v1
kind: Deployment
metadata: {name: bare}
spec:
  selector: {matchLabels: {app: bare}}
  template:
    metadata: {labels: {app: bare}}
    spec:
      containers:
        - {name: app, image: bare, resources: {requests: {cpu: 100m}}}
`)
	ws := kustomize(t, dir).workloads(t)
	require.Len(t, ws, 1)
	require.Equal(t, []string{
		"automountServiceAccountToken is not false",
		"no RuntimeDefault seccomp profile",
		"container app: no readinessProbe",
		"container app: no livenessProbe",
		"container app: no cpu limit",
		"container app: no memory request",
		"container app: no memory limit",
		"container app: no securityContext",
	}, hardeningProblems(ws[0]))
}

func TestIngressDeployment(t *testing.T) {
	t.Parallel()
	b := kustomize(t, "k8s/base")
	var d workload
	b.get(t, "Deployment", "invitegate-ingress", &d)
	require.Equal(t, 3, *d.Spec.Replicas)
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	require.Equal(t, []string{"ingress"}, c.Args)
	require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	require.Equal(t, "admin", c.ReadinessProbe.HTTPGet.Port)
	var keys []string
	for _, tsc := range pod.TopologySpreadConstraints {
		keys = append(keys, tsc.TopologyKey)
	}
	require.ElementsMatch(t, []string{"topology.kubernetes.io/zone", "kubernetes.io/hostname"}, keys)

	cfg := b.configData(t, "invitegate-config")
	require.Equal(t, "0.0.0.0:8080", cfg["INVITEGATE_HTTP_ADDR"])
	require.Equal(t, "0.0.0.0:9090", cfg["INVITEGATE_ADMIN_ADDR"])
	require.Equal(t, "3", cfg["INVITEGATE_JS_REPLICAS"], "R3 streams on the 3-node NATS cluster")
	require.Equal(t, "nats://nats:4222", cfg["INVITEGATE_NATS_URL"])

	// --data-dir is a writable emptyDir, the only writable path.
	require.Equal(t, "/var/lib/invitegate", cfg["INVITEGATE_DATA_DIR"])
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	dataVolume := mounts[cfg["INVITEGATE_DATA_DIR"]]
	require.True(t, slices.ContainsFunc(pod.Volumes, func(v volume) bool {
		return v.Name == dataVolume && v.EmptyDir != nil
	}), "no emptyDir at the data dir")

	var pdb struct {
		Spec struct {
			MinAvailable int
			Selector     struct{ MatchLabels map[string]string }
		}
	}
	b.get(t, "PodDisruptionBudget", "invitegate-ingress", &pdb)
	require.Equal(t, 2, pdb.Spec.MinAvailable)
	requireSelects(t, pdb.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)

	var hpa struct {
		Spec struct {
			ScaleTargetRef           struct{ Kind, Name string }
			MinReplicas, MaxReplicas int
		}
	}
	b.get(t, "HorizontalPodAutoscaler", "invitegate-ingress", &hpa)
	require.Equal(t, "Deployment", hpa.Spec.ScaleTargetRef.Kind)
	require.Equal(t, "invitegate-ingress", hpa.Spec.ScaleTargetRef.Name)
	require.Equal(t, 3, hpa.Spec.MinReplicas)
	require.Greater(t, hpa.Spec.MaxReplicas, hpa.Spec.MinReplicas)
}

func requireSelects(t *testing.T, selector, labels map[string]string) {
	t.Helper()
	require.NotEmpty(t, selector)
	for k, v := range selector {
		require.Equal(t, v, labels[k], "selector %s=%s does not match the pods", k, v)
	}
}

// Every Service and PodDisruptionBudget selects the pods of some workload, and
// every ConfigMap and Secret a workload names exists (kustomize rewrites the
// hashed names; CloudNativePG creates <cluster>-app).
func TestReferencesResolve(t *testing.T) {
	t.Parallel()
	eachKustomization(t, func(t *testing.T, b built) {
		have := map[string]bool{}
		for _, o := range b.objects {
			have[o.Kind+"/"+o.Metadata.Name] = true
			if o.Kind == "Cluster" && strings.HasPrefix(o.APIVersion, "postgresql.cnpg.io/") {
				have["Secret/"+o.Metadata.Name+"-app"] = true
			}
		}
		ws := b.workloads(t)
		for _, w := range ws {
			for _, r := range workloadRefs(w) {
				require.True(t, have[r], "%s/%s refers to missing %s", w.Kind, w.Metadata.Name, r)
			}
		}
		for _, kind := range []string{"Service", "PodDisruptionBudget"} {
			for _, o := range b.all(kind) {
				var s struct {
					Spec struct {
						Selector map[string]any
					}
				}
				b.get(t, kind, o.Metadata.Name, &s)
				sel := selectorLabels(s.Spec.Selector)
				require.True(t, slices.ContainsFunc(ws, func(w workload) bool {
					return matches(sel, w.Spec.Template.Metadata.Labels)
				}), "%s/%s selects no pods", kind, o.Metadata.Name)
			}
		}
	})
}

func workloadRefs(w workload) []string {
	var out []string
	for _, v := range w.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			out = append(out, "Secret/"+v.Secret.SecretName)
		}
		if v.ConfigMap != nil {
			out = append(out, "ConfigMap/"+v.ConfigMap.Name)
		}
	}
	for _, c := range w.Spec.Template.Spec.Containers {
		for _, e := range c.EnvFrom {
			if e.ConfigMapRef != nil {
				out = append(out, "ConfigMap/"+e.ConfigMapRef.Name)
			}
			if e.SecretRef != nil {
				out = append(out, "Secret/"+e.SecretRef.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				out = append(out, "Secret/"+e.ValueFrom.SecretKeyRef.Name)
			}
		}
	}
	return out
}

// selectorLabels reads a Service selector (a flat map) or a label selector
// ({matchLabels: ...}).
func selectorLabels(sel map[string]any) map[string]string {
	out := map[string]string{}
	if ml, ok := sel["matchLabels"].(map[string]any); ok {
		sel = ml
	}
	for k, v := range sel {
		out[k], _ = v.(string)
	}
	return out
}

func matches(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

// containerEnv returns a container's env: name -> value, or secret/key for
// a secretKeyRef.
func containerEnv(c container) map[string]string {
	out := map[string]string{}
	for _, e := range c.Env {
		out[e.Name] = e.Value
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			out[e.Name] = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	return out
}

// The setup Job provisions the schema, streams and buckets as the NATS user
// migrate; the services provision nothing (INVITEGATE_NO_MIGRATE for every
// role), and the ingress's callback token comes from the invitegate Secret.
func TestMigrateJobAndSignedCallbacks(t *testing.T) {
	t.Parallel()
	b := kustomize(t, "k8s/base")
	var job workload
	b.get(t, "Job", "invitegate-migrate", &job)
	c := job.Spec.Template.Spec.Containers[0]
	require.Equal(t, []string{"migrate", "up"}, c.Args)
	env := containerEnv(c)
	require.Equal(t, "invitegate/database-url", env["INVITEGATE_DATABASE_URL"])
	require.Equal(t, "/etc/invitegate/nats/migrate.nk", env["INVITEGATE_NATS_NKEY"])
	require.True(t, hasHashSuffix(c.EnvFrom[0].ConfigMapRef.Name, "invitegate-config"), "the same replicas and max age as the services")
	var secret struct{ StringData map[string]string }
	b.get(t, "Secret", "invitegate", &secret)
	require.Contains(t, secret.StringData, "migrate.nk")
	require.Contains(t, secret.StringData, "callback-token")

	cfg := b.configData(t, "invitegate-config")
	require.Equal(t, "true", cfg["INVITEGATE_NO_MIGRATE"])
	var ingress workload
	b.get(t, "Deployment", "invitegate-ingress", &ingress)
	require.Equal(t, "invitegate/callback-token", containerEnv(ingress.Spec.Template.Spec.Containers[0])["INVITEGATE_CALLBACK_TOKEN"])
	for _, name := range []string{"invitegate-ingress", "invitegate-projector"} {
		var d workload
		b.get(t, "Deployment", name, &d)
		for _, v := range d.Spec.Template.Spec.Volumes {
			require.NotContains(t, v.Name, "migrate", "%s mounts no migrate key", name)
		}
	}
}
