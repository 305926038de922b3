package kubelet

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The clean-up removes what the node made, in dependency order, and reports
// what it could not remove: CI runs later tests on the same machine.

// stopContainers kills every task of containerd's k8s.io namespace and
// removes the containers, so no container process outlives the suite.
func (n *node) stopContainers() error {
	out, err := exec.Command("ctr", "--address", n.sock(), "-n", "k8s.io", "tasks", "ls", "-q").Output()
	if err != nil {
		return fmt.Errorf("ctr tasks ls: %w", err)
	}
	var errs []error
	for _, id := range strings.Fields(string(out)) {
		_ = exec.Command("ctr", "--address", n.sock(), "-n", "k8s.io", "tasks", "kill", "-a", "-s", "SIGKILL", id).Run()
		if out, err := exec.Command("ctr", "--address", n.sock(), "-n", "k8s.io", "tasks", "delete", "-f", id).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ctr tasks delete %s: %w: %s", id, err, out))
		}
	}
	out, _ = exec.Command("ctr", "--address", n.sock(), "-n", "k8s.io", "containers", "ls", "-q").Output()
	for _, id := range strings.Fields(string(out)) {
		_ = exec.Command("ctr", "--address", n.sock(), "-n", "k8s.io", "containers", "rm", id).Run()
	}
	return errors.Join(errs...)
}

// killShims kills containerd-shim processes started for this suite's
// containerd (their command line names its socket), by pid.
func (n *node) killShims() error {
	pids, err := processesMentioning(n.dir)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if left, _ := processesMentioning(n.dir); len(left) == 0 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	left, _ := processesMentioning(n.dir)
	return fmt.Errorf("processes of %s still running after SIGKILL: %v", n.dir, left)
}

// processesMentioning lists the pids whose command line contains s.
func processesMentioning(s string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), s) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// unmountUnder detaches every mount point under dir, deepest first.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			points = append(points, fields[4])
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("umount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// detachLoops detaches loop devices whose backing file backedBy accepts or
// is one of devs (the kubelet locks a mapped block volume with a loop device
// of its own over the device), then devs themselves.
func detachLoops(backedBy func(file string) bool, devs []string) error {
	var errs []error
	own := map[string]bool{}
	for _, d := range devs {
		own[d] = true
	}
	matches, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	var stacked []string
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		back := strings.TrimSpace(string(b))
		dev := "/dev/" + filepath.Base(filepath.Dir(filepath.Dir(m)))
		if own[dev] {
			continue
		}
		if backedBy(back) || own[back] {
			stacked = append(stacked, dev)
		}
	}
	for _, d := range append(stacked, devs...) {
		if out, err := exec.Command("losetup", "-d", d).CombinedOutput(); err != nil && !strings.Contains(string(out), "No such device") {
			errs = append(errs, fmt.Errorf("losetup -d %s: %w: %s", d, err, out))
		}
	}
	return errors.Join(errs...)
}

// deleteBridge removes the suite's bridge (pod veths go with their netns).
func deleteBridge() error {
	if exec.Command("ip", "link", "show", bridgeName).Run() != nil {
		return nil
	}
	if out, err := exec.Command("ip", "link", "delete", bridgeName).CombinedOutput(); err != nil {
		return fmt.Errorf("ip link delete %s: %w: %s", bridgeName, err, out)
	}
	return nil
}

// removeCgroups removes cgroupRoot and everything under it in every
// hierarchy, deepest first, retrying while the last processes exit.
func removeCgroups() error {
	ctls, err := cgroupControllers()
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range ctls {
		root := filepath.Join(c, cgroupRoot)
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			var err error
			for try := 0; try < 50; try++ {
				if err = syscall.Rmdir(d); err == nil || errors.Is(err, syscall.ENOENT) {
					err = nil
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}
