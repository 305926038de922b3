package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var keyDefault = client.ObjectKey{Name: "default"}

// Restart is what RestartAPIServer measured.
type Restart struct {
	// Stopped is how long kube-apiserver took to exit after SIGTERM.
	Stopped time.Duration
	// Killed: it had not exited within stopWithin of SIGTERM and was SIGKILLed.
	// Its graceful shutdown takes about 40 s with the webhook's watches open (the
	// reason envtest's 20 s stop timed out).
	Killed bool
	// Outage is from the SIGTERM until the new kube-apiserver answered a read.
	Outage time.Duration
}

// RestartAPIServer stops kube-apiserver with SIGTERM (SIGKILL when it has not exited
// within stopWithin: a crash, which a restart by its static pod may look like too) and starts it again with the same command line: the same etcd,
// port and certificates, so every client and the webhook's kubeconfig stay valid.
// envtest's own APIServer.Stop cannot be used for this: it removes the certificate
// directories, and a new Start makes new CAs. Stop stops the new process. It returns
// once the new process answers a read, within readyWithin.
func (c *Cluster) RestartAPIServer(ctx context.Context, stopWithin, readyWithin time.Duration) (Restart, error) {
	var r Restart
	pid, argv, err := c.apiServerProcess()
	if err != nil {
		return r, err
	}
	start := time.Now()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return r, fmt.Errorf("SIGTERM kube-apiserver (pid %d): %w", pid, err)
	}
	if !waitGone(pid, stopWithin) {
		r.Killed = true
		_ = syscall.Kill(pid, syscall.SIGKILL)
		if !waitGone(pid, 10*time.Second) {
			return r, fmt.Errorf("kube-apiserver (pid %d) did not exit within %s of SIGTERM nor 10s of SIGKILL", pid, stopWithin)
		}
	}
	r.Stopped = time.Since(start)
	log, err := os.Create(filepath.Join(filepath.Dir(c.WebhookLog), "kube-apiserver-restarted.log"))
	if err != nil {
		return r, err
	}
	fmt.Fprintf(log, "# %q\n", argv)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return r, fmt.Errorf("start kube-apiserver again: %w", err)
	}
	c.apiServer, c.apiServerDone = cmd, make(chan error, 1)
	go func() {
		c.apiServerDone <- cmd.Wait()
		log.Close()
	}()
	ctx, cancel := context.WithTimeout(ctx, readyWithin)
	defer cancel()
	err = c.waitAPIServer(ctx)
	r.Outage = time.Since(start)
	if err != nil {
		b, _ := os.ReadFile(log.Name())
		if len(b) > 3000 {
			b = b[len(b)-3000:]
		}
		return r, fmt.Errorf("%w\nthe new kube-apiserver's log %s ends:\n%s", err, log.Name(), b)
	}
	return r, nil
}

// waitAPIServer polls until the restarted kube-apiserver answers a read, it exits,
// or ctx ends.
func (c *Cluster) waitAPIServer(ctx context.Context) error {
	last := "not asked yet"
	for {
		select {
		case err := <-c.apiServerDone:
			c.apiServerDone <- err
			return fmt.Errorf("the restarted kube-apiserver exited: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("the restarted kube-apiserver did not answer (%w); last: %s", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
		var ns corev1.Namespace
		err := c.Client.Get(ctx, keyDefault, &ns)
		if err == nil {
			return nil
		}
		last = err.Error()
	}
}

// stopRestartedAPIServer stops the kube-apiserver RestartAPIServer started (SIGTERM,
// SIGKILL after a minute), before envtest stops etcd.
func (c *Cluster) stopRestartedAPIServer() error {
	if c.apiServer == nil {
		return nil
	}
	_ = c.apiServer.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.apiServerDone:
		return nil
	case <-time.After(time.Minute):
		_ = c.apiServer.Process.Kill()
		<-c.apiServerDone
		return errors.New("restarted kube-apiserver did not stop within a minute of SIGTERM; killed")
	}
}

// apiServerProcess finds the kube-apiserver serving c.Config.Host in /proc by its
// --secure-port argument, and returns its pid and command line.
func (c *Cluster) apiServerProcess() (int, []string, error) {
	u, err := url.Parse(c.Config.Host)
	if err != nil {
		return 0, nil, fmt.Errorf("API server address %q: %w", c.Config.Host, err)
	}
	want := []byte("--secure-port=" + u.Port())
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, nil, err
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		args := bytes.Split(bytes.TrimSuffix(b, []byte{0}), []byte{0})
		if filepath.Base(string(args[0])) != "kube-apiserver" {
			continue
		}
		for _, a := range args[1:] {
			if bytes.Equal(a, want) {
				argv := make([]string, len(args))
				for i, a := range args {
					argv[i] = string(a)
				}
				return pid, argv, nil
			}
		}
	}
	return 0, nil, fmt.Errorf("no kube-apiserver process with %s in /proc; expected the one envtest started for %s", want, c.Config.Host)
}

// waitGone polls until pid no longer exists (its parent reaped it), for up to within.
func waitGone(pid int, within time.Duration) bool {
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
	}
	return false
}
