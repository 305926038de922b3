package fsreadtest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Tool returns the path of a command the tests need, in PATH or in the
// sbin directories where Debian puts mkfs and sfdisk; a missing tool fails
// the test (never skips it): hack/test-deps.sh installs them.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p, err2 := exec.LookPath(filepath.Join(dir, name)); err2 == nil {
			return p
		}
	}
	t.Fatalf("%s is not installed (e2fsprogs, xfsprogs, fdisk; make test-deps installs them): %v", name, err)
	return ""
}

// Run runs a command and fails the test with its output when it fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(Tool(t, name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// MakeExt4 makes an image of size bytes from tree with mkfs.ext4 -d, with
// extra mkfs arguments (e.g. "-O", "^extents" for ext2/3 block maps), then
// runs e2fsck -fD so large directories are hashed (mkfs -d writes linear
// ones), and returns its path.
func MakeExt4(t testing.TB, tree, size string, mkfsArgs ...string) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "ext4.img")
	args := append([]string{"-q", "-F", "-b", "4096", "-d", tree}, mkfsArgs...)
	Run(t, "mkfs.ext4", append(args, img, size)...)
	cmd := exec.Command(Tool(t, "e2fsck"), "-fyD", img)
	out, err := cmd.CombinedOutput()
	// Exit status 1 means "errors corrected": -D rewrote directories.
	if err != nil && cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("e2fsck -fyD %s: %v\n%s", img, err, out)
	}
	return img
}

// Debugfs runs a debugfs request on an image, read-only, and returns its
// standard output (debugfs prints its banner on standard error).
func Debugfs(t testing.TB, img, request string) string {
	t.Helper()
	cmd := exec.Command(Tool(t, "debugfs"), "-R", request, img)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("debugfs -R %q %s: %v\n%s", request, img, err, stderr.String())
	}
	return string(out)
}
