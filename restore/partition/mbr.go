package partition

import (
	"fmt"
	"io"
)

const (
	mbrEntries   = 446 // offset of the four 16-byte entries
	typeGPT      = 0xee
	maxLogical   = 128 // logical partitions followed in an extended partition
	mbrSignature = 0xaa55
)

func hasMBRSignature(s []byte) bool { return le16(s[510:]) == mbrSignature }

// plausibleMBR tells a partition table from a boot sector with the same
// signature (FAT, NTFS): every entry's status byte is 0x00 or 0x80.
func plausibleMBR(s []byte) bool {
	for i := range 4 {
		if st := s[mbrEntries+16*i]; st != 0 && st != 0x80 {
			return false
		}
	}
	return true
}

// protective reports an MBR whose entry says "the disk is a GPT".
func protective(s []byte) bool {
	for i := range 4 {
		if s[mbrEntries+16*i+4] == typeGPT {
			return true
		}
	}
	return false
}

func isExtended(t byte) bool { return t == 0x05 || t == 0x0f || t == 0x85 }

type mbrEntry struct {
	typ         byte
	start, size int64 // sectors
}

func mbrEntryAt(s []byte, i int) mbrEntry {
	e := s[mbrEntries+16*i:]
	return mbrEntry{typ: e[4], start: int64(le32(e[8:])), size: int64(le32(e[12:]))}
}

// readMBR lists the primary partitions (numbers 1-4) and the logical ones
// of an extended partition (5 on), as Linux numbers them. The extended
// partition itself is a container and is not listed.
func readMBR(r io.ReaderAt, size int64, s []byte) ([]Partition, error) {
	var out []Partition
	var ext *mbrEntry
	for i := range 4 {
		e := mbrEntryAt(s, i)
		if e.typ == 0 || e.size == 0 {
			continue
		}
		if err := checkBounds(fmt.Sprintf("MBR entry %d", i+1), e.start, e.size, 0, size/sectorSize); err != nil {
			return nil, err
		}
		if isExtended(e.typ) {
			if ext != nil {
				return nil, fmt.Errorf("%w: MBR entries hold two extended partitions; expected at most one", ErrDamaged)
			}
			ext = &e
			continue
		}
		out = append(out, mbrPartition(i+1, e))
	}
	if ext == nil {
		return out, nil
	}
	logical, err := readLogical(r, size, *ext)
	if err != nil {
		return nil, err
	}
	return append(out, logical...), nil
}

// readLogical follows the chain of extended boot records: each holds one
// logical partition (relative to itself) and a link to the next record
// (relative to the extended partition's start).
func readLogical(r io.ReaderAt, size int64, ext mbrEntry) ([]Partition, error) {
	var out []Partition
	ebr := make([]byte, sectorSize)
	at := ext.start
	seen := map[int64]bool{}
	for n := 5; ; n++ {
		if seen[at] || n-5 >= maxLogical {
			return nil, fmt.Errorf("%w: the chain of logical partitions loops or exceeds %d entries (extended boot record at sector %d)", ErrDamaged, maxLogical, at)
		}
		seen[at] = true
		if err := readFull(r, ebr, at*sectorSize, size); err != nil {
			return nil, err
		}
		if !hasMBRSignature(ebr) {
			return nil, fmt.Errorf("%w: extended boot record at sector %d has no 0x55AA signature", ErrDamaged, at)
		}
		e, next := mbrEntryAt(ebr, 0), mbrEntryAt(ebr, 1)
		if e.typ != 0 && e.size != 0 {
			e.start += at
			if err := checkBounds(fmt.Sprintf("logical partition %d", n), e.start, e.size, ext.start, ext.start+ext.size); err != nil {
				return nil, err
			}
			out = append(out, mbrPartition(n, e))
		}
		if next.typ == 0 || next.size == 0 {
			return out, nil
		}
		at = ext.start + next.start
		if at < ext.start || at >= ext.start+ext.size {
			return nil, fmt.Errorf("%w: logical partition %d links to an extended boot record at sector %d outside the extended partition (sectors %d-%d)", ErrDamaged, n, at, ext.start, ext.start+ext.size-1)
		}
	}
}

func mbrPartition(n int, e mbrEntry) Partition {
	t := fmt.Sprintf("0x%02x", e.typ)
	if name, ok := mbrTypes[e.typ]; ok {
		t += " (" + name + ")"
	}
	return Partition{Number: n, Scheme: "mbr", Start: e.start * sectorSize, Size: e.size * sectorSize, Type: t}
}

// checkBounds requires sectors [start, start+n) inside [lo, hi).
func checkBounds(what string, start, n, lo, hi int64) error {
	if start < lo || n <= 0 || start+n > hi {
		return fmt.Errorf("%w: %s spans sectors %d-%d; expected inside sectors %d-%d", ErrDamaged, what, start, start+n-1, lo, hi-1)
	}
	return nil
}

var mbrTypes = map[byte]string{
	0x07: "NTFS/exFAT", 0x0b: "FAT32", 0x0c: "FAT32 LBA", 0x0e: "FAT16 LBA",
	0x82: "Linux swap", 0x83: "Linux", 0x8e: "Linux LVM", 0xef: "EFI System", 0xfd: "Linux RAID",
}
