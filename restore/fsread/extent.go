package fsread

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// extent maps count file blocks from logical block lblk to physical block
// pblk. Unwritten (preallocated) extents are dropped: they read as zeros.
type extent struct {
	lblk  uint64
	pblk  uint64
	count uint64
}

const (
	extentMagic    = 0xF30A
	maxExtentDepth = 5
)

// extents returns the data extents of an inode, sorted by logical block,
// whether it uses an extent tree or an ext2/3 block map. Every physical block
// is checked to lie inside the filesystem, and the walk is bounded by the
// file's own size, so a hostile image cannot make it loop or grow unbounded.
func (f *FS) extents(in *inode) ([]extent, error) {
	if in.flags&flagInlineData != 0 {
		return nil, fmt.Errorf("%w: inode %d (byte offset %d) keeps its data inline (ext4 inline_data); restore the block image instead (snaprestore restore ... --to IMAGE)",
			ErrUnsupported, in.ino, in.off)
	}
	maxBlocks := uint64((in.size + f.sb.blockSize - 1) / f.sb.blockSize)
	var out []extent
	var err error
	if in.flags&flagExtents != 0 {
		out, err = f.extentTree(in, in.block[:], in.off+0x28, maxExtentDepth+1, maxBlocks, nil)
	} else {
		out, err = f.blockMap(in, maxBlocks)
	}
	if err != nil {
		return nil, err
	}
	var mapped uint64
	for _, e := range out {
		if mapped += e.count; mapped > f.sb.blocks {
			return nil, corruptf(in.off, "inode %d maps more blocks than the filesystem's %d", in.ino, f.sb.blocks)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].lblk < out[j].lblk })
	for i := 1; i < len(out); i++ {
		if out[i].lblk < out[i-1].lblk+out[i-1].count {
			return nil, corruptf(in.off, "inode %d has overlapping extents at file block %d", in.ino, out[i].lblk)
		}
	}
	return out, nil
}

// extentTree walks one node of an extent tree (the root lives in i_block).
func (f *FS) extentTree(in *inode, node []byte, off int64, depthLeft int, maxBlocks uint64, out []extent) ([]extent, error) {
	le := binary.LittleEndian
	if len(node) < 12 || le.Uint16(node) != extentMagic {
		return nil, corruptf(off, "inode %d extent header magic %#x; expected 0xF30A", in.ino, le.Uint16(node))
	}
	entries, depth := int(le.Uint16(node[2:])), int(le.Uint16(node[6:]))
	if depth >= depthLeft || 12+entries*12 > len(node) {
		return nil, corruptf(off, "inode %d extent node with %d entries at depth %d; expected at most %d entries and depth %d",
			in.ino, entries, depth, (len(node)-12)/12, depthLeft-1)
	}
	for i := range entries {
		e := node[12+i*12:]
		if depth == 0 {
			n := uint64(le.Uint16(e[4:]))
			if n > 32768 { // unwritten extent: reads as zeros
				continue
			}
			x := extent{lblk: uint64(le.Uint32(e)), count: n, pblk: uint64(le.Uint16(e[6:]))<<32 | uint64(le.Uint32(e[8:]))}
			if x.lblk >= maxBlocks {
				continue // blocks past EOF (fallocate KEEP_SIZE) are never read
			}
			if x.pblk+x.count > f.sb.blocks || x.pblk+x.count < x.pblk {
				return nil, corruptf(off+12+int64(i)*12, "inode %d extent to blocks %d+%d; expected blocks below %d", in.ino, x.pblk, x.count, f.sb.blocks)
			}
			if len(out) >= int(maxBlocks) {
				return nil, corruptf(off, "inode %d has more extents than its %d blocks", in.ino, maxBlocks)
			}
			out = append(out, x)
			continue
		}
		child := uint64(le.Uint16(e[8:]))<<32 | uint64(le.Uint32(e[4:]))
		if child == 0 || child >= f.sb.blocks {
			return nil, corruptf(off+12+int64(i)*12, "inode %d extent index to block %d; expected a block below %d", in.ino, child, f.sb.blocks)
		}
		buf, coff, err := f.readBlock(int64(child))
		if err != nil {
			return nil, err
		}
		if out, err = f.extentTree(in, buf, coff, depth, maxBlocks, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// blockMap reads an ext2/3 block map: 12 direct pointers, then single,
// double and triple indirect blocks, up to the file's size.
func (f *FS) blockMap(in *inode, maxBlocks uint64) ([]extent, error) {
	var out []extent
	lblk, mapped, reads := uint64(0), uint64(0), uint64(0)
	add := func(p uint64, off int64) error {
		defer func() { lblk++ }()
		if mapped++; mapped > f.sb.blocks {
			return corruptf(off, "inode %d maps more blocks than the filesystem's %d", in.ino, f.sb.blocks)
		}
		if p >= f.sb.blocks {
			return corruptf(off, "inode %d block pointer %d; expected a block below %d", in.ino, p, f.sb.blocks)
		}
		if n := len(out); n > 0 && out[n-1].lblk+out[n-1].count == lblk && out[n-1].pblk+out[n-1].count == p {
			out[n-1].count++
			return nil
		}
		out = append(out, extent{lblk: lblk, pblk: p, count: 1})
		return nil
	}
	var walk func(p uint64, level int, off int64) error
	walk = func(p uint64, level int, off int64) error {
		per := uint64(f.sb.blockSize / 4)
		if p == 0 { // a hole covering the whole subtree
			span := uint64(1)
			for range level {
				span *= per
			}
			lblk += span
			return nil
		}
		if level == 0 {
			return add(p, off)
		}
		if p >= f.sb.blocks {
			return corruptf(off, "inode %d indirect block %d; expected a block below %d", in.ino, p, f.sb.blocks)
		}
		if reads++; reads > f.sb.blocks {
			return corruptf(off, "inode %d reads more indirect blocks than the filesystem's %d", in.ino, f.sb.blocks)
		}
		buf, boff, err := f.readBlock(int64(p))
		if err != nil {
			return err
		}
		for i := uint64(0); i < per && lblk < maxBlocks; i++ {
			if err := walk(uint64(binary.LittleEndian.Uint32(buf[i*4:])), level-1, boff+int64(i)*4); err != nil {
				return err
			}
		}
		return nil
	}
	for i := 0; i < 15 && lblk < maxBlocks; i++ {
		level := max(0, i-11)
		if err := walk(uint64(binary.LittleEndian.Uint32(in.block[i*4:])), level, in.off+0x28+int64(i)*4); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readBlock reads one filesystem block and returns it with its byte offset.
func (f *FS) readBlock(n int64) ([]byte, int64, error) {
	off := n * f.sb.blockSize
	buf := make([]byte, f.sb.blockSize)
	if _, err := f.r.ReadAt(buf, off); err != nil {
		return nil, off, fmt.Errorf("read block %d at byte offset %d: %w", n, off, err)
	}
	return buf, off, nil
}
