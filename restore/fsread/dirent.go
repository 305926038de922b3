package fsread

import (
	"encoding/binary"
)

// dirent is one directory entry: a name and its inode number.
type dirent struct {
	name string
	ino  uint64
}

// parseDirents reads the linear directory entries of a directory's data.
// Hashed (htree) directories need no special case: their index blocks are
// shaped as empty entries that a linear reader skips, and their leaves are
// ordinary entry blocks (the compatibility ext3 designed htree for), so every
// name is read exactly once. Entries with inode 0 (deleted, the checksum
// tail of metadata_csum, index blocks) are skipped. offOf maps a position
// in data to its byte offset in the image for error messages.
func parseDirents(in *inode, data []byte, blockSize int64, offOf func(pos int64) int64) ([]dirent, error) {
	le := binary.LittleEndian
	var out []dirent
	for pos := int64(0); pos+8 <= int64(len(data)); {
		recLen := int64(le.Uint16(data[pos+4:]))
		if blockSize == 65536 && recLen == 0 || recLen == 65535 {
			recLen = 65536 // EXT4_MAX_REC_LEN: a whole 64 KiB block
		}
		blockEnd := (pos/blockSize + 1) * blockSize
		if recLen < 8 || recLen%4 != 0 || pos+recLen > blockEnd {
			return nil, corruptf(offOf(pos), "directory inode %d entry record length %d; expected a multiple of 4 from 8 to the %d bytes left in its block",
				in.ino, recLen, blockEnd-pos)
		}
		ino, nameLen := uint64(le.Uint32(data[pos:])), int64(data[pos+6])
		if 8+nameLen > recLen {
			return nil, corruptf(offOf(pos), "directory inode %d entry name of %d bytes in a record of %d", in.ino, nameLen, recLen)
		}
		if ino != 0 {
			name := string(data[pos+8 : pos+8+nameLen])
			if name != "." && name != ".." {
				out = append(out, dirent{name: name, ino: ino})
			}
		}
		pos += recLen
	}
	return out, nil
}
