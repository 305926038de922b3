package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// ErrProcessExited is a Process's Stop when it had already ended on its own.
var ErrProcessExited = errors.New("process exited on its own")

// Process is a daemon a suite runs (containerd, kubelet, a controller
// manager), its output going to a log file.
type Process struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// StartProcess runs binary with args, stdout and stderr appended to logPath (a
// process started again on the same log keeps the earlier run's output).
func StartProcess(name, logPath, binary string, args ...string) (*Process, error) {
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", name, err)
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, binary, err)
	}
	p := &Process{Name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	return p, nil
}

// Done is closed when the process has ended; Err then says how.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the process's exit error once Done is closed (nil before).
func (p *Process) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM, then SIGKILL after 20 s, and waits for the exit. A
// process that had already ended on its own is reported (ErrProcessExited).
func (p *Process) Stop() error {
	if p.Exited() {
		return fmt.Errorf("%w: %s: %v", ErrProcessExited, p.Name, p.err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return nil
}

// Kill sends SIGKILL (no clean shutdown: the process's connections are reset)
// and waits for the exit; a process that had already ended is not an error.
func (p *Process) Kill() {
	if !p.Exited() {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// Signal sends sig to a running process: SIGSTOP freezes it (the kernel still
// accepts connections on its listening sockets, nothing answers: a hung peer),
// SIGCONT lets it go on. After SIGSTOP it returns once every thread of the process
// has stopped: kill(2) returns before a thread running on another CPU takes the
// signal, and in that moment it could still answer a request sent right after.
func (p *Process) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return fmt.Errorf("%w: %s: %v", ErrProcessExited, p.Name, p.err)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %s to %s: %w", sig, p.Name, err)
	}
	if sig != syscall.SIGSTOP {
		return nil
	}
	for deadline := time.Now().Add(PollTimeout); ; time.Sleep(time.Millisecond) {
		stopped, err := p.stopped()
		if err != nil || stopped {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s (pid %d): not every thread stopped %s after SIGSTOP", p.Name, p.cmd.Process.Pid, PollTimeout)
		}
	}
}

// stopped reports whether every thread of the process is in state T (stopped), from
// /proc/<pid>/task/<tid>/stat.
func (p *Process) stopped() (bool, error) {
	dir := fmt.Sprintf("/proc/%d/task", p.cmd.Process.Pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("threads of %s: %w", p.Name, err)
	}
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
		if err != nil {
			return false, nil // a thread that just ended; look again
		}
		// pid (comm) state ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) {
			return false, fmt.Errorf("%s: unexpected %q", filepath.Join(dir, task.Name(), "stat"), b)
		}
		if b[i+2] != 'T' {
			return false, nil
		}
	}
	return true, nil
}
