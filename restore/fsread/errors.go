package fsread

import (
	"errors"
	"fmt"
)

var (
	// ErrUnsupported is returned by Open for an image it cannot read as a
	// filesystem (another filesystem, an encrypted or LVM volume, a partition
	// table, nothing); the error names what Detect found.
	ErrUnsupported = errors.New("unsupported volume content")
	// ErrCorrupt marks metadata that cannot be right (an out-of-range block,
	// a bad extent header, an impossible size); the error names the offset.
	ErrCorrupt = errors.New("corrupt filesystem")
	// ErrNotDir is returned when a directory was expected.
	ErrNotDir = errors.New("not a directory")
	// ErrIsDir is returned when a file was expected.
	ErrIsDir = errors.New("is a directory")
	// ErrUnsafePath is returned by Extract for a name in the image that would
	// leave the destination (".", "..", a slash, a NUL byte, an empty name).
	ErrUnsafePath = errors.New("unsafe path in image")
)

// errPanicked marks a recovered panic, so the fuzz target can tell a bug
// from an image refused on purpose.
var errPanicked = errors.New("internal error")

// corruptf returns an ErrCorrupt error naming the byte offset in the image.
func corruptf(off int64, format string, a ...any) error {
	return fmt.Errorf("%w at byte offset %d: %s", ErrCorrupt, off, fmt.Sprintf(format, a...))
}
