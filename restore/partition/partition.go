package partition

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrDamaged: a partition table is present but cannot be trusted
	// (checksum, bounds, a broken chain of logical partitions).
	ErrDamaged = errors.New("damaged partition table")
	// ErrNoTable: Open was asked for a partition of a volume without a
	// partition table.
	ErrNoTable = errors.New("no partition table")
	// ErrNotFound: the table has no partition with that number.
	ErrNotFound = errors.New("partition not found")
)

// Partition is one entry of a partition table.
type Partition struct {
	Number int    // as Linux numbers them: GPT entry index, MBR slot 1-4, logical 5+
	Scheme string // "gpt" or "mbr"
	Start  int64  // byte offset in the volume
	Size   int64  // bytes
	Type   string // GPT type GUID or MBR type byte ("0x83"), with a name when known
	Name   string // GPT partition name; empty for MBR
	GUID   string // GPT unique partition GUID; empty for MBR
}

// Reader returns the partition's bytes inside the volume r.
func (p Partition) Reader(r io.ReaderAt) *io.SectionReader {
	return io.NewSectionReader(r, p.Start, p.Size)
}

// sectorSize is the logical sector size of Longhorn volumes; a GPT is also
// looked for with 4096-byte sectors.
const sectorSize = 512

// List returns the partitions of the volume r of size bytes, by number. A
// volume without a partition table (a filesystem on the whole volume) has
// none and no error. A GPT wins over the MBR (a protective MBR says so); a
// damaged primary GPT is read from its backup at the end of the volume.
func List(r io.ReaderAt, size int64) ([]Partition, error) {
	mbr := make([]byte, sectorSize)
	if err := readFull(r, mbr, 0, size); err != nil {
		return nil, err
	}
	for _, ss := range []int64{sectorSize, 4096} {
		if size < 2*ss {
			continue
		}
		sig := make([]byte, 8)
		if err := readFull(r, sig, ss, size); err != nil {
			return nil, err
		}
		if string(sig) == gptSignature {
			return readGPT(r, size, ss)
		}
	}
	if !hasMBRSignature(mbr) || !plausibleMBR(mbr) {
		return nil, nil
	}
	if protective(mbr) {
		// No header at LBA 1: only the backup at the end can be used.
		return readGPT(r, size, sectorSize)
	}
	return readMBR(r, size, mbr)
}

// Open returns a reader of partition n of the volume r.
func Open(r io.ReaderAt, size int64, n int) (*io.SectionReader, Partition, error) {
	parts, err := List(r, size)
	if err != nil {
		return nil, Partition{}, err
	}
	if len(parts) == 0 {
		return nil, Partition{}, fmt.Errorf("partition %d: %w on the volume (a filesystem on the whole volume?); omit the partition number", n, ErrNoTable)
	}
	i := slices.IndexFunc(parts, func(p Partition) bool { return p.Number == n })
	if i < 0 {
		nums := make([]string, len(parts))
		for j, p := range parts {
			nums[j] = fmt.Sprint(p.Number)
		}
		return nil, Partition{}, fmt.Errorf("%w: partition %d; the %s table has partitions %s", ErrNotFound, n, parts[0].Scheme, strings.Join(nums, ", "))
	}
	return parts[i].Reader(r), parts[i], nil
}

// readFull reads len(p) bytes at off; a read past the volume end is damage
// (the table points there), anything else the reader's own error.
func readFull(r io.ReaderAt, p []byte, off, size int64) error {
	if off < 0 || off > size-int64(len(p)) {
		return fmt.Errorf("%w: a table structure at byte %d (%d bytes) lies beyond the volume size %d", ErrDamaged, off, len(p), size)
	}
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read partition table at byte %d: %w", off, err)
}

func le16(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }
func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }
