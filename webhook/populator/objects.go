package populator

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/snaprestore/snaprestore/webhook/populator/api/v1alpha1"
)

// primeName and podName are deterministic per user PVC (its UID), so a
// restarted controller finds what it created.
func primeName(pvc *corev1.PersistentVolumeClaim) string { return "prime-" + string(pvc.UID) }
func podName(pvc *corev1.PersistentVolumeClaim) string   { return "populate-" + string(pvc.UID) }
func secretName(pvc *corev1.PersistentVolumeClaim) string {
	return "populate-" + string(pvc.UID)
}

func populatedFor(pvc *corev1.PersistentVolumeClaim) string {
	return pvc.Namespace + "/" + pvc.Name + "/" + string(pvc.UID)
}

// parsePopulatedFor splits AnnPopulatedFor into the user PVC's namespace and name.
func parsePopulatedFor(v string) (namespace, name string, ok bool) {
	parts := strings.Split(v, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return "", "", false
	}
	return parts[0], parts[1], true
}

func ownedMeta(name, namespace string, pvc *corev1.PersistentVolumeClaim) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name, Namespace: namespace,
		Labels:      map[string]string{LabelComponent: ComponentValue},
		Annotations: map[string]string{AnnPopulatedFor: populatedFor(pvc)},
	}
}

// newPrime is the prime PVC: the user's class, mode, access modes and size, in
// ns; on a WaitForFirstConsumer class it is placed on the node the scheduler
// chose for the user's pod.
func newPrime(pvc *corev1.PersistentVolumeClaim, ns string) *corev1.PersistentVolumeClaim {
	p := &corev1.PersistentVolumeClaim{
		ObjectMeta: ownedMeta(primeName(pvc), ns, pvc),
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      pvc.Spec.AccessModes,
			Resources:        *pvc.Spec.Resources.DeepCopy(),
			StorageClassName: pvc.Spec.StorageClassName,
			VolumeMode:       pvc.Spec.VolumeMode,
		},
	}
	if node := pvc.Annotations[AnnSelectedNode]; node != "" {
		p.Annotations[AnnSelectedNode] = node
	}
	return p
}

// securityContext: no privilege escalation, read-only root, only the added
// capabilities, and the user uid unless it is 0. Raw block devices are
// root-owned unless the node's runtime sets device ownership from the
// security context (fsGroup does not apply to them), so a Block writer is
// root with no capability unless Options.BlockRunAsUser says the nodes allow
// a non-root one.
func securityContext(uid int64, add []corev1.Capability) *corev1.SecurityContext {
	sc := &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: add},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	if uid != 0 {
		sc.RunAsUser, sc.RunAsGroup, sc.RunAsNonRoot = ptr.To(uid), ptr.To(uid), ptr.To(true)
	}
	return sc
}

// newPod is the populator pod: `snaprestore populate` onto the prime PVC's
// device, the backupstore from the options or a Secret, no API access beyond
// its own pod, no privilege escalation, read-only root. A Block pod gets the
// resume record ("" for none) in SNAPRESTORE_RESUME_RECORD.
func newPod(pvc *corev1.PersistentVolumeClaim, src *v1alpha1.BackupSource, o *Options, secret, record string) *corev1.Pod {
	env := []corev1.EnvVar{
		{Name: EnvPodName, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: EnvPodNamespace, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
	}
	if o.Backupstore != "" {
		env = append(env, corev1.EnvVar{Name: EnvDefaultBackupstore, Value: o.Backupstore})
	}
	if record != "" && isBlock(pvc) {
		env = append(env, corev1.EnvVar{Name: EnvResumeRecord, Value: record})
	}
	var envFrom []corev1.EnvFromSource
	for _, s := range []string{o.BackupstoreSecret, secret} { // later entries win
		if s != "" {
			envFrom = append(envFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: s}}})
		}
	}
	c := corev1.Container{
		Name:            "populate",
		Image:           o.Image,
		ImagePullPolicy: o.PullPolicy,
		Command:         []string{"snaprestore"},
		Args:            []string{"populate", "--backup", src.Spec.Backup, "--device", DevicePath, "--result-file", DefaultResultFile},
		Env:             env,
		EnvFrom:         envFrom,
		Resources:       o.resources(),
		VolumeDevices:   []corev1.VolumeDevice{{Name: "target", DevicePath: DevicePath}},
		SecurityContext: securityContext(o.BlockRunAsUser, nil),
		// The result is the termination message; a pod killed before writing it
		// falls back to the log tail.
		TerminationMessagePath:   DefaultResultFile,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	if pvc.Spec.VolumeMode == nil || *pvc.Spec.VolumeMode == corev1.PersistentVolumeFilesystem {
		c.Args = []string{"populate", "--backup", src.Spec.Backup, "--dir", MountPath, "--result-file", DefaultResultFile}
		c.VolumeDevices = nil
		c.VolumeMounts = []corev1.VolumeMount{{Name: "target", MountPath: MountPath}}
		// Files keep their owners, set-id bits and device nodes: those need
		// these capabilities, and nothing more.
		c.SecurityContext = securityContext(0, []corev1.Capability{"CHOWN", "FOWNER", "DAC_OVERRIDE", "FSETID", "MKNOD"})
	}
	pod := &corev1.Pod{
		ObjectMeta: ownedMeta(podName(pvc), o.Namespace, pvc),
		Spec: corev1.PodSpec{
			RestartPolicy:      corev1.RestartPolicyNever,
			ServiceAccountName: o.ServiceAccount,
			Containers:         []corev1.Container{c},
			Volumes: []corev1.Volume{{Name: "target", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: primeName(pvc)}}}},
		},
	}
	if node := pvc.Annotations[AnnSelectedNode]; node != "" {
		pod.Spec.NodeName = node // lib-volume-populator does the same: the prime binds there
	}
	return pod
}
