package fsread

import (
	"encoding/binary"
	"fmt"
	"io"
)

// The ext2/3/4 on-disk constants this package needs (Linux
// Documentation/filesystems/ext4/super.rst).
const (
	superblockOffset = 1024
	superblockSize   = 1024
	ext4Magic        = 0xEF53

	compatHasJournal    = 0x4
	incompatRecover     = 0x4
	incompatMetaBG      = 0x10
	incompatExtents     = 0x40
	incompat64Bit       = 0x80
	incompatFlexBG      = 0x200
	incompatInlineData  = 0x8000
	incompatEncrypt     = 0x10000
	incompatCasefold    = 0x20000
	incompatJournalDev  = 0x8
	incompatCompression = 0x1

	roCompatMetadataCsum = 0x400

	rootInode = 2
)

// superblock holds the fields of an ext superblock this package uses.
type superblock struct {
	inodes        uint32
	blocks        uint64
	freeBlocks    uint64
	firstData     uint32
	blockSize     int64
	inodesPerGrp  uint32
	inodeSize     int64
	descSize      int64
	compat        uint32
	incompat      uint32
	groups        uint64
	needsRecovery bool
	metadataCsum  bool
	journalIno    uint64 // 0 without a journal
}

// parseSuperblock checks an ext superblock against the image size and the
// features this package can read, so that no later allocation or loop is
// sized by an unchecked field.
func parseSuperblock(b []byte, size int64) (superblock, error) {
	le := binary.LittleEndian
	at := func(field int) int64 { return superblockOffset + int64(field) }
	if m := le.Uint16(b[0x38:]); m != ext4Magic {
		return superblock{}, corruptf(at(0x38), "superblock magic %#x; expected 0xEF53", m)
	}
	sb := superblock{
		inodes: le.Uint32(b[0x0:]), blocks: uint64(le.Uint32(b[0x4:])), freeBlocks: uint64(le.Uint32(b[0xC:])),
		firstData: le.Uint32(b[0x14:]), inodesPerGrp: le.Uint32(b[0x28:]), inodeSize: 128, descSize: 32,
		compat: le.Uint32(b[0x5C:]), incompat: le.Uint32(b[0x60:]),
	}
	logBS := le.Uint32(b[0x18:])
	if logBS > 6 {
		return superblock{}, corruptf(at(0x18), "block size 2^(10+%d); expected 1 KiB to 64 KiB", logBS)
	}
	sb.blockSize = 1024 << logBS
	if le.Uint32(b[0x4C:]) >= 1 {
		sb.inodeSize = int64(le.Uint16(b[0x58:]))
	}
	if sb.inodeSize < 128 || sb.inodeSize > sb.blockSize || sb.inodeSize&(sb.inodeSize-1) != 0 {
		return superblock{}, corruptf(at(0x58), "inode size %d; expected a power of two from 128 to the block size", sb.inodeSize)
	}
	if sb.incompat&incompat64Bit != 0 {
		sb.blocks |= uint64(le.Uint32(b[0x150:])) << 32
		sb.freeBlocks |= uint64(le.Uint32(b[0x158:])) << 32
		sb.descSize = int64(le.Uint16(b[0xFE:]))
		if sb.descSize < 64 || sb.descSize > 1024 || sb.descSize&(sb.descSize-1) != 0 {
			return superblock{}, corruptf(at(0xFE), "group descriptor size %d; expected a power of two from 64 to 1024", sb.descSize)
		}
	}
	if sb.blocks == 0 || sb.blocks > uint64(size/sb.blockSize) {
		return superblock{}, corruptf(at(0x4), "%d blocks of %d bytes; expected at most the %d bytes of the volume", sb.blocks, sb.blockSize, size)
	}
	if sb.inodesPerGrp == 0 || sb.inodes == 0 || int64(sb.inodesPerGrp)*sb.inodeSize > 1<<30 {
		return superblock{}, corruptf(at(0x28), "%d inodes per group of %d bytes; expected a non-zero inode table", sb.inodesPerGrp, sb.inodeSize)
	}
	sb.groups = (uint64(sb.inodes) + uint64(sb.inodesPerGrp) - 1) / uint64(sb.inodesPerGrp)
	if sb.freeBlocks > sb.blocks {
		sb.freeBlocks = sb.blocks
	}
	sb.needsRecovery = sb.incompat&incompatRecover != 0
	sb.metadataCsum = le.Uint32(b[0x64:])&roCompatMetadataCsum != 0
	if sb.compat&compatHasJournal != 0 {
		sb.journalIno = uint64(le.Uint32(b[0xE0:]))
	}
	for _, f := range []struct {
		bit  uint32
		name string
	}{{incompatCompression, "compression"}, {incompatJournalDev, "journal_dev"}, {incompatMetaBG, "meta_bg"},
		{incompatEncrypt, "encrypt"}, {incompatCasefold, "casefold"}} {
		if sb.incompat&f.bit != 0 {
			return superblock{}, fmt.Errorf("%w: ext4 feature %s (superblock at byte %d); restore the block image instead (snaprestore restore ... --to IMAGE) or export it with snaprestore nbd",
				ErrUnsupported, f.name, superblockOffset)
		}
	}
	return sb, nil
}

// usedBytes is the space the filesystem reports in use (data and metadata).
func (sb superblock) usedBytes() int64 { return int64(sb.blocks-sb.freeBlocks) * sb.blockSize }

// groupTable holds each group's inode table block, read once at Open.
func readInodeTables(r io.ReaderAt, sb superblock) ([]uint64, error) {
	gdtBlock := int64(sb.firstData) + 1
	gdtOff := gdtBlock * sb.blockSize
	n := int64(sb.groups) * sb.descSize
	if gdtOff+n > int64(sb.blocks)*sb.blockSize {
		return nil, corruptf(gdtOff, "group descriptor table of %d groups runs past the filesystem's %d blocks", sb.groups, sb.blocks)
	}
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, gdtOff); err != nil {
		return nil, fmt.Errorf("read group descriptors at byte offset %d: %w", gdtOff, err)
	}
	tables := make([]uint64, sb.groups)
	for g := range tables {
		d := buf[int64(g)*sb.descSize:]
		t := uint64(binary.LittleEndian.Uint32(d[0x8:]))
		if sb.descSize >= 64 {
			t |= uint64(binary.LittleEndian.Uint32(d[0x28:])) << 32
		}
		if t == 0 || t >= sb.blocks {
			return nil, corruptf(gdtOff+int64(g)*sb.descSize+8, "group %d inode table at block %d; expected a block below %d", g, t, sb.blocks)
		}
		tables[g] = t
	}
	return tables, nil
}
