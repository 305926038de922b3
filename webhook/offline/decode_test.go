package offline

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
)

// decoded is what a test compares of an Object.
type decoded struct {
	Source, Kind, Namespace, Name string
	Typed                         bool
	UnknownFields                 []string
}

func summarize(objs []Object) []decoded {
	var out []decoded
	for _, o := range objs {
		out = append(out, decoded{Source: o.Source, Kind: o.GVK.Kind, Namespace: o.Namespace, Name: o.Name, Typed: o.Typed != nil, UnknownFields: o.UnknownFields})
	}
	return out
}

// decodeCases are inputs of Decode and the objects it must find in them, with their sources.
var decodeCases = []struct {
	name, in string
	want     []decoded
}{{
	name: "multi-document YAML with comments, empty documents and a separator comment",
	in: `# leading comment
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata: {name: snap-a, namespace: apps}
spec:
  source: {volumeSnapshotContentName: content-a}
---
---   # empty
# only a comment
--- # next
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
`,
	want: []decoded{
		{Source: "in.yaml:1", Kind: "VolumeSnapshot", Namespace: "apps", Name: "snap-a", Typed: true},
		{Source: "in.yaml:11", Kind: "ConfigMap", Name: "cm"},
	},
}, {
	name: "List and *List kinds are flattened",
	in: `apiVersion: v1
kind: List
items:
- apiVersion: snapshot.storage.k8s.io/v1
  kind: VolumeSnapshotContent
  metadata: {name: content-a}
  spec: {driver: driver.longhorn.io, deletionPolicy: Retain, source: {snapshotHandle: "bak://vol-a/backup-1"}, volumeSnapshotRef: {name: snap-a, namespace: apps}}
---
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClassList
items:
- apiVersion: snapshot.storage.k8s.io/v1
  kind: VolumeSnapshotClass
  metadata: {name: longhorn}
  driver: driver.longhorn.io
  deletionPolicy: Delete
`,
	want: []decoded{
		{Source: "in.yaml:1 item 1", Kind: "VolumeSnapshotContent", Name: "content-a", Typed: true},
		{Source: "in.yaml:9 item 1", Kind: "VolumeSnapshotClass", Name: "longhorn", Typed: true},
	},
}, {
	name: "JSON stream",
	in: `{"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"}}
{"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "longhorn"}, "provisioner": "driver.longhorn.io"}
`,
	want: []decoded{
		{Source: "in.yaml:1", Kind: "PersistentVolumeClaim", Name: "data", Typed: true},
		{Source: "in.yaml:2", Kind: "StorageClass", Name: "longhorn", Typed: true},
	},
}, {
	name: "unknown fields of a known kind are kept",
	in: `apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata: {name: snap-a}
spec:
  volumeSnapshotClasName: longhorn
  source: {persistentVolumeClaimName: data}
`,
	want: []decoded{{Source: "in.yaml:1", Kind: "VolumeSnapshot", Name: "snap-a", Typed: true,
		UnknownFields: []string{`unknown field "spec.volumeSnapshotClasName"`}}},
}, {
	name: "empty input",
	in:   "\n# nothing\n---\n",
}}

func TestDecode(t *testing.T) {
	t.Parallel()
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Decode("in.yaml", []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, summarize(got)); diff != "" {
				t.Errorf("Decode (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeTyped(t *testing.T) {
	t.Parallel()
	objs, err := Decode("in.yaml", []byte(`apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotContent
metadata: {name: content-a}
spec: {driver: driver.longhorn.io, deletionPolicy: Retain, source: {snapshotHandle: "bak://vol-a/backup-1"}, volumeSnapshotRef: {name: snap-a, namespace: apps}}
`))
	if err != nil {
		t.Fatal(err)
	}
	c, ok := objs[0].Typed.(*snapv1.VolumeSnapshotContent)
	if !ok || c.Spec.Source.SnapshotHandle == nil || *c.Spec.Source.SnapshotHandle != "bak://vol-a/backup-1" || c.Spec.VolumeSnapshotRef.Namespace != "apps" {
		t.Fatalf("decoded %#v", objs[0].Typed)
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"YAML syntax", "apiVersion: v1\nkind: [\n", `in.yaml:1: yaml: line 2: did not find expected node content`},
		{"duplicate key", "apiVersion: v1\nkind: ConfigMap\nkind: Secret\n", `in.yaml:1: yaml: unmarshal errors:
  line 3: key "kind" already set in map`},
		{"second document", "apiVersion: v1\nkind: ConfigMap\n---\nkind: ConfigMap\n", `in.yaml:4: missing "apiVersion"`},
		{"missing kind", "apiVersion: v1\nmetadata: {name: x}\n", `in.yaml:1: missing "kind"`},
		{"not an object", "- a\n- b\n", `in.yaml:1: not a Kubernetes object: json: cannot unmarshal array into Go value of type struct { v1.TypeMeta "json:\",inline\""; Metadata struct { Name string "json:\"name\""; Namespace string "json:\"namespace\"" } "json:\"metadata\""; Items []json.RawMessage "json:\"items\"" }`},
		{"bad JSON", "{\"apiVersion\": \"v1\",\n \"kind\": }", `in.yaml:1: JSON value 1: invalid character '}' looking for beginning of value`},
		{"wrong type", "apiVersion: snapshot.storage.k8s.io/v1\nkind: VolumeSnapshot\nmetadata: {name: a}\nspec: {source: {persistentVolumeClaimName: 3}}\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Decode("in.yaml", []byte(tc.in))
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Decode error = %v, want a *DecodeError", err)
			}
			if tc.want != "" && err.Error() != tc.want {
				t.Errorf("Decode error:\n got %s\nwant %s", err, tc.want)
			}
		})
	}
}
