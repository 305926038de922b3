package restore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"unsafe"
)

// ErrTargetNotEmpty: the restore target holds data and --force was not given.
var ErrTargetNotEmpty = errors.New("restore target is not empty")

// target is the file or block device a restore writes.
type target struct {
	f *os.File
	// direct is a second descriptor opened with O_DIRECT where the file
	// system supports it: whole-block writes from aligned buffers bypass the
	// page cache (no copy, no dirty pages to flush at the end). nil otherwise.
	direct  *os.File
	path    string
	regular bool
	// fresh: the target read as all zeros before the restore (a sparse file
	// we truncated), so zero blocks and unlisted regions need no writes.
	fresh bool
}

type targetMode struct {
	size        int64
	force       bool
	incremental bool // the target holds the image of an older backup
	resuming    bool // a progress record of this restore exists
}

// openTarget opens or creates the target for a restore of m.size bytes.
func openTarget(path string, m targetMode) (*target, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if m.incremental {
			return nil, fmt.Errorf("incremental restore: target %s does not exist; expected the restored image of the older backup", path)
		}
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return nil, fmt.Errorf("create target: %w", err)
		}
		if err := f.Truncate(m.size); err != nil {
			f.Close()
			return nil, fmt.Errorf("size target %s: %w", path, err)
		}
		return &target{f: f, path: path, regular: true, fresh: true}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	switch {
	case st.Mode().IsRegular():
		return openRegular(path, st.Size(), m)
	case st.Mode()&fs.ModeDevice != 0 && st.Mode()&fs.ModeCharDevice == 0:
		return openDevice(path, m)
	}
	return nil, fmt.Errorf("target %s is a %s; expected a regular file or a block device", path, st.Mode().Type())
}

func openRegular(path string, size int64, m targetMode) (*target, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open target: %w", err)
	}
	t := &target{f: f, path: path, regular: true}
	fail := func(err error) (*target, error) {
		f.Close()
		return nil, err
	}
	switch {
	case m.incremental:
		if size > m.size {
			return fail(fmt.Errorf("incremental restore: target %s is %d bytes, larger than the volume (%d bytes)", path, size, m.size))
		}
	case m.resuming:
		if size != m.size {
			return fail(fmt.Errorf("resume: target %s is %d bytes; expected %d from the interrupted restore", path, size, m.size))
		}
		t.fresh = true // the interrupted run created it sparse and wrote only data
		return t, nil
	case size > 0 && !m.force:
		return fail(fmt.Errorf("%w: %s holds %d bytes; use --force to overwrite it", ErrTargetNotEmpty, path, size))
	default:
		if err := f.Truncate(0); err != nil {
			return fail(fmt.Errorf("truncate target: %w", err))
		}
		t.fresh = true
	}
	if err := f.Truncate(m.size); err != nil {
		return fail(fmt.Errorf("size target %s: %w", path, err))
	}
	return t, nil
}

func openDevice(path string, m targetMode) (*target, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open target: %w", err)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil || size < m.size {
		f.Close()
		return nil, fmt.Errorf("target device %s holds %d bytes; expected at least %d", path, size, m.size)
	}
	if !m.incremental && !m.resuming && !m.force {
		head := make([]byte, 1<<20)
		n, _ := f.ReadAt(head, 0)
		if !isZero(head[:n]) {
			f.Close()
			return nil, fmt.Errorf("%w: device %s has data in its first MiB; use --force to overwrite it", ErrTargetNotEmpty, path)
		}
	}
	return &target{f: f, path: path}, nil
}

// openDirect adds the O_DIRECT descriptor when the file system allows it.
func (t *target) openDirect() {
	if f, err := os.OpenFile(t.path, os.O_WRONLY|syscall.O_DIRECT, 0); err == nil {
		t.direct = f
	}
}

func (t *target) close() error {
	if t.direct != nil {
		t.direct.Close()
	}
	return t.f.Close()
}

// directAlign is the buffer, offset and length alignment O_DIRECT needs
// (the logical block size of any common device divides it).
const directAlign = 4096

// writeAt writes a whole block, directly when possible.
func (t *target) writeAt(b []byte, off int64) error {
	if t.direct != nil && off%directAlign == 0 && len(b)%directAlign == 0 &&
		uintptr(unsafe.Pointer(unsafe.SliceData(b)))%directAlign == 0 {
		if _, err := t.direct.WriteAt(b, off); err == nil {
			return nil
		} else if !errors.Is(err, syscall.EINVAL) {
			return err
		}
		t.direct = nil // refused after all: buffered from now on (racy but benign)
	}
	_, err := t.f.WriteAt(b, off)
	return err
}

// zero makes [off, off+n) read as zeros: a hole punched where the file
// system or device supports it, else written zeros.
func (t *target) zero(off, n int64) error {
	const punchHoleKeepSize = 0x02 | 0x01 // FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
	if err := syscall.Fallocate(int(t.f.Fd()), punchHoleKeepSize, off, n); err == nil {
		return nil
	}
	for n > 0 {
		k := min(n, int64(len(zeroChunk)))
		if _, err := t.f.WriteAt(zeroChunk[:k], off); err != nil {
			return fmt.Errorf("zero target at offset %d: %w", off, err)
		}
		off, n = off+k, n-k
	}
	return nil
}
