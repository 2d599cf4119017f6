package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// envName is the shape of a flag's environment variable: INVITEGATE_ and the
// flag in upper snake case.
var envName = regexp.MustCompile(`^INVITEGATE_[A-Z0-9]+(_[A-Z0-9]+)*$`)

// EnvNames returns every INVITEGATE_* environment variable set by the compose
// file and the Kubernetes manifests (Deployment env, ConfigMap literals),
// sorted and without duplicates. Each must be the variable of a flag of the
// role it configures: an unknown variable is silently ignored by the binary.
func EnvNames() ([]string, error) {
	var names []string
	compose, err := readFile(ComposeFile)
	if err != nil {
		return nil, err
	}
	n, err := yamlEnvNames(ComposeFile, compose)
	if err != nil {
		return nil, err
	}
	names = append(names, n...)
	err = fs.WalkDir(files, K8sDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		data, err := readFile(path)
		if err != nil {
			return err
		}
		n, err := yamlEnvNames(path, data)
		names = append(names, n...)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// yamlEnvNames collects, from every document of a YAML stream, the map keys,
// `name:` values and `NAME=value` strings that are INVITEGATE_* variables.
func yamlEnvNames(source string, data []byte) ([]string, error) {
	var names []string
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return names, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, i, err)
		}
		walkEnvNames(&doc, &names)
	}
}

func walkEnvNames(n *yaml.Node, names *[]string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if envName.MatchString(k.Value) {
				*names = append(*names, k.Value)
			}
			if k.Value == "name" && v.Kind == yaml.ScalarNode && envName.MatchString(v.Value) {
				*names = append(*names, v.Value)
			}
			walkEnvNames(v, names)
		}
	case yaml.ScalarNode:
		if name, _, ok := strings.Cut(n.Value, "="); ok && envName.MatchString(name) {
			*names = append(*names, name)
		}
	default: // documents, sequences, aliases' targets are walked where defined
		for _, c := range n.Content {
			walkEnvNames(c, names)
		}
	}
}
