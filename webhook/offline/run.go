package offline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/snaprestore/snaprestore/webhook"
)

// Options configure an offline validation run (snaprestore validate).
type Options struct {
	// Files are the inputs, "-" for standard input (read once). At least one is required.
	Files []string
	// Old, when set, names a file whose objects are the existing versions: an input
	// object with the same kind, namespace and name is checked as an UPDATE from it.
	Old string
	// Namespace is given to namespaced objects that do not set one (default "default").
	Namespace string
	// LonghornDrivers are the CSI driver names whose handles must parse (default
	// webhook.DefaultLonghornDriver), the webhook's --longhorn-driver flag.
	LonghornDrivers []string
	// ProtectBackups denies deletionPolicy Delete on contents of existing backups, as
	// the webhook's --protect-backups.
	ProtectBackups bool
	// Stdin is read for "-" (default os.Stdin).
	Stdin io.Reader
}

// AddFlags binds the options to kebab-case flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&o.Files, "filename", "f", nil, "file with the objects to check (YAML or JSON, several documents, List kinds); - reads standard input; repeatable")
	fs.StringVar(&o.Old, "old", "", "file with the existing objects: matching objects are checked as an UPDATE")
	fs.StringVarP(&o.Namespace, "namespace", "n", "default", "namespace of namespaced objects that do not set one")
	webhook.AddLonghornDriverFlag(fs, &o.LonghornDrivers)
	fs.BoolVar(&o.ProtectBackups, "protect-backups", false, "deny deletionPolicy Delete on VolumeSnapshotContents of existing backups")
}

// SetDefaults fills unset fields with their defaults.
func (o *Options) SetDefaults() {
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if len(o.LonghornDrivers) == 0 {
		o.LonghornDrivers = []string{webhook.DefaultLonghornDriver}
	}
	if o.Stdin == nil {
		o.Stdin = os.Stdin
	}
}

// Validate checks the options after SetDefaults.
func (o *Options) Validate() error {
	if len(o.Files) == 0 {
		return errors.New("at least one -f FILE (or -f - for standard input) is required")
	}
	stdin := 0
	for _, f := range append([]string{o.Old}, o.Files...) {
		if f == "-" {
			stdin++
		}
	}
	if stdin > 1 {
		return errors.New("standard input (-) can be read only once")
	}
	return webhook.ValidateDrivers("--longhorn-driver", o.LonghornDrivers)
}

// InputError is input that cannot be read or decoded; snaprestore validate exits 2.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Run reads the files, checks every object with the webhook's rules and returns the
// report. Unreadable or undecodable input is an *InputError and nothing is checked.
func Run(ctx context.Context, o Options) (Report, error) {
	o.SetDefaults()
	if err := o.Validate(); err != nil {
		return Report{}, err
	}
	d := newDecoder()
	var objs, olds []Object
	for _, f := range o.Files {
		got, err := d.readFile(f, o.Stdin)
		if err != nil {
			return Report{}, &InputError{Err: err}
		}
		objs = append(objs, got...)
	}
	if o.Old != "" {
		got, err := d.readFile(o.Old, o.Stdin)
		if err != nil {
			return Report{}, &InputError{Err: err}
		}
		olds = got
	}
	setNamespaces(objs, o.Namespace)
	setNamespaces(olds, o.Namespace)
	return check(ctx, o, objs, olds), nil
}

func (d *decoder) readFile(name string, stdin io.Reader) ([]Object, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(stdin)
		name = "<stdin>"
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return d.decode(name, data)
}

// setNamespaces gives namespaced kinds the default namespace and clears the namespace of
// cluster-scoped ones, as the API server would.
func setNamespaces(objs []Object, namespace string) {
	for i := range objs {
		o := &objs[i]
		if o.Typed == nil {
			continue
		}
		acc, err := meta.Accessor(o.Typed)
		if err != nil {
			continue
		}
		switch {
		case !namespaced(o.GVK):
			o.Namespace = ""
		case o.Namespace == "":
			o.Namespace = namespace
		}
		acc.SetNamespace(o.Namespace)
	}
}

func namespaced(gvk schema.GroupVersionKind) bool {
	return gvk.Kind == "VolumeSnapshot" || gvk.Kind == "PersistentVolumeClaim"
}

// objectKey identifies an object across the input and --old files.
type objectKey struct {
	gvk             schema.GroupVersionKind
	namespace, name string
}

func keyOf(o Object) objectKey { return objectKey{o.GVK, o.Namespace, o.Name} }

// check runs the rules on every object; the index sees the new objects, and for objects
// only in --old files, the old ones (they exist already).
func check(ctx context.Context, o Options, objs, olds []Object) Report {
	oldByKey := map[objectKey]runtime.Object{}
	for _, old := range olds {
		if old.Typed != nil {
			oldByKey[keyOf(old)] = old.Typed
		}
	}
	world := append(append([]Object{}, olds...), objs...)
	ix := newIndex(world)
	var rep Report
	for _, obj := range objs {
		res := Result{Source: obj.Source, Kind: obj.GVK.Kind, Namespace: obj.Namespace, Name: obj.Name, Operation: "CREATE"}
		old := oldByKey[keyOf(obj)]
		if old != nil {
			res.Operation = "UPDATE"
		}
		covered := false
		if obj.Typed != nil {
			var causes, warnings []string
			causes, warnings, covered = validate(ctx, o, ix, obj.Typed, old)
			for _, f := range obj.UnknownFields {
				causes = append(causes, f)
			}
			res.Causes, res.Warnings = causes, warnings
		}
		switch {
		case !covered:
			res.Verdict = Skipped
		case len(res.Causes) > 0:
			res.Verdict = Denied
		default:
			res.Verdict = Allowed
		}
		rep.Results = append(rep.Results, res)
	}
	return rep
}
