package partition

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
)

const (
	gptSignature  = "EFI PART"
	gptHeaderMin  = 92
	gptEntryMin   = 128
	maxEntryBytes = 1 << 20 // the entry array (128 × 128 bytes is usual)
)

// gptHeader is what a GPT header says about its entry array.
type gptHeader struct {
	entriesLBA, firstUsable, lastUsable int64
	count, entrySize                    int64
	arrayCRC                            uint32
}

// readGPT reads the primary GPT at LBA 1 and, when it is damaged, the backup
// at the volume's last LBA. Both damaged is an error naming the primary's
// problem and the backup's.
func readGPT(r io.ReaderAt, size int64, ss int64) ([]Partition, error) {
	parts, perr := readGPTAt(r, size, ss, 1)
	if perr == nil || !errors.Is(perr, ErrDamaged) {
		return parts, perr
	}
	parts, berr := readGPTAt(r, size, ss, size/ss-1)
	if berr != nil {
		return nil, fmt.Errorf("%w; backup GPT: %w", perr, berr)
	}
	return parts, nil
}

func readGPTAt(r io.ReaderAt, size, ss, lba int64) ([]Partition, error) {
	what := "primary GPT"
	if lba != 1 {
		what = "backup GPT"
	}
	sector := make([]byte, ss)
	if err := readFull(r, sector, lba*ss, size); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	h, err := parseGPTHeader(sector, lba, size/ss)
	if err != nil {
		return nil, fmt.Errorf("%w: %s header at byte %d: %v", ErrDamaged, what, lba*ss, err)
	}
	array := make([]byte, h.count*h.entrySize)
	if err := readFull(r, array, h.entriesLBA*ss, size); err != nil {
		return nil, fmt.Errorf("%s entries: %w", what, err)
	}
	if got := crc32.ChecksumIEEE(array); got != h.arrayCRC {
		return nil, fmt.Errorf("%w: %s entries at byte %d: CRC32 %08x; the header says %08x", ErrDamaged, what, h.entriesLBA*ss, got, h.arrayCRC)
	}
	var out []Partition
	for i := range h.count {
		e := array[i*h.entrySize : (i+1)*h.entrySize]
		if isZeroBytes(e[:16]) {
			continue
		}
		first, last := int64(le64(e[32:])), int64(le64(e[40:]))
		if first < h.firstUsable || last > h.lastUsable || last < first {
			return nil, fmt.Errorf("%w: %s entry %d spans LBAs %d-%d; expected inside the usable LBAs %d-%d",
				ErrDamaged, what, i+1, first, last, h.firstUsable, h.lastUsable)
		}
		t := guidString(e[0:16])
		if name, ok := gptTypes[t]; ok {
			t += " (" + name + ")"
		}
		out = append(out, Partition{
			Number: int(i + 1), Scheme: "gpt", Start: first * ss, Size: (last - first + 1) * ss,
			Type: t, Name: utf16Name(e[56:min(len(e), 128)]), GUID: guidString(e[16:32]),
		})
	}
	return out, nil
}

// parseGPTHeader checks a header sector found at lba of a volume of
// sectors, and the bounds of what it points at.
func parseGPTHeader(s []byte, lba, sectors int64) (gptHeader, error) {
	if string(s[:8]) != gptSignature {
		return gptHeader{}, fmt.Errorf("no %q signature", gptSignature)
	}
	hsize := int64(le32(s[12:]))
	if hsize < gptHeaderMin || hsize > int64(len(s)) {
		return gptHeader{}, fmt.Errorf("header size %d; expected %d to %d", hsize, gptHeaderMin, len(s))
	}
	hdr := bytes.Clone(s[:hsize])
	want := le32(hdr[16:])
	clear(hdr[16:20])
	if got := crc32.ChecksumIEEE(hdr); got != want {
		return gptHeader{}, fmt.Errorf("header CRC32 %08x; the header says %08x", got, want)
	}
	if my := int64(le64(s[24:])); my != lba {
		return gptHeader{}, fmt.Errorf("header names its own LBA %d; found at LBA %d", my, lba)
	}
	h := gptHeader{
		firstUsable: int64(le64(s[40:])), lastUsable: int64(le64(s[48:])), entriesLBA: int64(le64(s[72:])),
		count: int64(le32(s[80:])), entrySize: int64(le32(s[84:])), arrayCRC: le32(s[88:]),
	}
	if h.entrySize < gptEntryMin || h.entrySize%8 != 0 || h.entrySize > maxEntryBytes || h.count > maxEntryBytes/h.entrySize {
		return gptHeader{}, fmt.Errorf("%d entries of %d bytes; expected entries of at least %d bytes (a multiple of 8), at most %d bytes in all",
			h.count, h.entrySize, gptEntryMin, maxEntryBytes)
	}
	if h.firstUsable < 1 || h.lastUsable >= sectors || h.firstUsable > h.lastUsable+1 {
		return gptHeader{}, fmt.Errorf("usable LBAs %d-%d; expected inside the volume's LBAs 1-%d", h.firstUsable, h.lastUsable, sectors-1)
	}
	if h.entriesLBA < 1 || h.entriesLBA >= sectors {
		return gptHeader{}, fmt.Errorf("entries at LBA %d; expected inside the volume's LBAs 1-%d", h.entriesLBA, sectors-1)
	}
	return h, nil
}

// guidString formats an on-disk GUID (first three fields little-endian) in
// its usual upper-case text form.
func guidString(b []byte) string {
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X", le32(b[0:]), le16(b[4:]), le16(b[6:]), b[8:10], b[10:16])
}

func utf16Name(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := le16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return strings.ToValidUTF8(string(utf16.Decode(u)), "\uFFFD")
}

func isZeroBytes(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

var gptTypes = map[string]string{
	"0FC63DAF-8483-4772-8E79-3D69D8477DE4": "Linux filesystem",
	"C12A7328-F81F-11D2-BA4B-00A0C93EC93B": "EFI System",
	"21686148-6449-6E6F-744E-656564454649": "BIOS boot",
	"0657FD6D-A4AB-43C4-84E5-0933C84B4F4F": "Linux swap",
	"E6D6D379-F507-44C2-A23C-238F2A3DF928": "Linux LVM",
	"A19D880F-05FC-4D3B-A006-743F0F84911E": "Linux RAID",
	"4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709": "Linux root (x86-64)",
	"EBD0A0A2-B9E5-4433-87C0-68B6B72699C7": "Microsoft basic data",
}
