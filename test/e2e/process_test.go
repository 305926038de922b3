package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/snaprestore/snaprestore/test/testenv"
)

// webhookProcess is a second `snaprestore webhook` a test starts beside the
// suite's own, on free loopback ports of the cel cluster.
type webhookProcess struct {
	t     *testing.T
	addr  string // 127.0.0.1:<webhook port>
	probe string // http://127.0.0.1:<health port>
	log   string
	done  chan error
	cmd   *exec.Cmd
	// killed: the test SIGKILLed it (kill); cleanup then expects no clean exit.
	killed bool
}

// startWebhook starts `snaprestore webhook` with the cluster's kubeconfig, the
// loopback addresses and args. The test's cleanup stops it with SIGINT and
// expects exit status 0.
func startWebhook(t *testing.T, v *variant, args ...string) *webhookProcess {
	t.Helper()
	return startWebhookEnv(t, v, nil, args...)
}

// startWebhookEnv is startWebhook with env (KEY=value) added to the test's
// environment, e.g. the backupstore's AWS_* settings.
func startWebhookEnv(t *testing.T, v *variant, env []string, args ...string) *webhookProcess {
	t.Helper()
	ports, err := testenv.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	w := &webhookProcess{t: t, addr: "127.0.0.1:" + strconv.Itoa(ports[0]),
		probe: "http://127.0.0.1:" + strconv.Itoa(ports[1]), log: filepath.Join(t.TempDir(), "webhook.log"), done: make(chan error, 1)}
	logFile, err := os.Create(w.log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	cmd := exec.Command(binary, append([]string{"webhook", "--kubeconfig", v.c.Kubeconfig,
		"--bind-address", "127.0.0.1", "--port", strconv.Itoa(ports[0]),
		"--metrics-bind-address", "0", "--health-probe-bind-address", "127.0.0.1:" + strconv.Itoa(ports[1])}, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.cmd = cmd
	go func() { w.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if w.killed {
			return
		}
		_ = cmd.Process.Signal(os.Interrupt)
		if err := <-w.done; err != nil {
			t.Errorf("webhook %v exited with %v after SIGINT, want status 0; log %s", args, err, w.log)
		}
	})
	return w
}

// fatalf fails the test with the webhook's log.
func (w *webhookProcess) fatalf(format string, args ...any) {
	w.t.Helper()
	b, _ := os.ReadFile(w.log)
	w.t.Fatalf(format+"\nwebhook log:\n%s", append(args, b)...)
}

// waitFor polls cond for up to 2 minutes; it fails the test when the webhook
// exits first or cond never holds.
func (w *webhookProcess) waitFor(what string, cond func() bool) {
	w.t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		select {
		case err := <-w.done:
			w.done <- err
			w.fatalf("%s: the webhook exited: %v", what, err)
		default:
		}
		if cond() {
			return
		}
	}
	w.fatalf("%s: not within 2 minutes", what)
}

// ready reports whether /readyz answers 200.
func (w *webhookProcess) ready() bool {
	resp, err := http.Get(w.probe + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// kill SIGKILLs the process (no graceful shutdown: open connections are reset) and
// waits until it is gone.
func (w *webhookProcess) kill() {
	w.t.Helper()
	w.killed = true
	if err := w.cmd.Process.Kill(); err != nil {
		w.t.Fatalf("SIGKILL webhook: %v", err)
	}
	<-w.done
	w.done <- nil
}
