package fsread

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
)

// File is a regular file of the filesystem, open for reading. It is an
// io.ReaderAt and an io.Reader; holes and unwritten extents read as zeros.
type File struct {
	Entry
	f    *FS
	in   *inode
	ext  []extent
	data []byte // the whole content of an inline-data file (ext4 inline_data)
	roff int64  // offset of the next Read
}

// Open opens the regular file at name, following no symlinks. A directory
// fails with ErrIsDir, anything else that is not a regular file with
// fs.ErrInvalid.
func (f *FS) Open(name string) (file *File, err error) {
	defer recoverInto(&err, "open "+name)
	p, in, err := f.find(name)
	if err != nil {
		return nil, err
	}
	return f.openInode(p, in)
}

func (f *FS) openInode(p string, in *inode) (*File, error) {
	switch {
	case in.isDir():
		return nil, &fs.PathError{Op: "open", Path: p, Err: ErrIsDir}
	case !in.isRegular():
		return nil, &fs.PathError{Op: "open", Path: p, Err: fmt.Errorf("%w: not a regular file (mode %s)", fs.ErrInvalid, in.fileMode())}
	}
	e, err := f.entry(pathBase(p), p, in)
	if err != nil {
		return nil, err
	}
	if in.flags&flagInlineData != 0 {
		data, err := f.inlineData(in)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return &File{Entry: e, f: f, in: in, data: data}, nil
	}
	ext, err := f.extents(in)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &File{Entry: e, f: f, in: in, ext: ext}, nil
}

// Size is the file's length in bytes.
func (fl *File) Size() int64 { return fl.in.size }

// ReadAt reads len(p) bytes at off; it returns io.EOF at the end of the file.
// A read error of the underlying image names the byte offset in the image.
func (fl *File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s: negative offset %d", fl.Path, off)
	}
	if fl.data != nil {
		if off >= int64(len(fl.data)) {
			return 0, io.EOF
		}
		n := copy(p, fl.data[off:])
		if n < len(p) {
			return n, io.EOF
		}
		return n, nil
	}
	n, err := fl.f.readExtents(fl.in, fl.ext, p, off)
	if err != nil {
		return n, fmt.Errorf("read %s at file offset %d: %w", fl.Path, off+int64(n), err)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Read reads from the current offset, advancing it.
func (fl *File) Read(p []byte) (int, error) {
	n, err := fl.ReadAt(p, fl.roff)
	fl.roff += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// DataRanges calls fn for each range of the file that holds data, in order,
// so a copy can leave the holes of a sparse file unwritten.
func (fl *File) DataRanges(fn func(off, n int64) error) error {
	if fl.data != nil {
		return fn(0, int64(len(fl.data)))
	}
	return fl.extentRanges(func(off, _, n int64) error { return fn(off, n) })
}

// extentRanges calls fn for each extent's range inside the file, in order:
// its file offset, its byte offset in the image and its length.
func (fl *File) extentRanges(fn func(off, phys, n int64) error) error {
	bs := fl.f.sb.blockSize
	for _, e := range fl.ext {
		off := int64(e.lblk) * bs
		n := min(int64(e.count)*bs, fl.in.size-off)
		if n <= 0 {
			continue
		}
		if err := fn(off, int64(e.pblk)*bs, n); err != nil {
			return err
		}
	}
	return nil
}

// Slicer is an io.ReaderAt that can lend its bytes instead of copying them
// (restore.Reader): Slices calls fn with the bytes of [off, off+n) in order,
// in slices fn must neither modify nor keep, and returns fn's error as it
// is. Extract writes file data straight from those slices when the image
// is read through one.
type Slicer interface {
	io.ReaderAt
	Slices(off, n int64, fn func([]byte) error) error
}

// writeData writes the file's data ranges to dst at their offsets, straight
// from the slices of s, the image's reader; holes stay unwritten. A read
// error names the file and image offsets, a write error is dst's own.
func (fl *File) writeData(dst io.WriterAt, s Slicer) (int64, error) {
	if fl.data != nil {
		n, err := dst.WriteAt(fl.data, 0)
		return int64(n), err
	}
	var total int64
	var werr error
	err := fl.extentRanges(func(off, phys, n int64) error {
		err := s.Slices(phys, n, func(p []byte) error {
			if werr = writeChunks(dst, p, off); werr != nil {
				return werr
			}
			off, phys, total = off+int64(len(p)), phys+int64(len(p)), total+int64(len(p))
			return nil
		})
		if err != nil && werr == nil {
			return fmt.Errorf("read %s at file offset %d: read image at byte offset %d: %w", fl.Path, off, phys, err)
		}
		return err
	})
	return total, err
}

// writeChunk bounds each write(2) of file data, as cp's 128 KiB buffer does.
// Since Linux 6.16 ext4 caches a write in page-cache folios as large as the
// write (up to 2 MiB), and on a freshly booted VM those come from memory the
// guest has never used, each 4 KiB page of which the host maps on first
// touch (15 µs a page on the test VM). There, writing a block's 2 MiB at
// once made populate --dir copy the benchmark's 512 MiB in 1.02–2.21 s,
// 128 KiB writes in 0.88–1.08 s; once the memory is in use both take the
// same (docs/bench.md, stop 19).
const writeChunk = 128 << 10

// writeChunks writes p to dst at off in writes of at most writeChunk bytes.
func writeChunks(dst io.WriterAt, p []byte, off int64) error {
	for len(p) > 0 {
		n := min(len(p), writeChunk)
		if _, err := dst.WriteAt(p[:n], off); err != nil {
			return err
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}

// readFile reads an inode's data (used for slow symlinks).
func (f *FS) readFile(in *inode, p []byte, off int64) (int, error) {
	ext, err := f.extents(in)
	if err != nil {
		return 0, err
	}
	return f.readExtents(in, ext, p, off)
}

// readExtents fills p from file offset off, zeros where no extent maps.
func (f *FS) readExtents(in *inode, ext []extent, p []byte, off int64) (int, error) {
	if off >= in.size {
		return 0, nil
	}
	p = p[:min(int64(len(p)), in.size-off)]
	bs := f.sb.blockSize
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		lblk := uint64(pos / bs)
		i := sort.Search(len(ext), func(i int) bool { return ext[i].lblk+ext[i].count > lblk })
		if i == len(ext) || ext[i].lblk > lblk { // a hole up to the next extent or EOF
			end := int64(len(p))
			if i < len(ext) {
				end = min(end, int64(ext[i].lblk)*bs-off)
			}
			clear(p[done:end])
			done = int(end)
			continue
		}
		e := ext[i]
		inExt := pos - int64(e.lblk)*bs
		n := min(int64(len(p)-done), int64(e.count)*bs-inExt)
		phys := int64(e.pblk)*bs + inExt
		m, err := f.r.ReadAt(p[done:done+int(n)], phys)
		done += m
		if err != nil && !(errors.Is(err, io.EOF) && int64(m) == n) {
			return done, fmt.Errorf("read image at byte offset %d: %w", phys+int64(m), err)
		}
	}
	return done, nil
}

func pathBase(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

// physical maps a file offset to its byte offset in the image (-1 in a hole).
func (f *FS) physical(ext []extent, pos int64) int64 {
	lblk := uint64(pos / f.sb.blockSize)
	for _, e := range ext {
		if lblk >= e.lblk && lblk < e.lblk+e.count {
			return int64(e.pblk+lblk-e.lblk)*f.sb.blockSize + pos%f.sb.blockSize
		}
	}
	return -1
}

// inlineData returns the content of an inline-data inode: the 60 bytes of
// i_block followed by the value of its system.data xattr, cut to its size.
func (f *FS) inlineData(in *inode) ([]byte, error) {
	x, err := f.xattrs(in)
	if err != nil {
		return nil, err
	}
	data := append(append([]byte(nil), in.block[:]...), x["system.data"]...)
	if in.size > int64(len(data)) {
		return nil, corruptf(in.off+0x4, "inline-data inode %d of %d bytes holds only %d", in.ino, in.size, len(data))
	}
	return data[:in.size], nil
}
