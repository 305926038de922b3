package fsread

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// Kind names what Detect found in an image.
type Kind string

// The kinds Detect recognises.
const (
	KindExt2    Kind = "ext2"
	KindExt3    Kind = "ext3"
	KindExt4    Kind = "ext4"
	KindXFS     Kind = "xfs"
	KindBtrfs   Kind = "btrfs"
	KindLUKS    Kind = "LUKS"
	KindLVM2    Kind = "LVM2"
	KindSwap    Kind = "swap"
	KindGPT     Kind = "GPT partition table"
	KindMBR     Kind = "MBR partition table"
	KindZeros   Kind = "zeros"
	KindUnknown Kind = "unknown"
)

// Probe is what Detect found: the kind, the magic that identified it and the
// byte offset of that magic in the image.
type Probe struct {
	Kind   Kind
	Magic  string // as found, quoted or in hex
	Offset int64  // byte offset of the magic
}

// String describes the probe for error messages, e.g. `xfs (magic "XFSB" at byte 0)`.
func (p Probe) String() string {
	switch p.Kind {
	case KindZeros:
		return "no filesystem (the first 1 MiB reads as zeros)"
	case KindUnknown:
		return "no known filesystem signature in the first 1 MiB"
	}
	return fmt.Sprintf("%s (magic %s at byte %d)", p.Kind, p.Magic, p.Offset)
}

// probeSize is how much of the image Detect reads: every signature it knows
// lies in the first 68 KiB; the rest tells zeros from unknown content.
const probeSize = 1 << 20

type signature struct {
	kind  Kind
	off   int64
	magic []byte
}

// signatures in the order they are checked: a partition table or container
// before the filesystems that might sit at offset 0 of an old mkfs.
var signatures = []signature{
	{KindLUKS, 0, []byte("LUKS\xba\xbe")},
	{KindLUKS, 0, []byte("SKUL\xba\xbe")},
	{KindGPT, 512, []byte("EFI PART")},
	{KindXFS, 0, []byte("XFSB")},
	{KindBtrfs, 0x10040, []byte("_BHRfS_M")},
	{KindLVM2, 512 + 24, []byte("LVM2 001")},
	{KindLVM2, 24, []byte("LVM2 001")},
	{KindSwap, 4096 - 10, []byte("SWAPSPACE2")},
	{KindSwap, 4096 - 10, []byte("SWAP-SPACE")},
}

// Detect reads the first MiB of an image and names what it holds. It never
// fails on content; only a read error is returned.
func Detect(r io.ReaderAt, size int64) (Probe, error) {
	buf := make([]byte, min(size, probeSize))
	if n, err := r.ReadAt(buf, 0); err != nil && !(err == io.EOF && n == len(buf)) {
		return Probe{}, fmt.Errorf("read the first %d bytes of the image: %w", len(buf), err)
	}
	return detectBytes(buf), nil
}

func detectBytes(buf []byte) Probe {
	for _, s := range signatures {
		if end := s.off + int64(len(s.magic)); end <= int64(len(buf)) && bytes.Equal(buf[s.off:end], s.magic) {
			return Probe{Kind: s.kind, Magic: fmt.Sprintf("%q", s.magic), Offset: s.off}
		}
	}
	if len(buf) >= superblockOffset+superblockSize {
		sb := buf[superblockOffset : superblockOffset+superblockSize]
		if binary.LittleEndian.Uint16(sb[0x38:]) == ext4Magic {
			return Probe{Kind: extKind(sb), Magic: "0xEF53", Offset: superblockOffset + 0x38}
		}
	}
	if len(buf) >= 512 && buf[510] == 0x55 && buf[511] == 0xAA && hasPartition(buf[446:510]) {
		return Probe{Kind: KindMBR, Magic: "0x55AA", Offset: 510}
	}
	if isZero(buf) {
		return Probe{Kind: KindZeros}
	}
	return Probe{Kind: KindUnknown}
}

// extKind tells ext2, ext3 and ext4 apart by their feature flags.
func extKind(sb []byte) Kind {
	compat := binary.LittleEndian.Uint32(sb[0x5C:])
	incompat := binary.LittleEndian.Uint32(sb[0x60:])
	switch {
	case incompat&(incompatExtents|incompat64Bit|incompatFlexBG) != 0:
		return KindExt4
	case compat&compatHasJournal != 0:
		return KindExt3
	}
	return KindExt2
}

// hasPartition reports whether any of the four MBR entries has a type.
func hasPartition(table []byte) bool {
	for i := 0; i+16 <= len(table); i += 16 {
		if table[i+4] != 0 {
			return true
		}
	}
	return false
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
