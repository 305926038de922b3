package fsread

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// maxResolveDepth bounds the components of a path (PATH_MAX / 2).
const maxResolveDepth = 2048

// resolve walks p ("/a/b") from the root without following symlinks.
func (f *FS) resolve(p string) (*inode, error) {
	in, err := f.readInode(rootInode)
	if err != nil {
		return nil, err
	}
	if p == "/" {
		return in, nil
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(parts) > maxResolveDepth {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fmt.Errorf("more than %d components", maxResolveDepth)}
	}
	for i, name := range parts {
		dir := "/" + strings.Join(parts[:i], "/")
		if !in.isDir() {
			return nil, &fs.PathError{Op: "open", Path: p, Err: fmt.Errorf("%w: %s (mode %s)", ErrNotDir, dir, in.fileMode())}
		}
		ino, err := f.lookup(dir, in, name)
		if err != nil {
			return nil, err
		}
		if ino == 0 {
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		}
		if in, err = f.readInode(ino); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// lookup finds name in directory dir (inode in); 0 when it is not there.
func (f *FS) lookup(dir string, in *inode, name string) (uint64, error) {
	ents, err := f.dirEntries(dir, in)
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		if e.name == name {
			return e.ino, nil
		}
	}
	return 0, nil
}

// dirEntries reads a directory's entries, after checking its size.
func (f *FS) dirEntries(dir string, in *inode) ([]dirent, error) {
	if in.size > maxDirSize || in.size > f.size {
		return nil, corruptf(in.off+0x4, "directory %s (inode %d) of %d bytes; expected at most %d", dir, in.ino, in.size, int64(maxDirSize))
	}
	if in.flags&flagInlineData != 0 {
		return f.inlineDirents(dir, in)
	}
	ext, err := f.extents(in)
	if err != nil {
		return nil, fmt.Errorf("directory %s: %w", dir, err)
	}
	data := make([]byte, in.size)
	if _, err := f.readExtents(in, ext, data, 0); err != nil {
		return nil, fmt.Errorf("read directory %s (inode %d): %w", dir, in.ino, err)
	}
	offOf := func(pos int64) int64 { return f.physical(ext, pos) }
	ents, err := parseDirents(in, data, f.sb.blockSize, offOf)
	if err != nil {
		return nil, fmt.Errorf("directory %s: %w", dir, err)
	}
	return ents, nil
}

// readDir lists directory p (inode in) as entries sorted by name.
func (f *FS) readDir(p string, in *inode) ([]Entry, error) {
	if !in.isDir() {
		return nil, &fs.PathError{Op: "readdir", Path: p, Err: fmt.Errorf("%w (mode %s)", ErrNotDir, in.fileMode())}
	}
	ents, err := f.dirEntries(p, in)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(ents))
	for _, de := range ents {
		child, err := f.readInode(de.ino)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", strings.TrimSuffix(p, "/"), de.name, err)
		}
		e, err := f.entry(de.name, path.Join(p, de.name), child)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// entry builds the Entry of inode in, reading a symlink's target.
func (f *FS) entry(name, p string, in *inode) (Entry, error) {
	if p == "/" {
		name = "/"
	}
	e := Entry{Name: name, Path: p, Mode: in.fileMode(), UID: in.uid, GID: in.gid, Size: in.size,
		Mtime: in.mtime, Atime: in.atime, Ino: in.ino, Nlink: in.links, Rdev: in.rdev}
	e.Perm = lsMode(e.Mode)
	if in.isSymlink() {
		t, err := f.linkTarget(p, in)
		if err != nil {
			return Entry{}, err
		}
		e.Target = t
	}
	return e, nil
}

// linkTarget reads a symlink: in i_block when short ("fast"), else its block.
func (f *FS) linkTarget(p string, in *inode) (string, error) {
	if in.size > f.sb.blockSize || in.size > 4096 {
		return "", corruptf(in.off+0x4, "symlink %s (inode %d) target of %d bytes; expected at most 4096", p, in.ino, in.size)
	}
	fast := in.flags&flagInlineData != 0 || in.flags&flagExtents == 0 && (in.blocks == 0 || in.fileACL != 0)
	if in.size < 60 && fast {
		return string(in.block[:in.size]), nil
	}
	if in.flags&flagInlineData != 0 {
		data, err := f.inlineData(in)
		if err != nil {
			return "", fmt.Errorf("read symlink %s: %w", p, err)
		}
		return string(data), nil
	}
	buf := make([]byte, in.size)
	if _, err := f.readFile(in, buf, 0); err != nil {
		return "", fmt.Errorf("read symlink %s: %w", p, err)
	}
	return string(buf), nil
}

// inlineDirents reads an inline-data directory: i_block holds the parent's
// inode number and 56 bytes of entries; the system.data xattr holds more.
func (f *FS) inlineDirents(dir string, in *inode) ([]dirent, error) {
	x, err := f.xattrs(in)
	if err != nil {
		return nil, fmt.Errorf("directory %s: %w", dir, err)
	}
	body := in.off + 0x28
	ents, err := parseDirents(in, in.block[4:], 56, func(pos int64) int64 { return body + 4 + pos })
	if err != nil {
		return nil, fmt.Errorf("directory %s: %w", dir, err)
	}
	if more := x["system.data"]; len(more) > 0 {
		rest, err := parseDirents(in, more, int64(len(more)), func(pos int64) int64 { return in.off + pos })
		if err != nil {
			return nil, fmt.Errorf("directory %s: %w", dir, err)
		}
		ents = append(ents, rest...)
	}
	return ents, nil
}
