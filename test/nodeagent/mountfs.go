package nodeagent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// imagePath is the backing file of a mounted Filesystem volume at path.
func imagePath(path string) string { return path + ".img" }

// NewFilesystem gives dir a fresh ext4 filesystem of size bytes, as a CSI
// driver gives a new volume: mkfs.ext4 (its defaults, journal included) in a
// sparse file at image, attached to a loop device with direct I/O (the
// filesystem's writes reach the disk as a real device's do, not the page
// cache of the image's filesystem) and mounted on dir, which anyone may
// write. It needs root, mkfs.ext4, losetup and mount. The loop device goes
// away with the mount (RemoveFilesystem). dir already a mount point is left
// as it is.
func NewFilesystem(image, dir string, size int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("new filesystem: %w", err)
	}
	if mounted, err := isMountPoint(dir); err != nil || mounted {
		return err
	}
	f, err := os.OpenFile(image, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("new filesystem: %w", err)
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("new filesystem: size %s to %d bytes: %w", image, size, err)
	}
	if err := run("mkfs.ext4", "-q", "-F", image); err != nil {
		return err
	}
	dev, err := output("losetup", "--direct-io=on", "--find", "--show", image)
	if err != nil {
		return err
	}
	// Detaching a device in use only marks it: the kernel frees it when
	// the filesystem is unmounted.
	defer func() { _ = run("losetup", "--detach", dev) }()
	if err := run("mount", dev, dir); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		return fmt.Errorf("new filesystem on %s: %w", dir, err)
	}
	return nil
}

// RemoveFilesystem unmounts what NewFilesystem mounted on dir (if it is
// mounted) and deletes dir and image; dir may be any volume's data, a
// directory or a file that was never mounted.
func RemoveFilesystem(image, dir string) error {
	mounted, err := isMountPoint(dir)
	if errors.Is(err, os.ErrNotExist) {
		return removeMissing(image)
	}
	if err != nil {
		return err
	}
	if mounted {
		if err := run("umount", dir); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove filesystem: %w", err)
	}
	return removeMissing(image)
}

func removeMissing(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove filesystem: %w", err)
	}
	return nil
}

// isMountPoint reports whether dir is the root of a mount: another device
// than its parent's (a bind mount of the same device would not count, and
// NewFilesystem makes none).
func isMountPoint(dir string) (bool, error) {
	var st, parent unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return false, &os.PathError{Op: "lstat", Path: dir, Err: err}
	}
	if err := unix.Lstat(filepath.Dir(dir), &parent); err != nil {
		return false, &os.PathError{Op: "lstat", Path: filepath.Dir(dir), Err: err}
	}
	return st.Dev != parent.Dev, nil
}

// unmountAll removes every filesystem NewFilesystem made in dir (the
// volumes left when the agent stops).
func unmountAll(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if p := filepath.Join(dir, e.Name()); e.IsDir() {
			if _, err := os.Stat(imagePath(p)); err == nil {
				errs = append(errs, RemoveFilesystem(imagePath(p), p))
			}
		}
	}
	return errors.Join(errs...)
}

func run(name string, args ...string) error {
	_, err := output(name, args...)
	return err
}

func output(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// canMount says why NewFilesystem cannot work here, or nil.
func canMount() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("uid %d is not root; expected root, which mounting needs", os.Geteuid())
	}
	for _, tool := range []string{"mkfs.ext4", "losetup", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found (%w); expected e2fsprogs and util-linux", tool, err)
		}
	}
	return nil
}
