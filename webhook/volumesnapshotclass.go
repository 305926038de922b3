package webhook

import (
	"context"
	"fmt"
	"slices"
	"strings"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// AnnotationDefaultClass marks a VolumeSnapshotClass as its driver's default.
const AnnotationDefaultClass = "snapshot.storage.kubernetes.io/is-default-class"

// Parameters of a Longhorn VolumeSnapshotClass and the values Longhorn's CSI driver knows.
const (
	paramType       = "type"
	paramBackupMode = "backupMode"
)

var (
	longhornTypes       = []string{"snap", "bak", "bi"}
	longhornBackupModes = []string{"incremental", "full"}
)

func isDefaultClass(c *snapv1.VolumeSnapshotClass) bool {
	return c.Annotations[AnnotationDefaultClass] == "true"
}

// classFacts are what the class rule knows about the other classes.
type classFacts struct {
	checked       bool     // the default-class rule applies (see defaultClassToCheck)
	otherDefaults []string // other default classes of the driver
	complete      bool     // otherDefaults holds every one there is
}

func (r *Rules) class(ctx context.Context, c, old *snapv1.VolumeSnapshotClass) (field.ErrorList, admission.Warnings) {
	var f classFacts
	if defaultClassToCheck(c, old) {
		names, complete := r.objects.DefaultClasses(ctx, c.Driver)
		f = classFacts{checked: true, otherDefaults: slices.DeleteFunc(names, func(n string) bool { return n == c.Name }), complete: complete}
	}
	return validateClass(c, old, r.longhorn(c.Driver), f)
}

// defaultClassToCheck: a class that becomes its driver's default. A class that already was
// the default of the same driver is not judged again (ratchet, as external-snapshotter's
// webhook did).
func defaultClassToCheck(c, old *snapv1.VolumeSnapshotClass) bool {
	return isDefaultClass(c) && (old == nil || !isDefaultClass(old) || old.Driver != c.Driver)
}

// validateClass is the VolumeSnapshotClass rule: one default class per driver (the check
// external-snapshotter dropped in v8.2) and, for Longhorn drivers, known parameters.
func validateClass(c, old *snapv1.VolumeSnapshotClass, longhorn bool, f classFacts) (field.ErrorList, admission.Warnings) {
	var errs field.ErrorList
	var warnings admission.Warnings
	if f.checked {
		p := field.NewPath("metadata", "annotations").Key(AnnotationDefaultClass)
		switch {
		case len(f.otherDefaults) > 0:
			slices.Sort(f.otherDefaults)
			errs = append(errs, field.Forbidden(p, fmt.Sprintf(
				"driver %q already has the default VolumeSnapshotClass %s; expected at most one default class per driver: remove the annotation here or there",
				c.Driver, quoteAll(f.otherDefaults))))
		case !f.complete:
			warnings = append(warnings, fmt.Sprintf("%s: could not check that driver %q has no other default VolumeSnapshotClass; at most one may be the default", p, c.Driver))
		}
	}
	if longhorn {
		e, w := validateLonghornParameters(c, old)
		errs, warnings = append(errs, e...), append(warnings, w...)
	}
	return errs, warnings
}

// validateLonghornParameters checks parameters.type (snap, bak or bi; the legacy bs with a
// warning) and parameters.backupMode (incremental or full). Unchanged values are not
// judged again.
func validateLonghornParameters(c, old *snapv1.VolumeSnapshotClass) (field.ErrorList, admission.Warnings) {
	kept := func(key string) bool {
		if old == nil {
			return false
		}
		v, ok := old.Parameters[key]
		w, ok2 := c.Parameters[key]
		return ok == ok2 && v == w
	}
	params := field.NewPath("parameters")
	var errs field.ErrorList
	var warnings admission.Warnings
	if t, ok := c.Parameters[paramType]; ok && !kept(paramType) {
		switch {
		case t == "bs":
			warnings = append(warnings, fmt.Sprintf("%s: bs is deprecated; write bak", params.Key(paramType)))
		case !slices.Contains(longhornTypes, t):
			errs = append(errs, field.NotSupported(params.Key(paramType), t, longhornTypes))
		}
	}
	if m, ok := c.Parameters[paramBackupMode]; ok && !kept(paramBackupMode) && !slices.Contains(longhornBackupModes, m) {
		errs = append(errs, field.NotSupported(params.Key(paramBackupMode), m, longhornBackupModes))
	}
	return errs, warnings
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
