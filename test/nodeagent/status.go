package nodeagent

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// restarts says whether the kubelet restarts a container that exited with code
// under policy (Always: any exit; OnFailure: a non-zero one; Never: none).
func restarts(policy corev1.RestartPolicy, code int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return code != 0
	}
	return true
}

// podPhase is the phase of a pod whose containers are in statuses, by the
// kubelet's rules: Pending until a container first starts, Succeeded when all
// exited 0, Failed when all exited and one failed for good (restart policy
// Never), Running otherwise (including a container waiting to be restarted).
func podPhase(policy corev1.RestartPolicy, statuses []corev1.ContainerStatus) corev1.PodPhase {
	started, running, failed := false, false, false
	for _, s := range statuses {
		switch {
		case s.State.Running != nil:
			started, running = true, true
		case s.State.Terminated != nil:
			started = true
			failed = failed || s.State.Terminated.ExitCode != 0
		case s.State.Waiting != nil:
			started = started || s.RestartCount > 0
			running = running || s.RestartCount > 0
		}
	}
	switch {
	case !started:
		return corev1.PodPending
	case running || policy == corev1.RestartPolicyAlways:
		return corev1.PodRunning
	case !failed:
		return corev1.PodSucceeded
	case policy == corev1.RestartPolicyNever:
		return corev1.PodFailed
	}
	return corev1.PodRunning
}

// terminated is the state of a container that exited with code; message is its
// termination message, or the tail of its stderr when it failed without one.
func terminated(code int32, message string, started, finished time.Time) corev1.ContainerState {
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason,
		Message: message, StartedAt: metav1.NewTime(started), FinishedAt: metav1.NewTime(finished)}}
}

// setPodStatus writes statuses, the phase and the conditions into pod.Status,
// keeping the scheduler's PodScheduled condition.
func setPodStatus(pod *corev1.Pod, statuses []corev1.ContainerStatus, now time.Time) {
	phase := podPhase(pod.Spec.RestartPolicy, statuses)
	ready := phase == corev1.PodRunning
	for _, s := range statuses {
		ready = ready && s.Ready
	}
	st := &pod.Status
	st.Phase, st.HostIP, st.PodIP = phase, "127.0.0.1", "127.0.0.1"
	st.HostIPs, st.PodIPs = []corev1.HostIP{{IP: "127.0.0.1"}}, []corev1.PodIP{{IP: "127.0.0.1"}}
	if st.StartTime == nil {
		st.StartTime = &metav1.Time{Time: now}
	}
	st.ContainerStatuses = statuses
	st.Reason, st.Message = "", ""
	setCondition(st, corev1.PodInitialized, true, now)
	setCondition(st, corev1.ContainersReady, ready, now)
	setCondition(st, corev1.PodReady, ready, now)
}

func setCondition(st *corev1.PodStatus, t corev1.PodConditionType, ok bool, now time.Time) {
	status := corev1.ConditionFalse
	if ok {
		status = corev1.ConditionTrue
	}
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			if st.Conditions[i].Status != status {
				st.Conditions[i].Status, st.Conditions[i].LastTransitionTime = status, metav1.NewTime(now)
			}
			return
		}
	}
	st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: status, LastTransitionTime: metav1.NewTime(now)})
}

// refused is the status of a pod the agent will not run: Failed, with why.
func refused(pod *corev1.Pod, reason string, err error) {
	pod.Status.Phase, pod.Status.Reason, pod.Status.Message = corev1.PodFailed, reason, err.Error()
	pod.Status.HostIP = "127.0.0.1"
}
