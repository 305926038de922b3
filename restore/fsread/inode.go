package fsread

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"time"
)

// Inode flags and mode bits (ext4 inodes.rst).
const (
	flagExtents    = 0x80000
	flagInlineData = 0x10000000

	modeTypeMask = 0xF000
	modeFIFO     = 0x1000
	modeChar     = 0x2000
	modeDir      = 0x4000
	modeBlock    = 0x6000
	modeRegular  = 0x8000
	modeSymlink  = 0xA000
	modeSocket   = 0xC000
)

// inode holds the fields of an on-disk inode this package uses.
type inode struct {
	ino          uint64
	off          int64 // byte offset of the inode in the image
	mode         uint16
	uid, gid     uint32
	size         int64
	links        uint32
	flags        uint32
	blocks       uint64 // 512-byte sectors, or fs blocks with HUGE_FILE; only "zero or not" is used
	atime, mtime time.Time
	ctime        time.Time
	block        [60]byte // i_block: extent tree root, block map or fast symlink
	rdev         uint32
	fileACL      uint64 // block of the xattrs that do not fit in the inode
}

// readInode reads inode number ino from its group's inode table.
func (f *FS) readInode(ino uint64) (*inode, error) {
	if ino == 0 || ino > uint64(f.sb.inodes) {
		return nil, fmt.Errorf("%w: inode %d; expected 1 to %d", ErrCorrupt, ino, f.sb.inodes)
	}
	g, idx := (ino-1)/uint64(f.sb.inodesPerGrp), (ino-1)%uint64(f.sb.inodesPerGrp)
	off := int64(f.tables[g])*f.sb.blockSize + int64(idx)*f.sb.inodeSize
	buf := make([]byte, f.sb.inodeSize)
	if _, err := f.r.ReadAt(buf, off); err != nil {
		return nil, fmt.Errorf("read inode %d at byte offset %d: %w", ino, off, err)
	}
	return parseInode(ino, off, buf)
}

func parseInode(ino uint64, off int64, b []byte) (*inode, error) {
	le := binary.LittleEndian
	in := &inode{
		ino: ino, off: off, mode: le.Uint16(b[0x0:]),
		uid:   uint32(le.Uint16(b[0x2:])) | uint32(le.Uint16(b[0x78:]))<<16,
		gid:   uint32(le.Uint16(b[0x18:])) | uint32(le.Uint16(b[0x7A:]))<<16,
		size:  int64(uint64(le.Uint32(b[0x4:])) | uint64(le.Uint32(b[0x6C:]))<<32),
		links: uint32(le.Uint16(b[0x1A:])), flags: le.Uint32(b[0x20:]),
		blocks: uint64(le.Uint32(b[0x1C:])) | uint64(le.Uint16(b[0x74:]))<<32,
	}
	in.fileACL = uint64(le.Uint32(b[0x68:])) | uint64(le.Uint16(b[0x76:]))<<32
	copy(in.block[:], b[0x28:0x28+60])
	if in.size < 0 {
		return nil, corruptf(off+0x4, "inode %d size %d; expected a non-negative size", ino, in.size)
	}
	extra := 0
	if len(b) > 0x82 {
		extra = int(le.Uint16(b[0x80:]))
	}
	ts := func(secOff, extraOff int) time.Time {
		sec := int64(int32(le.Uint32(b[secOff:])))
		var nsec int64
		if extraOff+4 <= 0x80+extra && extraOff+4 <= len(b) {
			x := le.Uint32(b[extraOff:])
			sec += int64(x&3) << 32
			nsec = int64(x >> 2)
			if nsec > 999999999 {
				nsec = 0
			}
		}
		return time.Unix(sec, nsec).UTC()
	}
	in.ctime, in.mtime, in.atime = ts(0x0C, 0x84), ts(0x10, 0x88), ts(0x08, 0x8C)
	if t := in.mode & modeTypeMask; t == modeChar || t == modeBlock {
		in.rdev = decodeDev(in.block[:])
	}
	return in, nil
}

// decodeDev reads a device number from i_block the way Linux stores it: the
// old 16-bit form in the first word, else the new form in the second.
func decodeDev(b []byte) uint32 {
	le := binary.LittleEndian
	if old := le.Uint32(b[0:]); old != 0 {
		return old
	}
	return le.Uint32(b[4:])
}

func (in *inode) isDir() bool     { return in.mode&modeTypeMask == modeDir }
func (in *inode) isRegular() bool { return in.mode&modeTypeMask == modeRegular }
func (in *inode) isSymlink() bool { return in.mode&modeTypeMask == modeSymlink }

// fileMode converts the ext mode to an io/fs mode.
func (in *inode) fileMode() fs.FileMode {
	m := fs.FileMode(in.mode & 0o777)
	if in.mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if in.mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if in.mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch in.mode & modeTypeMask {
	case modeDir:
		m |= fs.ModeDir
	case modeSymlink:
		m |= fs.ModeSymlink
	case modeFIFO:
		m |= fs.ModeNamedPipe
	case modeChar:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case modeBlock:
		m |= fs.ModeDevice
	case modeSocket:
		m |= fs.ModeSocket
	case modeRegular:
	default:
		m |= fs.ModeIrregular
	}
	return m
}

// lsMode renders a mode the way ls -l does (drwxr-sr-x, lrwxrwxrwx, -rwsr-xr-x).
func lsMode(m fs.FileMode) string {
	b := []byte("-rwxrwxrwx")
	switch {
	case m&fs.ModeDir != 0:
		b[0] = 'd'
	case m&fs.ModeSymlink != 0:
		b[0] = 'l'
	case m&fs.ModeNamedPipe != 0:
		b[0] = 'p'
	case m&fs.ModeSocket != 0:
		b[0] = 's'
	case m&fs.ModeCharDevice != 0:
		b[0] = 'c'
	case m&fs.ModeDevice != 0:
		b[0] = 'b'
	case m&fs.ModeIrregular != 0:
		b[0] = '?'
	}
	for i := range 9 {
		if m&(1<<(8-i)) == 0 {
			b[i+1] = '-'
		}
	}
	special := func(i int, set bool, on, off byte) {
		if set {
			if b[i] == '-' {
				b[i] = off
			} else {
				b[i] = on
			}
		}
	}
	special(3, m&fs.ModeSetuid != 0, 's', 'S')
	special(6, m&fs.ModeSetgid != 0, 's', 'S')
	special(9, m&fs.ModeSticky != 0, 't', 'T')
	return string(b)
}
