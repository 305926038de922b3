package fsread

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// copyBuffer is the size of the chunks file data is copied in.
const copyBuffer = 1 << 20

func (x *extractor) extractFile(e Entry, rel string) error {
	// Every inode is written once; another name for it becomes a hard link,
	// whatever its link count says (a hostile image could otherwise make one
	// large file be copied once per name).
	if first, ok := x.links[e.Ino]; ok {
		if err := x.clear(e, rel); err != nil {
			return err
		}
		if err := x.root.Link(first, rel); err != nil {
			return fmt.Errorf("extract %s: hard link %s to %s: %w", e.Path, x.show(rel), x.show(first), err)
		}
		x.sum.HardLinks++
		return nil
	}
	x.links[e.Ino] = rel
	if x.o.Resume {
		done, err := x.complete(e, rel)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if err := x.clear(e, rel); err != nil {
			return err
		}
	}
	in, err := x.fs.readInode(e.Ino)
	if err != nil {
		return fmt.Errorf("extract %s: %w", e.Path, err)
	}
	src, err := x.fs.openInode(e.Path, in)
	if err != nil {
		return fmt.Errorf("extract %s: %w", e.Path, err)
	}
	dst, err := x.root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("extract %s: create %s: %w", e.Path, x.show(rel), err)
	}
	n, err := copyData(dst, src, &x.buf)
	x.sum.Bytes += n
	if err == nil {
		err = dst.Truncate(e.Size) // the holes of a sparse file, and its length
	}
	if err == nil && x.o.Writeback && n >= writebackMin {
		startWriteback(dst)
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("extract %s to %s: %w", e.Path, x.show(rel), err)
	}
	x.sum.Files++
	return x.applyMeta(e, rel)
}

// complete reports whether rel already holds the regular file e as Extract
// leaves it (Resume): size, permission bits, owner when restored, and the
// mtime to the nanosecond, which applyMeta sets last, after the data. A
// complete file is counted in Skipped.
func (x *extractor) complete(e Entry, rel string) (bool, error) {
	fi, err := x.root.Lstat(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("extract %s: resume: %w", e.Path, err)
	}
	const bits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() || fi.Size() != e.Size || fi.Mode()&bits != e.Mode&bits ||
		fi.ModTime().UnixNano() != e.Mtime.UnixNano() || (x.owner && (st.Uid != e.UID || st.Gid != e.GID)) {
		return false, nil
	}
	x.sum.Skipped++
	x.skippedBytes += min(e.Size, st.Blocks*512)
	return true, nil
}

// writebackMin is the size from which Writeback starts a file's writeback:
// smaller files are left to the kernel, which writes them together.
const writebackMin = 256 << 10

// startWriteback asks the kernel to start writing f's dirty pages to the
// device, without waiting. It is advice: an error (a filesystem without
// sync_file_range) is dropped, and the sync that makes the data durable
// reports write errors.
func startWriteback(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	})
}

// copyData copies the data ranges of src into dst through the buffer *bufp
// (made on first use), leaving holes unwritten; from an image read through
// a Slicer it writes straight from the slices, without the buffer.
func copyData(dst *os.File, src *File, bufp *[]byte) (int64, error) {
	if s, ok := src.f.r.(Slicer); ok {
		return src.writeData(dst, s)
	}
	if *bufp == nil {
		*bufp = make([]byte, copyBuffer)
	}
	buf := *bufp
	var total int64
	err := src.DataRanges(func(off, n int64) error {
		for n > 0 {
			chunk := buf[:min(n, int64(len(buf)))]
			if _, err := src.ReadAt(chunk, off); err != nil {
				return err
			}
			if err := writeChunks(dst, chunk, off); err != nil {
				return err
			}
			total += int64(len(chunk))
			off, n = off+int64(len(chunk)), n-int64(len(chunk))
		}
		return nil
	})
	return total, err
}

func (x *extractor) extractSymlink(e Entry, rel string) error {
	if err := x.clear(e, rel); err != nil {
		return err
	}
	if err := x.root.Symlink(e.Target, rel); err != nil {
		return fmt.Errorf("extract %s: symlink %s -> %q: %w", e.Path, x.show(rel), e.Target, err)
	}
	x.sum.Symlinks++
	return x.applyMeta(e, rel)
}

func (x *extractor) extractSpecial(e Entry, rel string) error {
	var mode uint32
	switch {
	case e.Mode&fs.ModeNamedPipe != 0:
		mode = unix.S_IFIFO
	case e.Mode&fs.ModeCharDevice != 0:
		mode = unix.S_IFCHR
	case e.Mode&fs.ModeDevice != 0:
		mode = unix.S_IFBLK
	default:
		x.warn("special", fmt.Sprintf("skipped %s (mode %s) and any other sockets or unknown file types", e.Path, e.Mode))
		return nil
	}
	if mode != unix.S_IFIFO && !x.owner {
		x.warn("device", fmt.Sprintf("skipped device node %s and any others: creating device nodes needs root", e.Path))
		return nil
	}
	if err := x.clear(e, rel); err != nil {
		return err
	}
	if err := unix.Mknod(x.show(rel), mode|0o600, int(e.Rdev)); err != nil {
		return fmt.Errorf("extract %s: mknod %s: %w", e.Path, x.show(rel), err)
	}
	x.sum.Special++
	return x.applyMeta(e, rel)
}

// applyMeta sets owner, xattrs, mode and times, in that order (chown clears
// set-user-ID bits, so mode comes after it). Symlinks get owner and times only.
func (x *extractor) applyMeta(e Entry, rel string) error {
	abs := x.show(rel)
	link := e.Mode&fs.ModeSymlink != 0
	if x.owner {
		if err := x.root.Lchown(rel, int(e.UID), int(e.GID)); err != nil {
			return fmt.Errorf("extract %s: chown %s to %d:%d: %w", e.Path, abs, e.UID, e.GID, err)
		}
	} else if e.UID != uint32(os.Geteuid()) || e.GID != uint32(os.Getegid()) {
		x.warn("owner", fmt.Sprintf("ownership not restored (not running as root): %s is owned by %d:%d in the backup", e.Path, e.UID, e.GID))
	}
	if !link {
		if err := x.setXattrs(e, abs); err != nil {
			return err
		}
		if err := x.root.Chmod(rel, e.Mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return fmt.Errorf("extract %s: chmod %s: %w", e.Path, abs, err)
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(e.Atime.UnixNano()), unix.NsecToTimespec(e.Mtime.UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, abs, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("extract %s: set times of %s: %w", e.Path, abs, err)
	}
	return nil
}

func (x *extractor) setXattrs(e Entry, abs string) error {
	in, err := x.fs.readInode(e.Ino)
	if err != nil {
		return fmt.Errorf("extract %s: %w", e.Path, err)
	}
	attrs, err := x.fs.xattrs(in)
	if err != nil {
		return fmt.Errorf("extract %s: %w", e.Path, err)
	}
	for name, v := range attrs {
		if name == "system.data" { // the inline-data marker, not a user attribute
			continue
		}
		if strings.HasPrefix(name, "system.") || strings.HasPrefix(name, "unknown-") {
			x.warn("xattr-system", fmt.Sprintf("%s not restored (POSIX ACLs and system.* attributes are stored in ext4's own format), first on %s", name, e.Path))
			continue
		}
		if !x.owner && !strings.HasPrefix(name, "user.") {
			x.warn("xattr-ns", fmt.Sprintf("xattrs outside user.* not restored (not running as root), first %s on %s", name, e.Path))
			continue
		}
		if err := unix.Lsetxattr(abs, name, v, 0); err != nil {
			if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EACCES) {
				x.warn("xattr", fmt.Sprintf("xattrs not restored where the destination refuses them (%v), first %s on %s", err, name, e.Path))
				continue
			}
			return fmt.Errorf("extract %s: set xattr %s on %s: %w", e.Path, name, abs, err)
		}
	}
	return nil
}
