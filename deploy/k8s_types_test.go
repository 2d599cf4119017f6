package deploy

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// The parts of Kubernetes objects the tests look at; encoding/json matches
// field names case-insensitively, so most fields need no tag.

type meta struct {
	Name        string
	Namespace   string
	Labels      map[string]string
	Annotations map[string]string
}

type object struct {
	APIVersion string
	Kind       string
	Metadata   meta
	raw        []byte
}

type workload struct {
	Kind     string
	Metadata meta
	Spec     struct {
		Replicas *int
		Selector struct{ MatchLabels map[string]string }
		Template struct {
			Metadata meta
			Spec     podSpec
		}
		VolumeClaimTemplates []json.RawMessage
	}
}

type podSpec struct {
	AutomountServiceAccountToken *bool
	SecurityContext              *securityContext
	TopologySpreadConstraints    []struct{ TopologyKey string }
	Affinity                     *struct {
		PodAntiAffinity *struct {
			RequiredDuringSchedulingIgnoredDuringExecution []struct {
				TopologyKey   string
				LabelSelector struct{ MatchLabels map[string]string }
			}
		}
	}
	Containers []container
	Volumes    []volume
}

type container struct {
	Name            string
	Image           string
	Args            []string
	Env             []envVar
	EnvFrom         []struct{ ConfigMapRef, SecretRef *ref }
	ReadinessProbe  *probe
	LivenessProbe   *probe
	Resources       struct{ Requests, Limits map[string]string }
	SecurityContext *securityContext
	VolumeMounts    []struct{ Name, MountPath string }
}

type ref struct{ Name, Key string }

type envVar struct {
	Name      string
	Value     string
	ValueFrom *struct{ SecretKeyRef, ConfigMapKeyRef *ref }
}

type probe struct {
	HTTPGet *struct {
		Path string
		Port any
	}
}

type securityContext struct {
	RunAsNonRoot             *bool
	ReadOnlyRootFilesystem   *bool
	AllowPrivilegeEscalation *bool
	Capabilities             *struct{ Drop []string }
	SeccompProfile           *struct{ Type string }
}

type volume struct {
	Name      string
	EmptyDir  *struct{ SizeLimit string }
	Secret    *struct{ SecretName string }
	ConfigMap *struct{ Name string }
}

// built is the output of one kustomize build.
type built struct {
	objects []object
}

// kustomize builds dir (relative to deploy/) with the kustomize Go library,
// as `kubectl apply -k` would.
func kustomize(t *testing.T, dir string) built {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	require.NoError(t, err, "kustomize build %s", dir)
	var b built
	for _, r := range m.Resources() {
		raw, err := r.MarshalJSON()
		require.NoError(t, err)
		var o object
		require.NoError(t, json.Unmarshal(raw, &o))
		o.raw = raw
		b.objects = append(b.objects, o)
	}
	return b
}

// all returns the objects of a kind.
func (b built) all(kind string) []object {
	var out []object
	for _, o := range b.objects {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// get decodes the object of kind and name into v, failing when it is absent.
func (b built) get(t *testing.T, kind, name string, v any) {
	t.Helper()
	for _, o := range b.objects {
		if o.Kind == kind && o.Metadata.Name == name {
			require.NoError(t, json.Unmarshal(o.raw, v))
			return
		}
	}
	require.Failf(t, "missing object", "%s/%s", kind, name)
}

// workloads returns every Deployment, StatefulSet and Job.
func (b built) workloads(t *testing.T) []workload {
	t.Helper()
	var out []workload
	for _, o := range b.objects {
		if o.Kind == "Deployment" || o.Kind == "StatefulSet" || o.Kind == "Job" {
			var w workload
			require.NoError(t, json.Unmarshal(o.raw, &w))
			out = append(out, w)
		}
	}
	return out
}

// configData returns the data of the ConfigMap generated as name (kustomize
// adds a content hash to the name).
func (b built) configData(t *testing.T, name string) map[string]string {
	t.Helper()
	for _, o := range b.objects {
		if o.Kind == "ConfigMap" && (o.Metadata.Name == name || hasHashSuffix(o.Metadata.Name, name)) {
			var cm struct{ Data map[string]string }
			require.NoError(t, json.Unmarshal(o.raw, &cm))
			return cm.Data
		}
	}
	require.Failf(t, "missing ConfigMap", "%s", name)
	return nil
}

func hasHashSuffix(name, base string) bool {
	return len(name) == len(base)+11 && name[:len(base)+1] == base+"-"
}
