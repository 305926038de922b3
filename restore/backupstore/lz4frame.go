package backupstore

import (
	"encoding/binary"
	"fmt"

	"github.com/pierrec/lz4/v4"
)

// decodeLZ4Frames decompresses one or more LZ4 frames held in memory straight
// into dst, without the stream reader's 4 MiB staging buffers: the restore's
// memory stays at one compressed and one plain block per worker. Frame and
// block checksums are not checked here; the block's SHA-512 checksum, always
// verified afterwards, covers the content.
func decodeLZ4Frames(src, dst []byte) error {
	pos := 0
	for frames := 0; len(src) > 0 || frames == 0; frames++ {
		n, rest, err := decodeLZ4Frame(src, dst, pos)
		if err != nil {
			return err
		}
		pos, src = n, rest
	}
	if pos != len(dst) {
		return fmt.Errorf("%w: lz4 data decompresses to %d bytes; expected %d", ErrCorruptBlock, pos, len(dst))
	}
	return nil
}

const (
	lz4Magic          = 0x184D2204
	lz4SkippableMagic = 0x184D2A50 // low nibble varies
	lz4FlagBlockIndep = 1 << 5
	lz4FlagBlockCksum = 1 << 4
	lz4FlagSize       = 1 << 3
	lz4FlagCksum      = 1 << 2
	lz4FlagDict       = 1 << 0
)

func lz4Corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: lz4: "+format, append([]any{ErrCorruptBlock}, args...)...)
}

// decodeLZ4Frame decodes the frame at the start of src into dst[pos:] and
// returns the new position and the bytes after the frame.
func decodeLZ4Frame(src, dst []byte, pos int) (int, []byte, error) {
	if len(src) < 7 {
		return pos, nil, lz4Corrupt("truncated frame header")
	}
	magic := binary.LittleEndian.Uint32(src)
	if magic&0xFFFFFFF0 == lz4SkippableMagic {
		n := int(binary.LittleEndian.Uint32(src[4:]))
		if n < 0 || 8+n > len(src) {
			return pos, nil, lz4Corrupt("truncated skippable frame")
		}
		return pos, src[8+n:], nil
	}
	if magic != lz4Magic {
		return pos, nil, lz4Corrupt("bad magic number %#x", magic)
	}
	flg := src[4]
	if flg>>6 != 1 {
		return pos, nil, lz4Corrupt("unsupported frame version %d", flg>>6)
	}
	if flg&lz4FlagDict != 0 {
		return pos, nil, lz4Corrupt("frames with a dictionary are not supported")
	}
	hdr := 7 // magic, FLG, BD, HC
	if flg&lz4FlagSize != 0 {
		hdr += 8
	}
	if len(src) < hdr {
		return pos, nil, lz4Corrupt("truncated frame header")
	}
	src = src[hdr:]
	for {
		if len(src) < 4 {
			return pos, nil, lz4Corrupt("truncated block header")
		}
		word := binary.LittleEndian.Uint32(src)
		src = src[4:]
		if word == 0 {
			break
		}
		size := int(word & 0x7FFFFFFF)
		if size > len(src) {
			return pos, nil, lz4Corrupt("block of %d bytes but %d remain", size, len(src))
		}
		data := src[:size]
		src = src[size:]
		if flg&lz4FlagBlockCksum != 0 {
			if len(src) < 4 {
				return pos, nil, lz4Corrupt("truncated block checksum")
			}
			src = src[4:]
		}
		if word&0x80000000 != 0 {
			if size > len(dst)-pos {
				return pos, nil, fmt.Errorf("%w: lz4 data decompresses to more than %d bytes", ErrCorruptBlock, len(dst))
			}
			pos += copy(dst[pos:], data)
			continue
		}
		var (
			n   int
			err error
		)
		if flg&lz4FlagBlockIndep != 0 || pos == 0 {
			n, err = lz4.UncompressBlock(data, dst[pos:])
		} else {
			n, err = lz4.UncompressBlockWithDict(data, dst[pos:], dst[max(0, pos-64<<10):pos])
		}
		if err != nil {
			return pos, nil, fmt.Errorf("%w: lz4: %v (or more than %d bytes)", ErrCorruptBlock, err, len(dst))
		}
		pos += n
	}
	if flg&lz4FlagCksum != 0 {
		if len(src) < 4 {
			return pos, nil, lz4Corrupt("truncated content checksum")
		}
		src = src[4:]
	}
	return pos, src, nil
}
