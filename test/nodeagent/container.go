package nodeagent

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ErrUnsupported marks a pod the agent refuses to run; the pod is set Failed with
// the message instead of being run half right.
var ErrUnsupported = errors.New("not supported by the test node agent")

// hostVolume is a pod volume as the agent backs it on the host.
type hostVolume struct {
	path  string
	block bool // a PV's raw block file; otherwise a directory
}

// envSources are the Secrets and ConfigMaps of the pod's namespace that its
// containers reference, as read from the API server (absent when not found).
type envSources struct {
	secrets    map[string]map[string][]byte
	configMaps map[string]map[string]string
}

// procSpec is one container as a host process.
type procSpec struct {
	name     string
	argv     []string
	env      []string
	dir      string
	termPath string // the host file the termination message path maps to
}

// termFile, in a container's work dir, is its termination message file.
const termFile = "termination-log"

// planContainer turns container c (at path fp) of pod into a process: the image's
// binary or a host command, env with $(VAR) expanded, container paths substituted
// with host paths (see substitute), in workDir unless workingDir says otherwise.
func planContainer(pod *corev1.Pod, c *corev1.Container, fp *field.Path, images map[string]string,
	vols map[string]hostVolume, src envSources, workDir string) (procSpec, error) {
	entry, ok := images[c.Image]
	if !ok {
		return procSpec{}, fmt.Errorf("%s: image %q is not one of nodeagent Options.Images (%s): %w",
			fp.Child("image"), c.Image, strings.Join(sortedKeys(images), ", "), ErrUnsupported)
	}
	maps, err := containerPaths(c, fp, vols)
	if err != nil {
		return procSpec{}, err
	}
	p := procSpec{name: c.Name, dir: workDir, termPath: filepath.Join(workDir, termFile)}
	tmp := c.TerminationMessagePath
	if tmp == "" {
		tmp = corev1.TerminationMessagePathDefault
	}
	maps = append(maps, pathMap{tmp, p.termPath})
	env, vars, err := containerEnv(pod, c, fp, src)
	if err != nil {
		return procSpec{}, err
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		p.env = append(p.env, k+"="+substitute(v, maps))
	}
	argv := append(append([]string(nil), c.Command...), c.Args...)
	if len(c.Command) == 0 {
		argv = append([]string{entry}, argv...)
	}
	for i := range argv {
		argv[i] = substitute(expand(argv[i], vars), maps)
	}
	if argv[0], err = resolveCommand(argv[0], entry); err != nil {
		return procSpec{}, fmt.Errorf("%s: %w", fp.Child("command").Index(0), err)
	}
	if c.WorkingDir != "" {
		p.dir = substitute(c.WorkingDir, maps)
	}
	p.argv = argv
	return p, nil
}

// resolveCommand is the image's binary when cmd names it (same base name), else
// cmd found on the host's PATH, as an image's shell or tools would be.
func resolveCommand(cmd, entry string) (string, error) {
	if filepath.Base(cmd) == filepath.Base(entry) {
		return entry, nil
	}
	p, err := exec.LookPath(cmd)
	if err != nil {
		p, err = exec.LookPath(filepath.Base(cmd))
	}
	if err != nil {
		return "", fmt.Errorf("command %q is neither the image's binary %s nor found on the host: %w", cmd, entry, ErrUnsupported)
	}
	return p, nil
}

// containerPaths maps c's volumeMounts (to directories) and volumeDevices (to
// block files) to host paths.
func containerPaths(c *corev1.Container, fp *field.Path, vols map[string]hostVolume) ([]pathMap, error) {
	var maps []pathMap
	for i, m := range c.VolumeMounts {
		mp := fp.Child("volumeMounts").Index(i)
		v, ok := vols[m.Name]
		switch {
		case !ok:
			return nil, fmt.Errorf("%s: no volume %q in spec.volumes: %w", mp.Child("name"), m.Name, ErrUnsupported)
		case v.block:
			return nil, fmt.Errorf("%s: volume %q is a Block volume; expected it in volumeDevices: %w", mp.Child("name"), m.Name, ErrUnsupported)
		case filepath.Clean(m.MountPath) == "/" || !filepath.IsAbs(m.MountPath):
			return nil, fmt.Errorf("%s: %q: expected an absolute path below /: %w", mp.Child("mountPath"), m.MountPath, ErrUnsupported)
		}
		maps = append(maps, pathMap{filepath.Clean(m.MountPath), filepath.Join(v.path, m.SubPath)})
	}
	for i, d := range c.VolumeDevices {
		dp := fp.Child("volumeDevices").Index(i)
		v, ok := vols[d.Name]
		if !ok || !v.block {
			return nil, fmt.Errorf("%s: volume %q is not a Block PVC volume; expected one in spec.volumes: %w", dp.Child("name"), d.Name, ErrUnsupported)
		}
		maps = append(maps, pathMap{filepath.Clean(d.DevicePath), v.path})
	}
	return maps, nil
}

// containerEnv is c's environment (envFrom first, env overriding it, each value
// expanded with the variables before it) and the variables by name.
func containerEnv(pod *corev1.Pod, c *corev1.Container, fp *field.Path, src envSources) ([]string, map[string]string, error) {
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	for i, from := range c.EnvFrom {
		kv, err := envFrom(from, fp.Child("envFrom").Index(i), src)
		if err != nil {
			return nil, nil, err
		}
		for _, k := range sortedKeys(kv) {
			set(from.Prefix+k, kv[k])
		}
	}
	for i, e := range c.Env {
		v, err := envValue(pod, e, fp.Child("env").Index(i), src)
		if err != nil {
			return nil, nil, err
		}
		set(e.Name, expand(v, vars))
	}
	env := make([]string, 0, len(order))
	for _, k := range order {
		env = append(env, k+"="+vars[k])
	}
	return env, vars, nil
}

func envFrom(from corev1.EnvFromSource, fp *field.Path, src envSources) (map[string]string, error) {
	kv := map[string]string{}
	switch {
	case from.SecretRef != nil:
		data, ok := src.secrets[from.SecretRef.Name]
		if !ok && !isTrue(from.SecretRef.Optional) {
			return nil, fmt.Errorf("%s: secret %q not found", fp.Child("secretRef", "name"), from.SecretRef.Name)
		}
		for k, v := range data {
			kv[k] = string(v)
		}
	case from.ConfigMapRef != nil:
		data, ok := src.configMaps[from.ConfigMapRef.Name]
		if !ok && !isTrue(from.ConfigMapRef.Optional) {
			return nil, fmt.Errorf("%s: configmap %q not found", fp.Child("configMapRef", "name"), from.ConfigMapRef.Name)
		}
		for k, v := range data {
			kv[k] = v
		}
	}
	return kv, nil
}

func envValue(pod *corev1.Pod, e corev1.EnvVar, fp *field.Path, src envSources) (string, error) {
	vf := e.ValueFrom
	switch {
	case vf == nil:
		return e.Value, nil
	case vf.SecretKeyRef != nil:
		v, ok := src.secrets[vf.SecretKeyRef.Name][vf.SecretKeyRef.Key]
		if !ok && !isTrue(vf.SecretKeyRef.Optional) {
			return "", fmt.Errorf("%s: key %q of secret %q not found", fp.Child("valueFrom", "secretKeyRef"), vf.SecretKeyRef.Key, vf.SecretKeyRef.Name)
		}
		return string(v), nil
	case vf.ConfigMapKeyRef != nil:
		v, ok := src.configMaps[vf.ConfigMapKeyRef.Name][vf.ConfigMapKeyRef.Key]
		if !ok && !isTrue(vf.ConfigMapKeyRef.Optional) {
			return "", fmt.Errorf("%s: key %q of configmap %q not found", fp.Child("valueFrom", "configMapKeyRef"), vf.ConfigMapKeyRef.Key, vf.ConfigMapKeyRef.Name)
		}
		return v, nil
	case vf.FieldRef != nil:
		fields := map[string]string{"metadata.name": pod.Name, "metadata.namespace": pod.Namespace,
			"metadata.uid": string(pod.UID), "spec.nodeName": pod.Spec.NodeName,
			"spec.serviceAccountName": pod.Spec.ServiceAccountName, "status.hostIP": "127.0.0.1", "status.podIP": "127.0.0.1"}
		if v, ok := fields[vf.FieldRef.FieldPath]; ok {
			return v, nil
		}
		return "", fmt.Errorf("%s: %q: expected one of %s: %w", fp.Child("valueFrom", "fieldRef", "fieldPath"),
			vf.FieldRef.FieldPath, strings.Join(sortedKeys(fields), ", "), ErrUnsupported)
	}
	return "", fmt.Errorf("%s: only secretKeyRef, configMapKeyRef and fieldRef are implemented: %w", fp.Child("valueFrom"), ErrUnsupported)
}

func isTrue(b *bool) bool { return b != nil && *b }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
