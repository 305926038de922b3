package offline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"sigs.k8s.io/yaml"
)

// Object is one decoded object of an input file.
type Object struct {
	// Source says where the object came from: "file.yaml:12" (the document's first line),
	// with " item N" for members of a List.
	Source string
	GVK    schema.GroupVersionKind
	// Namespace and Name as written; Namespace is empty for cluster-scoped kinds and for
	// namespaced objects that do not set it (the caller applies its default).
	Namespace, Name string
	// Typed is the decoded object for the kinds snaprestore knows (VolumeSnapshot,
	// VolumeSnapshotContent, VolumeSnapshotClass, PersistentVolumeClaim, StorageClass),
	// else nil.
	Typed runtime.Object
	// UnknownFields lists fields the known kind does not have (strict decoding), e.g.
	// `unknown field "spec.volumeSnapshotClasName"`.
	UnknownFields []string
}

// DecodeError is input that cannot be read as Kubernetes objects.
type DecodeError struct {
	Source string // "file.yaml:12"
	Err    error
}

func (e *DecodeError) Error() string { return e.Source + ": " + e.Err.Error() }
func (e *DecodeError) Unwrap() error { return e.Err }

// newScheme registers the kinds the offline validator decodes into Go types.
func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{snapv1.AddToScheme, corev1.AddToScheme, storagev1.AddToScheme} {
		if err := add(s); err != nil {
			panic(fmt.Sprintf("register scheme: %v", err)) // programmer error: static types
		}
	}
	return s
}

// knownKind reports whether gvk is one of the kinds decoded into Go types.
func knownKind(gvk schema.GroupVersionKind) bool {
	switch gvk {
	case snapv1.SchemeGroupVersion.WithKind("VolumeSnapshot"),
		snapv1.SchemeGroupVersion.WithKind("VolumeSnapshotContent"),
		snapv1.SchemeGroupVersion.WithKind("VolumeSnapshotClass"),
		corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"),
		storagev1.SchemeGroupVersion.WithKind("StorageClass"):
		return true
	}
	return false
}

// decoder turns documents into Objects; one per Run, not shared.
type decoder struct {
	scheme *runtime.Scheme
	strict *kjson.Serializer
}

func newDecoder() *decoder {
	s := newScheme()
	return &decoder{scheme: s, strict: kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, s, s, kjson.SerializerOptions{Strict: true})}
}

// Decode reads every object of a multi-document YAML or JSON stream (a JSON stream
// may hold several top-level values); List kinds are flattened into their items. name
// labels the input in Sources and errors.
func Decode(name string, data []byte) ([]Object, error) {
	return newDecoder().decode(name, data)
}

func (d *decoder) decode(name string, data []byte) ([]Object, error) {
	docs, err := splitDocuments(name, data)
	if err != nil {
		return nil, err
	}
	var out []Object
	for _, doc := range docs {
		objs, err := d.decodeDocument(doc.source, doc.json)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// document is one YAML or JSON document converted to JSON, "" when it holds nothing.
type document struct {
	source string
	json   []byte
}

// splitDocuments splits YAML at "---" lines, or a JSON stream into its values, and
// converts each document to JSON. Duplicate keys are errors (as in kubectl's strict mode).
func splitDocuments(name string, data []byte) ([]document, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		return splitJSON(name, data)
	}
	var docs []document
	lines := strings.SplitAfter(string(data), "\n")
	start, first := 0, 1
	flush := func(end int) error {
		text := strings.Join(lines[start:end], "")
		source := fmt.Sprintf("%s:%d", name, first)
		j, err := yaml.YAMLToJSONStrict([]byte(text))
		if err != nil {
			return &DecodeError{Source: source, Err: err}
		}
		if t := bytes.TrimSpace(j); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
			docs = append(docs, document{source: source, json: j})
		}
		return nil
	}
	for i, line := range lines {
		if isSeparator(line) {
			if err := flush(i); err != nil {
				return nil, err
			}
			start, first = i+1, i+2
		}
	}
	if err := flush(len(lines)); err != nil {
		return nil, err
	}
	return docs, nil
}

// isSeparator reports whether a YAML line starts a new document ("---", optionally
// followed by a comment).
func isSeparator(line string) bool {
	rest, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "---")
	if !ok {
		return false
	}
	rest = strings.TrimSpace(rest)
	return rest == "" || strings.HasPrefix(rest, "#")
}

// splitJSON reads a stream of JSON values.
func splitJSON(name string, data []byte) ([]document, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var docs []document
	for i := 1; ; i++ {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		source := fmt.Sprintf("%s:%d", name, 1+bytes.Count(data[:dec.InputOffset()], []byte("\n")))
		if err != nil {
			return nil, &DecodeError{Source: source, Err: fmt.Errorf("JSON value %d: %w", i, err)}
		}
		// Round-trip through the strict YAML reader to reject duplicate keys like the YAML path.
		if _, err := yaml.YAMLToJSONStrict(raw); err != nil {
			return nil, &DecodeError{Source: source, Err: err}
		}
		if !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			docs = append(docs, document{source: source, json: raw})
		}
	}
}

// decodeDocument decodes one JSON document, flattening List kinds.
func (d *decoder) decodeDocument(source string, data []byte) ([]Object, error) {
	var head struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, &DecodeError{Source: source, Err: fmt.Errorf("not a Kubernetes object: %w", err)}
	}
	switch {
	case head.APIVersion == "":
		return nil, &DecodeError{Source: source, Err: errors.New(`missing "apiVersion"`)}
	case head.Kind == "":
		return nil, &DecodeError{Source: source, Err: errors.New(`missing "kind"`)}
	}
	gvk := schema.FromAPIVersionAndKind(head.APIVersion, head.Kind)
	if strings.HasSuffix(head.Kind, "List") {
		var out []Object
		for i, item := range head.Items {
			objs, err := d.decodeDocument(fmt.Sprintf("%s item %d", source, i+1), item)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
		return out, nil
	}
	obj := Object{Source: source, GVK: gvk, Namespace: head.Metadata.Namespace, Name: head.Metadata.Name}
	if !knownKind(gvk) {
		return []Object{obj}, nil
	}
	typed, _, err := d.strict.Decode(data, &gvk, nil)
	if err != nil {
		strictErr, ok := runtime.AsStrictDecodingError(err)
		if !ok || typed == nil {
			return nil, &DecodeError{Source: source, Err: err}
		}
		for _, e := range strictErr.Errors() {
			obj.UnknownFields = append(obj.UnknownFields, e.Error())
		}
	}
	obj.Typed = typed
	return []Object{obj}, nil
}
