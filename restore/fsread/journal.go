package fsread

import (
	"encoding/binary"
	"fmt"
	"io"
)

// The jbd2 journal (Linux Documentation/filesystems/ext4/journal.rst):
// big-endian blocks in the journal inode; transactions of descriptor blocks
// (tags naming filesystem blocks, each followed by its new content) and
// revoke blocks, ended by a commit block.
const (
	journalMagic      = 0xC03B3998
	jbdDescriptor     = 1
	jbdCommit         = 2
	jbdSuperblockV1   = 3
	jbdSuperblockV2   = 4
	jbdRevoke         = 5
	jbdIncompatRevoke = 0x1
	jbdIncompat64Bit  = 0x2
	jbdIncompatCsumV2 = 0x8
	jbdIncompatCsumV3 = 0x10
	jbdTagEscape      = 0x1
	jbdTagSameUUID    = 0x2
	jbdTagLast        = 0x8
)

// replayed is the journal's committed view: a filesystem block number mapped
// to the image offset of its newest committed copy in the journal, and
// whether that copy had its first word escaped.
type replayed struct {
	off    int64
	escape bool
}

// journalReplay reads the journal of a filesystem that needs recovery and
// returns what replaying it would write, without writing anything. An
// incomplete last transaction (no commit block) is ignored, as the kernel does.
func (f *FS) journalReplay(journalIno uint64) (map[uint64]replayed, error) {
	in, err := f.readInode(journalIno)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	ext, err := f.extents(in)
	if err != nil {
		return nil, fmt.Errorf("journal inode %d: %w", journalIno, err)
	}
	bs := f.sb.blockSize
	jblock := func(n uint64) (int64, error) { // journal block -> image offset
		off := f.physical(ext, int64(n)*bs)
		if off < 0 {
			return 0, corruptf(in.off, "journal block %d is not mapped by the journal inode", n)
		}
		return off, nil
	}
	read := func(n uint64) ([]byte, int64, error) {
		off, err := jblock(n)
		if err != nil {
			return nil, 0, err
		}
		b := make([]byte, bs)
		if _, err := f.r.ReadAt(b, off); err != nil {
			return nil, off, fmt.Errorf("read journal block %d at byte offset %d: %w", n, off, err)
		}
		return b, off, nil
	}
	sb, sbOff, err := read(0)
	if err != nil {
		return nil, err
	}
	be := binary.BigEndian
	if be.Uint32(sb) != journalMagic || (be.Uint32(sb[4:]) != jbdSuperblockV1 && be.Uint32(sb[4:]) != jbdSuperblockV2) {
		return nil, corruptf(sbOff, "journal superblock magic %#x type %d; expected 0xC03B3998 type 3 or 4", be.Uint32(sb), be.Uint32(sb[4:]))
	}
	maxLen, first, seq, start := uint64(be.Uint32(sb[0x10:])), uint64(be.Uint32(sb[0x14:])), be.Uint32(sb[0x18:]), uint64(be.Uint32(sb[0x1C:]))
	var incompat uint32
	if be.Uint32(sb[4:]) == jbdSuperblockV2 {
		incompat = be.Uint32(sb[0x28:])
	}
	if start == 0 {
		return nil, nil // clean journal
	}
	if int64(be.Uint32(sb[0xC:])) != bs || first == 0 || first >= maxLen || start < first || start >= maxLen || maxLen > uint64(in.size/bs) {
		return nil, corruptf(sbOff, "journal superblock: block size %d, blocks %d, first %d, start %d; expected the filesystem's block size and blocks inside the journal inode",
			be.Uint32(sb[0xC:]), maxLen, first, start)
	}
	j := journalScan{f: f, read: read, jblock: jblock, maxLen: maxLen, first: first, incompat: incompat}
	return j.run(start, seq)
}

type journalScan struct {
	f        *FS
	read     func(uint64) ([]byte, int64, error)
	jblock   func(uint64) (int64, error)
	maxLen   uint64
	first    uint64
	incompat uint32
}

type journalWrite struct {
	seq    uint32
	fsBlk  uint64
	off    int64
	escape bool
}

// run walks the transactions from block start, sequence seq, until a block
// that is not the next expected one; then applies revokes and keeps the
// newest copy of each block.
func (j *journalScan) run(start uint64, seq uint32) (map[uint64]replayed, error) {
	be := binary.BigEndian
	var writes, pending []journalWrite
	revoked := map[uint64]uint32{}
	pendingRevoke := map[uint64]uint32{}
	pos := start
	for steps := uint64(0); steps < j.maxLen; steps++ {
		b, _, err := j.read(pos)
		if err != nil {
			return nil, err
		}
		if be.Uint32(b) != journalMagic || be.Uint32(b[8:]) != seq {
			break // the end of the log
		}
		next := j.advance(pos, 1)
		switch be.Uint32(b[4:]) {
		case jbdDescriptor:
			tags, n, err := j.tags(b, next, seq)
			if err != nil {
				return nil, err
			}
			pending = append(pending, tags...)
			next = j.advance(next, n)
		case jbdRevoke:
			if err := j.revokes(b, seq, pendingRevoke); err != nil {
				return nil, err
			}
		case jbdCommit:
			writes = append(writes, pending...)
			for blk, s := range pendingRevoke {
				revoked[blk] = max(revoked[blk], s)
			}
			pending, pendingRevoke = nil, map[uint64]uint32{}
			seq++
		default:
			steps = j.maxLen // an unknown block ends the log
			continue
		}
		pos = next
	}
	out := map[uint64]replayed{}
	for _, w := range writes {
		if s, ok := revoked[w.fsBlk]; ok && s >= w.seq {
			continue
		}
		out[w.fsBlk] = replayed{off: w.off, escape: w.escape}
	}
	return out, nil
}

func (j *journalScan) advance(pos, n uint64) uint64 {
	for range n {
		if pos++; pos >= j.maxLen {
			pos = j.first
		}
	}
	return pos
}

// tags reads a descriptor block's tags; the data blocks follow it in order.
func (j *journalScan) tags(b []byte, data uint64, seq uint32) ([]journalWrite, uint64, error) {
	be := binary.BigEndian
	tagLen := 8
	switch {
	case j.incompat&jbdIncompatCsumV3 != 0:
		tagLen = 16
	case j.incompat&jbdIncompat64Bit != 0:
		tagLen = 12
	}
	end := len(b)
	if j.incompat&(jbdIncompatCsumV2|jbdIncompatCsumV3) != 0 {
		end -= 4 // the descriptor block's checksum tail
	}
	var out []journalWrite
	n := uint64(0)
	for p := 12; p+tagLen <= end; {
		blk := uint64(be.Uint32(b[p:]))
		var flags uint32
		if tagLen == 16 {
			flags = be.Uint32(b[p+4:])
			blk |= uint64(be.Uint32(b[p+8:])) << 32
		} else {
			flags = uint32(be.Uint16(b[p+6:]))
			if tagLen == 12 {
				blk |= uint64(be.Uint32(b[p+8:])) << 32
			}
		}
		if blk >= j.f.sb.blocks {
			return nil, 0, fmt.Errorf("%w: journal transaction %d writes block %d; expected a block below %d", ErrCorrupt, seq, blk, j.f.sb.blocks)
		}
		off, err := j.jblock(j.advance(data, n))
		if err != nil {
			return nil, 0, err
		}
		out = append(out, journalWrite{seq: seq, fsBlk: blk, off: off, escape: flags&jbdTagEscape != 0})
		n++
		p += tagLen
		if flags&jbdTagSameUUID == 0 {
			p += 16
		}
		if flags&jbdTagLast != 0 {
			break
		}
	}
	return out, n, nil
}

// revokes reads a revoke block's list of filesystem blocks.
func (j *journalScan) revokes(b []byte, seq uint32, into map[uint64]uint32) error {
	be := binary.BigEndian
	count := int(be.Uint32(b[12:]))
	size := 4
	if j.incompat&jbdIncompat64Bit != 0 {
		size = 8
	}
	if count > len(b) || count < 16 {
		return fmt.Errorf("%w: journal revoke block of transaction %d uses %d bytes; expected 16 to %d", ErrCorrupt, seq, count, len(b))
	}
	for p := 16; p+size <= count; p += size {
		blk := uint64(be.Uint32(b[p:]))
		if size == 8 {
			blk = be.Uint64(b[p:])
		}
		into[blk] = max(into[blk], seq)
	}
	return nil
}

// journaled is the image as the journal's replay would leave it: reads of
// replayed blocks come from their journal copies.
type journaled struct {
	r         io.ReaderAt
	blockSize int64
	blocks    map[uint64]replayed
}

func (j journaled) ReadAt(p []byte, off int64) (int, error) {
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		blk, in := uint64(pos/j.blockSize), pos%j.blockSize
		n := min(int64(len(p)-done), j.blockSize-in)
		rp, ok := j.blocks[blk]
		if !ok { // read up to the next replayed block in one call
			for n < int64(len(p)-done) {
				if _, next := j.blocks[uint64((pos+n)/j.blockSize)]; next {
					break
				}
				n = min(n+j.blockSize, int64(len(p)-done))
			}
			m, err := j.r.ReadAt(p[done:done+int(n)], pos)
			done += m
			if err != nil {
				return done, err
			}
			continue
		}
		buf := make([]byte, j.blockSize)
		if _, err := j.r.ReadAt(buf, rp.off); err != nil {
			return done, fmt.Errorf("read the journal copy of block %d at byte offset %d: %w", blk, rp.off, err)
		}
		if rp.escape {
			binary.BigEndian.PutUint32(buf, journalMagic)
		}
		done += copy(p[done:done+int(n)], buf[in:])
	}
	return done, nil
}
