package cluster

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/snaprestore/snaprestore/test/testenv"
)

// SnapshotCRDs reads the snapshot.storage.k8s.io CRDs of the external-snapshotter
// client module this project builds with (found with `go list -m` from dir, a
// directory inside the module). With stripCEL every x-kubernetes-validations
// rule is removed, as in the v6/v7 CRDs many clusters still run.
func SnapshotCRDs(dir string, stripCEL bool) ([]*apiextv1.CustomResourceDefinition, error) {
	mod, err := testenv.ModuleDir(dir, testenv.SnapshotModule)
	if err != nil {
		return nil, err
	}
	crdDir := filepath.Join(mod, "config", "crd")
	paths, err := filepath.Glob(filepath.Join(crdDir, "snapshot.storage.k8s.io_*.yaml"))
	if err != nil || len(paths) == 0 {
		return nil, fmt.Errorf("no snapshot.storage.k8s.io_*.yaml CRDs in %s", crdDir)
	}
	var crds []*apiextv1.CustomResourceDefinition
	for _, p := range paths {
		crd, err := readCRD(p, stripCEL)
		if err != nil {
			return nil, err
		}
		crds = append(crds, crd)
	}
	return crds, nil
}

func readCRD(path string, stripCEL bool) (*apiextv1.CustomResourceDefinition, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if stripCEL {
		stripValidations(doc)
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var crd apiextv1.CustomResourceDefinition
	if err := json.Unmarshal(raw, &crd); err != nil {
		return nil, fmt.Errorf("%s: not a CustomResourceDefinition: %w", path, err)
	}
	return &crd, nil
}

// stripValidations removes every x-kubernetes-validations key below v.
func stripValidations(v any) {
	switch t := v.(type) {
	case map[string]any:
		delete(t, "x-kubernetes-validations")
		for _, c := range t {
			stripValidations(c)
		}
	case []any:
		for _, c := range t {
			stripValidations(c)
		}
	}
}
