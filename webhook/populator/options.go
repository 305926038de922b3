package populator

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Names shared by the controller, the pod it creates and the chart.
const (
	// EnvBackupstore is the variable the populator pod reads the backupstore
	// URL from (the controller sets it, a backupstore Secret may override it).
	EnvBackupstore = "BACKUPSTORE"
	// EnvDefaultBackupstore carries the release's backupstore URL: a separate
	// name, because a container's env wins over its envFrom and a BackupSource's
	// Secret must be able to override it.
	EnvDefaultBackupstore = "SNAPRESTORE_DEFAULT_BACKUPSTORE"
	// EnvPodName and EnvPodNamespace let the pod report progress on itself.
	EnvPodName      = "POD_NAME"
	EnvPodNamespace = "POD_NAMESPACE"
	// Finalizer is set on the user's PVC and on the BackupSource while a
	// population runs, so deleting either cleans up the prime PVC and the pod.
	Finalizer = "snaprestore.io/populate"
	// AnnProgress is set by the populator pod on itself: "<bytes>/<total>".
	AnnProgress = "snaprestore.io/progress"
	// AnnResult is set by the populator pod on itself once its volume is
	// written, verified and synced: the Result of its termination message,
	// so the controller hands the volume over without waiting for the
	// kubelet to notice the exit (its PLEG relists containers every second).
	AnnResult = "snaprestore.io/result"
	// AnnAttempts on the prime PVC counts failed pods of a population.
	AnnAttempts = "snaprestore.io/populate-attempts"
	// AnnPopulatedFor on the prime PVC and the pod names the user's PVC as
	// "<namespace>/<name>/<uid>".
	AnnPopulatedFor = "snaprestore.io/populated-for"
	// AnnCreatedFor on a BackupSource the webhook created for an annotated PVC
	// names that PVC; the controller then makes the PVC its owner.
	AnnCreatedFor = "snaprestore.io/created-for-pvc"
	// LabelComponent marks every object the controller creates.
	LabelComponent = "snaprestore.io/component"
	ComponentValue = "populator"
	// AnnSelectedNode is set by the scheduler on a WaitForFirstConsumer PVC.
	AnnSelectedNode = "volume.kubernetes.io/selected-node"
	// DevicePath and MountPath are where the pod sees the prime volume.
	DevicePath = "/dev/snaprestore-target"
	MountPath  = "/snaprestore-target"
)

// Defaults of Options.
const (
	DefaultImage       = "snaprestore:latest"
	DefaultMaxAttempts = 6
	DefaultBackoff     = 10 * time.Second
)

// Options configure the populator controller (flags of `snaprestore webhook`).
type Options struct {
	// Enabled runs the controller (--populator). Default false: it needs the
	// BackupSource CRD, which the chart installs and turns it on with.
	Enabled bool
	// Namespace holds prime PVCs and populator pods (--populator-namespace).
	// Default: the namespace the webhook runs in (POD_NAMESPACE), else "default".
	Namespace string
	// Image of the populator pod (--populator-image). Default snaprestore:latest;
	// the chart passes the webhook's own image.
	Image string
	// PullPolicy of that image (--populator-image-pull-policy). Default IfNotPresent.
	PullPolicy corev1.PullPolicy
	// ServiceAccount of the pod (--populator-service-account); it needs only
	// patch on its own pod for progress. Default "": the namespace's default.
	ServiceAccount string
	// CPURequest, MemoryRequest, MemoryLimit are the pod's resources
	// (--populator-cpu-request 100m, --populator-memory-request 64Mi,
	// --populator-memory-limit 512Mi; "0" leaves one unset).
	CPURequest, MemoryRequest, MemoryLimit string
	// Backupstore is the URL the pod restores from unless a Secret names one
	// (the webhook's --backupstore). Default "".
	Backupstore string
	// BackupstoreSecret in Namespace holds the release's S3 settings (AWS_*
	// keys and optionally BACKUPSTORE) (--populator-backupstore-secret). Default "".
	BackupstoreSecret string
	// MaxAttempts is how many pods fail before a population is given up
	// (--populator-max-attempts). Default 6; a damaged backup fails at once.
	MaxAttempts int
	// Backoff is the wait after the first failed pod, doubled per attempt up
	// to 5m (--populator-backoff). Default 10s.
	Backoff time.Duration
	// BlockRunAsUser, when not 0, runs Block pods as that user and group, with
	// runAsNonRoot (--populator-block-run-as-user). The raw device the kubelet
	// maps is root's unless the node's runtime gives it the pod's user
	// (containerd and CRI-O: device_ownership_from_security_context = true);
	// without that a non-root pod cannot open it and fails at once, saying so.
	// Default 0: root, with no capabilities. Filesystem pods stay root: they
	// restore each file's owner, which needs CAP_CHOWN, and Kubernetes grants
	// a non-root process no capabilities.
	BlockRunAsUser int64
}

// AddFlags binds the options to fs with their defaults.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.Enabled, "populator", false, "Run the BackupSource volume populator (needs the BackupSource CRD).")
	fs.StringVar(&o.Namespace, "populator-namespace", "", "Namespace of prime PVCs and populator pods (default: the webhook's namespace).")
	fs.StringVar(&o.Image, "populator-image", DefaultImage, "Image of the populator pods (the snaprestore image).")
	fs.StringVar((*string)(&o.PullPolicy), "populator-image-pull-policy", string(corev1.PullIfNotPresent), "Pull policy of the populator image.")
	fs.StringVar(&o.ServiceAccount, "populator-service-account", "", "ServiceAccount of populator pods (patch on pods, for progress).")
	fs.StringVar(&o.CPURequest, "populator-cpu-request", DefaultCPURequest, `CPU request of populator pods ("0": none).`)
	fs.StringVar(&o.MemoryRequest, "populator-memory-request", DefaultMemoryRequest, `Memory request of populator pods ("0": none).`)
	fs.StringVar(&o.MemoryLimit, "populator-memory-limit", DefaultMemoryLimit, `Memory limit of populator pods ("0": none).`)
	fs.StringVar(&o.BackupstoreSecret, "populator-backupstore-secret", "", "Secret with the backupstore's S3 settings for populator pods.")
	fs.IntVar(&o.MaxAttempts, "populator-max-attempts", DefaultMaxAttempts, "Failed populator pods before a population is given up.")
	fs.DurationVar(&o.Backoff, "populator-backoff", DefaultBackoff, "Wait after the first failed populator pod (doubled per attempt, at most 5m).")
	fs.Int64Var(&o.BlockRunAsUser, "populator-block-run-as-user", 0, "User and group of Block populator pods, non-root when not 0 (the nodes' runtime must set device ownership from the security context).")
}

// Defaults of the pod resources.
const (
	DefaultCPURequest    = "100m"
	DefaultMemoryRequest = "64Mi"
	DefaultMemoryLimit   = "512Mi"
)

// SetDefaults fills zero fields with the flags' defaults. Namespace stays
// empty; Add resolves it (POD_NAMESPACE, else "default").
func (o *Options) SetDefaults() {
	for _, q := range []struct {
		v *string
		d string
	}{
		{&o.CPURequest, DefaultCPURequest}, {&o.MemoryRequest, DefaultMemoryRequest}, {&o.MemoryLimit, DefaultMemoryLimit},
	} {
		if *q.v == "" {
			*q.v = q.d
		}
	}
	if o.Image == "" {
		o.Image = DefaultImage
	}
	if o.PullPolicy == "" {
		o.PullPolicy = corev1.PullIfNotPresent
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Backoff == 0 {
		o.Backoff = DefaultBackoff
	}
}

// Validate reports every invalid option, naming its flag.
func (o *Options) Validate() error {
	var errs []error
	if o.Namespace != "" {
		if msgs := validation.IsDNS1123Label(o.Namespace); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("--populator-namespace %q: %s", o.Namespace, strings.Join(msgs, "; ")))
		}
	}
	switch o.PullPolicy {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		errs = append(errs, fmt.Errorf("--populator-image-pull-policy %q: expected Always, IfNotPresent or Never", o.PullPolicy))
	}
	for _, q := range []struct{ flag, v string }{
		{"--populator-cpu-request", o.CPURequest}, {"--populator-memory-request", o.MemoryRequest}, {"--populator-memory-limit", o.MemoryLimit},
	} {
		if q.v == "" {
			continue
		}
		if _, err := resource.ParseQuantity(q.v); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: expected a quantity such as 100m or 64Mi", q.flag, q.v))
		}
	}
	if o.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("--populator-max-attempts %d: expected a positive number", o.MaxAttempts))
	}
	if o.Backoff < 0 {
		errs = append(errs, fmt.Errorf("--populator-backoff %s: expected a positive duration", o.Backoff))
	}
	if o.BlockRunAsUser < 0 || o.BlockRunAsUser > math.MaxInt32 {
		errs = append(errs, fmt.Errorf("--populator-block-run-as-user %d: expected 0 (root) or a user ID up to %d", o.BlockRunAsUser, math.MaxInt32))
	}
	return errors.Join(errs...)
}

// resources builds the pod's requirements from validated quantities.
func (o *Options) resources() corev1.ResourceRequirements {
	var r corev1.ResourceRequirements
	set := func(l *corev1.ResourceList, name corev1.ResourceName, v string) {
		if q, err := resource.ParseQuantity(v); err == nil && !q.IsZero() {
			if *l == nil {
				*l = corev1.ResourceList{}
			}
			(*l)[name] = q
		}
	}
	set(&r.Requests, corev1.ResourceCPU, o.CPURequest)
	set(&r.Requests, corev1.ResourceMemory, o.MemoryRequest)
	set(&r.Limits, corev1.ResourceMemory, o.MemoryLimit)
	return r
}
