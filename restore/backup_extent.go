package restore

import (
	"errors"
	"os"
	"syscall"
)

const (
	seekData = 3 // SEEK_DATA
	seekHole = 4 // SEEK_HOLE
)

// dataBlocks calls fn with the offset of every block of the image that may
// hold data, skipping holes of a sparse file (SEEK_DATA/SEEK_HOLE); where
// the file system cannot tell, every block is visited.
func dataBlocks(img *os.File, size, blockSize int64, fn func(off int64) error) error {
	fd := int(img.Fd())
	next := int64(0) // first block offset not yet visited
	for next < size {
		data, err := syscall.Seek(fd, next, seekData)
		if errors.Is(err, syscall.ENXIO) {
			return nil // only a hole remains
		}
		if err != nil {
			data = next // no SEEK_DATA support: treat everything as data
		}
		hole, err := syscall.Seek(fd, data, seekHole)
		if err != nil {
			hole = size
		}
		first := data / blockSize * blockSize
		for off := max(first, next); off < hole; off += blockSize {
			if err := fn(off); err != nil {
				return err
			}
			next = off + blockSize
		}
		if next <= data {
			next = first + blockSize
		}
	}
	return nil
}
