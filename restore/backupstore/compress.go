package backupstore

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pierrec/lz4/v4"
)

// Compression is a block compression method.
type Compression string

// The methods Longhorn writes.
const (
	CompressionLZ4  Compression = "lz4"
	CompressionGzip Compression = "gzip"
	CompressionNone Compression = "none"
)

// ParseCompression accepts lz4, gzip and none; "" means gzip (Longhorn's
// default before the setting existed).
func ParseCompression(s string) (Compression, error) {
	switch c := Compression(s); c {
	case CompressionLZ4, CompressionGzip, CompressionNone:
		return c, nil
	case "":
		return CompressionGzip, nil
	}
	return "", fmt.Errorf("%w %q; expected lz4, gzip or none", ErrUnsupportedCompression, s)
}

// Decoder decompresses and verifies blocks. It keeps its decompressors
// between calls; not safe for concurrent use (one per worker).
type Decoder struct {
	src  bytes.Reader
	gz   *gzip.Reader
	tail [1]byte
}

// Decode decompresses src (method m) into dst, which must be exactly the
// block size, and checks that the content hashes to checksum. Errors wrap
// ErrCorruptBlock, ErrChecksumMismatch or ErrUnsupportedCompression.
func (d *Decoder) Decode(m Compression, src, dst []byte, checksum string) error {
	if err := d.decompress(m, src, dst); err != nil {
		return err
	}
	if got := Checksum(dst); got != checksum {
		return fmt.Errorf("%w: content hashes to %s", ErrChecksumMismatch, got)
	}
	return nil
}

func (d *Decoder) decompress(m Compression, src, dst []byte) error {
	switch m {
	case CompressionNone:
		if len(src) != len(dst) {
			return fmt.Errorf("%w: raw block is %d bytes; expected %d", ErrCorruptBlock, len(src), len(dst))
		}
		copy(dst, src)
		return nil
	case CompressionLZ4:
		return decodeLZ4Frames(src, dst)
	case CompressionGzip:
		return d.gunzip(src, dst)
	}
	return fmt.Errorf("%w %q; expected lz4, gzip or none", ErrUnsupportedCompression, string(m))
}

func (d *Decoder) gunzip(src, dst []byte) error {
	const m = CompressionGzip
	d.src.Reset(src)
	if d.gz == nil {
		gz, err := gzip.NewReader(&d.src)
		if err != nil {
			return decodeError(m, err)
		}
		d.gz = gz
	} else if err := d.gz.Reset(&d.src); err != nil {
		return decodeError(m, err)
	}
	d.gz.Multistream(false)
	r := d.gz
	n, err := io.ReadFull(r, dst)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: %s data decompresses to %d bytes; expected %d", ErrCorruptBlock, m, n, len(dst))
		}
		return decodeError(m, err)
	}
	// The stream must end here; reading on also runs the trailing integrity
	// checks (CRC-32 and size).
	if k, err := io.ReadFull(r, d.tail[:]); k > 0 {
		return fmt.Errorf("%w: %s data decompresses to more than %d bytes", ErrCorruptBlock, m, len(dst))
	} else if err != io.EOF {
		return decodeError(m, err)
	}
	if d.src.Len() != 0 {
		return fmt.Errorf("%w: %d bytes of trailing data after the %s stream", ErrCorruptBlock, d.src.Len(), m)
	}
	return nil
}

func decodeError(m Compression, err error) error {
	msg := err.Error()
	if !strings.HasPrefix(msg, string(m)+":") {
		msg = string(m) + ": " + msg
	}
	if errors.Is(err, gzip.ErrChecksum) {
		return fmt.Errorf("%w: %s", ErrChecksumMismatch, msg)
	}
	return fmt.Errorf("%w: %s", ErrCorruptBlock, msg)
}

// Encoder compresses blocks; not safe for concurrent use.
type Encoder struct {
	lz *lz4.Writer
	gz *gzip.Writer
}

// Encode appends the compressed form of block to dst (reset first).
func (e *Encoder) Encode(m Compression, block []byte, dst *bytes.Buffer) error {
	dst.Reset()
	switch m {
	case CompressionNone:
		dst.Write(block)
		return nil
	case CompressionLZ4:
		if e.lz == nil {
			e.lz = lz4.NewWriter(dst)
			if err := e.lz.Apply(lz4.BlockSizeOption(lz4.Block4Mb), lz4.ChecksumOption(true), lz4.ConcurrencyOption(1)); err != nil {
				return fmt.Errorf("configure lz4: %w", err)
			}
		} else {
			e.lz.Reset(dst)
		}
		if _, err := e.lz.Write(block); err != nil {
			return fmt.Errorf("lz4 compress: %w", err)
		}
		return e.lz.Close()
	case CompressionGzip:
		if e.gz == nil {
			e.gz = gzip.NewWriter(dst)
		} else {
			e.gz.Reset(dst)
		}
		if _, err := e.gz.Write(block); err != nil {
			return fmt.Errorf("gzip compress: %w", err)
		}
		return e.gz.Close()
	}
	return fmt.Errorf("%w %q; expected lz4, gzip or none", ErrUnsupportedCompression, string(m))
}
