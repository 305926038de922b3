package fsread

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ExtractOptions configure Extract.
type ExtractOptions struct {
	// Progress, when set, is called after each file with the running totals;
	// the caller owns it and it must not block for long.
	Progress func(ExtractProgress)
	// Owner restores uid/gid; default (nil) restores them when running as
	// root. Without it files belong to the caller and one warning says so.
	Owner *bool
	// Resume continues an interrupted Extract of a directory into the same
	// dest directory: an entry that already exists there is checked instead
	// of refused. A directory stays (its metadata is applied again at the
	// end); a regular file whose size, mode, owner (when restored) and mtime
	// to the nanosecond equal the source inode's is kept and counted in
	// Skipped (Extract sets the times last, after the data is written and
	// closed, so a partial file never looks complete); anything else (a
	// partial file, a symlink, a hard link, a device, another type) is
	// removed, never followed, and written again. Resume trusts that what
	// it finds is Extract's own work on the same tree: it does not reread
	// file data.
	Resume bool
	// Writeback starts writing each file of at least writebackMin bytes to
	// the device as soon as its data is copied (sync_file_range(2), which
	// does not wait), so a sync of the filesystem after Extract, which the
	// populator does, finds little left to write instead of all of it.
	Writeback bool
}

// ExtractProgress is the running state of an extraction.
type ExtractProgress struct {
	Files     int   // entries written so far (files, directories, links)
	Bytes     int64 // file data bytes written so far, and (Resume) the space of files found complete
	UsedBytes int64 // the filesystem's used bytes (FS.UsedBytes): an upper bound for Bytes
}

// ExtractSummary is the result of Extract.
type ExtractSummary struct {
	Files     int      // regular files written (hard links not counted)
	Dirs      int      // directories created or merged into
	Symlinks  int      // symlinks created
	HardLinks int      // extra names of files already written
	Special   int      // fifos and device nodes created
	Bytes     int64    // file data written (holes of sparse files are not written)
	Skipped   int      // Resume: regular files already complete in dest, not written again
	Warnings  []string // at most one per kind (ownership, xattrs, skipped specials)
	Duration  time.Duration
}

// maxExtractDepth bounds directory nesting, so a hostile image's directory
// cycle or absurd depth ends in an error, not a stack overflow.
const maxExtractDepth = 4096

// Extract copies the file or tree at src in fsys to dest, preserving mode,
// times, symlinks (never followed), hard links, xattrs, and ownership when
// running as root. When src is a directory and dest an existing directory,
// the tree merges into it (a restore into an empty volume or a fresh PVC);
// otherwise dest must not exist and its parent must. Nothing is ever
// written outside dest: every write goes through an os.Root, a name in the
// image that is not one path component fails with ErrUnsafePath, and files
// are created with O_EXCL|O_NOFOLLOW so no symlink, from the image or
// planted, is followed. Extraction stops at the first error (context
// cancellation included) and reports it with the path it concerns; with
// o.Resume a later Extract into the same dest continues from there.
func Extract(ctx context.Context, fsys *FS, src, dest string, o ExtractOptions) (sum ExtractSummary, err error) {
	start := time.Now()
	defer recoverInto(&err, "extract "+src)
	top, err := fsys.Lstat(src)
	if err != nil {
		return ExtractSummary{}, err
	}
	rootDir, name := filepath.Dir(dest), filepath.Base(dest)
	if st, err := os.Lstat(dest); err == nil && st.IsDir() && top.Mode.IsDir() {
		rootDir, name = dest, "."
	} else if err == nil {
		return ExtractSummary{}, fmt.Errorf("extract %s to %s: %w; expected a path that does not exist (or a directory to merge a directory into)", top.Path, dest, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return ExtractSummary{}, fmt.Errorf("extract %s: %w", top.Path, err)
	}
	root, err := os.OpenRoot(rootDir)
	if err != nil {
		return ExtractSummary{}, fmt.Errorf("extract %s: open destination directory: %w", top.Path, err)
	}
	defer root.Close()
	x := &extractor{ctx: ctx, fs: fsys, root: root, dir: rootDir, o: o, links: map[uint64]string{},
		seenDirs: map[uint64]bool{}, warned: map[string]bool{}, sum: &sum}
	x.owner = os.Geteuid() == 0
	if o.Owner != nil {
		x.owner = *o.Owner
	}
	if err := x.extract(top, name, 0); err != nil {
		return sum, err
	}
	if err := x.applyDirMeta(); err != nil {
		return sum, err
	}
	sum.Duration = time.Since(start)
	return sum, nil
}

type extractor struct {
	ctx      context.Context
	fs       *FS
	root     *os.Root
	dir      string // the root's path, for the calls os.Root does not offer
	o        ExtractOptions
	owner    bool
	links    map[uint64]string // inode -> first name written, for hard links
	seenDirs map[uint64]bool   // directory inodes entered (a cycle is corruption)
	dirMeta  []dirMeta         // directories' metadata, applied after their contents
	warned   map[string]bool
	sum      *ExtractSummary
	buf      []byte // the copy buffer, one per extraction
	// skippedBytes is the space of the files Resume found complete, for Progress.
	skippedBytes int64
}

type dirMeta struct {
	e   Entry
	rel string
}

func (x *extractor) extract(e Entry, rel string, depth int) error {
	if err := x.ctx.Err(); err != nil {
		return fmt.Errorf("extract %s: %w", e.Path, err)
	}
	var err error
	switch {
	case e.Mode.IsDir():
		return x.extractDir(e, rel, depth)
	case e.Mode.IsRegular():
		err = x.extractFile(e, rel)
	case e.Mode&fs.ModeSymlink != 0:
		err = x.extractSymlink(e, rel)
	default:
		err = x.extractSpecial(e, rel)
	}
	if err != nil {
		return err
	}
	x.progress()
	return nil
}

func (x *extractor) extractDir(e Entry, rel string, depth int) error {
	if depth > maxExtractDepth {
		return fmt.Errorf("extract %s: %w: directories nested deeper than %d", e.Path, ErrCorrupt, maxExtractDepth)
	}
	if x.seenDirs[e.Ino] {
		return fmt.Errorf("extract %s: %w: directory inode %d appears twice in the tree (a directory cycle)", e.Path, ErrCorrupt, e.Ino)
	}
	x.seenDirs[e.Ino] = true
	if err := x.mkdir(e, rel); err != nil {
		return err
	}
	x.sum.Dirs++
	ents, err := x.fs.ReadDir(e.Path)
	if err != nil {
		return fmt.Errorf("extract %s: %w", e.Path, err)
	}
	for _, c := range ents {
		if err := checkName(c.Name); err != nil {
			return fmt.Errorf("extract %s: %w: entry %q (inode %d); expected a single path component", e.Path, ErrUnsafePath, c.Name, c.Ino)
		}
		if err := x.extract(c, filepath.Join(rel, c.Name), depth+1); err != nil {
			return err
		}
	}
	x.dirMeta = append(x.dirMeta, dirMeta{e: e, rel: rel})
	x.progress()
	return nil
}

// mkdir creates the directory rel, or merges into an existing one. With
// Resume, an existing entry that is not a directory (a symlink included) is
// removed first, and an existing directory the previous run already gave its
// final mode is made writable again until applyDirMeta.
func (x *extractor) mkdir(e Entry, rel string) error {
	err := x.root.Mkdir(rel, 0o700)
	if err == nil {
		return nil
	}
	if st, serr := x.root.Lstat(rel); errors.Is(err, fs.ErrExist) && serr == nil {
		switch {
		case st.IsDir() && x.o.Resume && st.Mode().Perm()&0o700 != 0o700:
			if err := x.root.Chmod(rel, st.Mode().Perm()|0o700); err != nil {
				return fmt.Errorf("extract %s: resume into directory %s: %w", e.Path, x.show(rel), err)
			}
			return nil
		case st.IsDir():
			return nil
		case x.o.Resume:
			if err := x.clear(e, rel); err != nil {
				return err
			}
			err = x.root.Mkdir(rel, 0o700)
		}
	}
	if err != nil {
		return fmt.Errorf("extract %s: create directory %s: %w", e.Path, x.show(rel), err)
	}
	return nil
}

// clear removes what a previous run left at rel (Resume only; without it
// the O_EXCL creation refuses the entry): the name itself, never what a
// symlink points to, and a directory with its contents, inside the root.
func (x *extractor) clear(e Entry, rel string) error {
	if !x.o.Resume {
		return nil
	}
	if err := x.root.RemoveAll(rel); err != nil { // nil when nothing is there
		return fmt.Errorf("extract %s: remove %s left by the interrupted extraction: %w", e.Path, x.show(rel), err)
	}
	return nil
}

// checkName accepts one path component: not empty, ".", "..", nor with a slash or NUL.
func checkName(n string) error {
	if n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\x00") {
		return ErrUnsafePath
	}
	return nil
}

// show names a path under the destination for messages.
func (x *extractor) show(rel string) string { return filepath.Join(x.dir, rel) }

func (x *extractor) warn(kind, msg string) {
	if !x.warned[kind] {
		x.warned[kind] = true
		x.sum.Warnings = append(x.sum.Warnings, msg)
	}
}

func (x *extractor) progress() {
	if x.o.Progress != nil {
		x.o.Progress(ExtractProgress{Files: x.sum.Files + x.sum.Skipped + x.sum.Dirs + x.sum.Symlinks + x.sum.HardLinks + x.sum.Special,
			Bytes: x.sum.Bytes + x.skippedBytes, UsedBytes: x.fs.UsedBytes()})
	}
}

// applyDirMeta sets directories' mode, owner and times deepest first, after
// their contents are written (a read-only directory would refuse them, and
// writing a child changes the parent's mtime).
func (x *extractor) applyDirMeta() error {
	for i := len(x.dirMeta) - 1; i >= 0; i-- {
		d := x.dirMeta[i]
		// Only a corrupt image names one entry twice; with Resume the second
		// may have replaced the directory, and its metadata must not go
		// through a symlink.
		if st, err := x.root.Lstat(d.rel); err != nil || !st.IsDir() {
			return fmt.Errorf("extract %s: %w: %s is no longer the directory written (another entry of the same name replaced it)", d.e.Path, ErrCorrupt, x.show(d.rel))
		}
		if err := x.applyMeta(d.e, d.rel); err != nil {
			return err
		}
	}
	return nil
}
