package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

const (
	sigKill = syscall.SIGKILL
	// tailBytes bounds a container's message taken from its stderr.
	tailBytes = 2048
	// maxBackoff caps the wait before a container is restarted (the kubelet's is 5 min).
	maxBackoff = 10 * time.Second
)

// podRun is one pod's containers as processes. Cancelling ctx (stop) ends them:
// SIGTERM to each process group, SIGKILL after the grace period.
type podRun struct {
	uid    types.UID
	specs  []procSpec
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	reportMu sync.Mutex // serializes status reports

	mu       sync.Mutex
	grace    time.Duration
	procs    map[int]*os.Process // by container index, while running
	statuses []corev1.ContainerStatus
}

func newPodRun(pod *corev1.Pod, specs []procSpec) *podRun {
	ctx, cancel := context.WithCancel(context.Background())
	r := &podRun{uid: pod.UID, specs: specs, ctx: ctx, cancel: cancel, done: make(chan struct{}), procs: map[int]*os.Process{}}
	for _, c := range pod.Spec.Containers {
		r.statuses = append(r.statuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}})
	}
	return r
}

// stop ends the pod's processes and waits for them.
func (r *podRun) stop(grace time.Duration) {
	r.mu.Lock()
	r.grace = grace
	r.mu.Unlock()
	r.cancel()
	<-r.done
}

// signal sends sig to every running process group and says to how many.
func (r *podRun) signal(sig syscall.Signal) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.procs {
		_ = syscall.Kill(-p.Pid, sig)
	}
	return len(r.procs)
}

func (r *podRun) snapshot() []corev1.ContainerStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]corev1.ContainerStatus, len(r.statuses))
	for i, s := range r.statuses {
		out[i] = *s.DeepCopy()
	}
	return out
}

func (r *podRun) set(i int, change func(*corev1.ContainerStatus)) {
	r.mu.Lock()
	change(&r.statuses[i])
	r.mu.Unlock()
}

// container runs container i until it is not to be restarted, reporting each state.
func (r *podRun) container(i int, spec procSpec, logPath string, policy corev1.RestartPolicy, report func()) {
	backoff := time.Second
	for {
		started := time.Now()
		code, msg, err := r.exec(i, spec, logPath, func(pid int) {
			r.set(i, func(s *corev1.ContainerStatus) {
				s.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}}
				s.Ready, s.Started, s.ContainerID = true, new(true), "nodeagent://"+strconv.Itoa(pid)
			})
			report()
		})
		if err != nil {
			code, msg = 128, err.Error()
		}
		state := terminated(code, msg, started, time.Now())
		again := restarts(policy, code) && r.ctx.Err() == nil
		r.set(i, func(s *corev1.ContainerStatus) {
			s.Ready, s.Started = false, new(false)
			if !again {
				s.State = state
				return
			}
			s.LastTerminationState, s.RestartCount = state, s.RestartCount+1
			s.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off %s restarting failed container", backoff)}}
		})
		report()
		if !again {
			return
		}
		select {
		case <-r.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// exec runs spec once in its own process group and returns its exit code (128+n
// for signal n) and message: the termination message file's text, else on failure
// the tail of stderr. stdout and stderr are appended to logPath.
func (r *podRun) exec(i int, spec procSpec, logPath string, started func(pid int)) (int32, string, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return 0, "", err
	}
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, "", err
	}
	defer log.Close()
	tail := &tailWriter{max: tailBytes}
	_ = os.Remove(spec.termPath)
	cmd := exec.Command(spec.argv[0], spec.argv[1:]...)
	cmd.Dir, cmd.Env, cmd.Stdout = spec.dir, spec.env, log
	cmd.Stderr = io.MultiWriter(log, tail)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return 0, "", fmt.Errorf("start %s: %w", spec.argv[0], err)
	}
	r.mu.Lock()
	r.procs[i] = cmd.Process
	r.mu.Unlock()
	started(cmd.Process.Pid)
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-waited:
	case <-r.ctx.Done():
		werr = r.terminate(cmd.Process.Pid, waited)
	}
	r.mu.Lock()
	delete(r.procs, i)
	r.mu.Unlock()
	var exit *exec.ExitError
	if werr != nil && !errors.As(werr, &exit) {
		return 0, "", werr
	}
	code := int32(cmd.ProcessState.ExitCode())
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int32(ws.Signal())
	}
	if b, err := os.ReadFile(spec.termPath); err == nil && len(b) > 0 {
		return code, string(b[:min(len(b), 4096)]), nil
	}
	if code != 0 {
		return code, tail.String(), nil
	}
	return code, "", nil
}

// terminate sends SIGTERM to the group of pid, SIGKILL after the grace period.
func (r *podRun) terminate(pid int, waited <-chan error) error {
	r.mu.Lock()
	grace := r.grace
	r.mu.Unlock()
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case err := <-waited:
		return err
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	return <-waited
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	max int
	b   []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	if len(w.b) > w.max {
		n := copy(w.b, w.b[len(w.b)-w.max:])
		w.b = w.b[:n]
	}
	return len(p), nil
}

func (w *tailWriter) String() string { return string(w.b) }
