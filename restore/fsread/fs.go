package fsread

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"
)

// FS is an ext2/3/4 filesystem opened read-only from an io.ReaderAt. It is
// safe for concurrent use when the ReaderAt is. Paths are slash-separated and
// relative to the filesystem root; "/", "" and "." name the root.
type FS struct {
	r      io.ReaderAt
	size   int64
	probe  Probe
	sb     superblock
	tables []uint64
	// replayed counts the filesystem blocks read from the journal instead
	// of their place (a backup of a mounted filesystem).
	replayed int
}

// Entry describes one file of the filesystem, as Lstat sees it.
type Entry struct {
	Name   string      `json:"name"`
	Path   string      `json:"path"` // from the root, with a leading slash
	Mode   fs.FileMode `json:"-"`
	Perm   string      `json:"mode"` // Mode as ls prints it
	UID    uint32      `json:"uid"`
	GID    uint32      `json:"gid"`
	Size   int64       `json:"size"`
	Mtime  time.Time   `json:"mtime"`
	Atime  time.Time   `json:"atime"`
	Ino    uint64      `json:"inode"`
	Nlink  uint32      `json:"links"`
	Target string      `json:"target,omitempty"` // symlink target, as stored
	Rdev   uint32      `json:"rdev,omitempty"`   // device number of a device node
}

// maxDirSize bounds the directories this package reads into memory (a
// directory of a million long names is about 300 MiB; hostile sizes are not).
const maxDirSize = 512 << 20

// Open opens the filesystem an image holds. An image that holds something
// else fails with ErrUnsupported naming what Detect found.
func Open(r io.ReaderAt, size int64) (fsys *FS, err error) {
	defer recoverInto(&err, "open filesystem")
	p, err := Detect(r, size)
	if err != nil {
		return nil, err
	}
	switch p.Kind {
	case KindExt2, KindExt3, KindExt4:
	case KindXFS:
		return nil, fmt.Errorf("%w: xfs (magic %s at byte %d): not supported; restore the block image instead (snaprestore restore ... --to IMAGE) or export it with snaprestore nbd",
			ErrUnsupported, p.Magic, p.Offset)
	case KindGPT, KindMBR:
		return nil, fmt.Errorf("%w: the volume holds a %s (magic %s at byte %d), not a filesystem; select a partition with --partition N",
			ErrUnsupported, p.Kind, p.Magic, p.Offset)
	default:
		return nil, fmt.Errorf("%w: found %s; only ext2/3/4 can be read file by file; export the volume with snaprestore nbd and mount it",
			ErrUnsupported, p)
	}
	sbBuf := make([]byte, superblockSize)
	if _, err := r.ReadAt(sbBuf, superblockOffset); err != nil {
		return nil, fmt.Errorf("read the superblock at byte offset %d: %w", superblockOffset, err)
	}
	sb, err := parseSuperblock(sbBuf, size)
	if err != nil {
		return nil, err
	}
	tables, err := readInodeTables(r, sb)
	if err != nil {
		return nil, err
	}
	f := &FS{r: r, size: size, probe: p, sb: sb, tables: tables}
	if sb.needsRecovery && sb.journalIno != 0 {
		if err := f.replayJournal(sbBuf); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// replayJournal makes f read the image as a replay of its journal would
// leave it (in memory; nothing is written), then re-reads the superblock and
// group descriptors through that view, as a mount after a crash would.
func (f *FS) replayJournal(sbBuf []byte) error {
	blocks, err := f.journalReplay(f.sb.journalIno)
	if err != nil {
		return fmt.Errorf("replay the journal (inode %d): %w", f.sb.journalIno, err)
	}
	f.replayed = len(blocks)
	if len(blocks) == 0 {
		return nil
	}
	f.r = journaled{r: f.r, blockSize: f.sb.blockSize, blocks: blocks}
	if _, err := f.r.ReadAt(sbBuf, superblockOffset); err != nil {
		return fmt.Errorf("read the superblock at byte offset %d: %w", superblockOffset, err)
	}
	sb, err := parseSuperblock(sbBuf, f.size)
	if err != nil {
		return fmt.Errorf("the superblock after the journal replay: %w", err)
	}
	if f.tables, err = readInodeTables(f.r, sb); err != nil {
		return fmt.Errorf("after the journal replay: %w", err)
	}
	sb.needsRecovery = true
	f.sb = sb
	return nil
}

// Probe is what Detect found in the image.
func (f *FS) Probe() Probe { return f.probe }

// UsedBytes is the space the superblock reports in use, data and metadata:
// an upper bound of what Extract writes for the whole tree (sparse files
// aside), for the caller to check that it fits before copying.
func (f *FS) UsedBytes() int64 { return f.sb.usedBytes() }

// NeedsRecovery reports that the journal held updates not yet applied (the
// backup was taken of a mounted filesystem). Open replays them in memory:
// ReplayedBlocks of them are read from the journal instead of their place.
func (f *FS) NeedsRecovery() bool { return f.sb.needsRecovery }

// ReplayedBlocks is the number of filesystem blocks Open took from the
// journal's committed transactions.
func (f *FS) ReplayedBlocks() int { return f.replayed }

// Lstat describes the file at name without following a final symlink.
// A missing file fails with an error matching fs.ErrNotExist.
func (f *FS) Lstat(name string) (e Entry, err error) {
	defer recoverInto(&err, "stat "+name)
	p, in, err := f.find(name)
	if err != nil {
		return Entry{}, err
	}
	return f.entry(path.Base(p), p, in)
}

// ReadDir lists the directory at name, sorted by name, "." and ".." left out.
func (f *FS) ReadDir(name string) (entries []Entry, err error) {
	defer recoverInto(&err, "read directory "+name)
	p, in, err := f.find(name)
	if err != nil {
		return nil, err
	}
	return f.readDir(p, in)
}

// Readlink returns the target of the symlink at name, as stored.
func (f *FS) Readlink(name string) (string, error) {
	e, err := f.Lstat(name)
	if err != nil {
		return "", err
	}
	if e.Mode&fs.ModeSymlink == 0 {
		return "", &fs.PathError{Op: "readlink", Path: e.Path, Err: fmt.Errorf("not a symlink (mode %s)", e.Mode)}
	}
	return e.Target, nil
}

// Xattrs returns the extended attributes of the file at name (nil when none).
func (f *FS) Xattrs(name string) (x map[string][]byte, err error) {
	defer recoverInto(&err, "read xattrs of "+name)
	p, in, err := f.find(name)
	if err != nil {
		return nil, err
	}
	if x, err = f.xattrs(in); err != nil {
		return nil, fmt.Errorf("read xattrs of %s: %w", p, err)
	}
	return x, nil
}

// cleanPath turns a user path into "/a/b"; ".." may not climb above the root.
// find cleans name and resolves it to its inode (without following
// symlinks, as resolve does); the public entry points share it.
func (f *FS) find(name string) (string, *inode, error) {
	p, err := cleanPath(name)
	if err != nil {
		return "", nil, err
	}
	in, err := f.resolve(p)
	if err != nil {
		return "", nil, err
	}
	return p, in, nil
}

func cleanPath(name string) (string, error) {
	if strings.ContainsRune(name, 0) {
		return "", &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	return path.Clean("/" + name), nil
}

// recoverInto turns a panic into an error: a hostile image must fail, never
// crash the process (every length is checked before use; this is the net).
func recoverInto(err *error, op string) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: %w: %w: the ext4 reader failed on this image (%v); please report it", op, ErrCorrupt, errPanicked, r)
	}
}

// storage adapts an io.ReaderAt to the read-only backend diskfs reads through.
