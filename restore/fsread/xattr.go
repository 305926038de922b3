package fsread

import (
	"encoding/binary"
	"fmt"
)

// ext4 xattr layout (Linux Documentation/filesystems/ext4/attributes.rst):
// entries in the inode after i_extra_isize, and in the block i_file_acl.
const (
	xattrMagic    = 0xEA020000
	xattrEntryLen = 16
	maxXattrValue = 64 << 10
)

var xattrPrefix = map[byte]string{
	1: "user.", 2: "system.posix_acl_access", 3: "system.posix_acl_default",
	4: "trusted.", 6: "security.", 7: "system.", 8: "system.richacl",
}

// xattrs reads an inode's extended attributes from its body and its block.
// The directory library only looks them up by path, once per file, which
// makes a tree walk quadratic; this reads them from the inode Extract has.
func (f *FS) xattrs(in *inode) (map[string][]byte, error) {
	out := map[string][]byte{}
	raw := make([]byte, f.sb.inodeSize)
	if _, err := f.r.ReadAt(raw, in.off); err != nil {
		return nil, fmt.Errorf("read inode %d at byte offset %d: %w", in.ino, in.off, err)
	}
	if f.sb.inodeSize > 0x82 {
		start := 0x80 + int64(binary.LittleEndian.Uint16(raw[0x80:]))
		if start+4 <= f.sb.inodeSize && binary.LittleEndian.Uint32(raw[start:]) == xattrMagic {
			body := raw[start+4:]
			if err := f.parseXattrs(in, body, body, in.off+start+4, out); err != nil {
				return nil, err
			}
		}
	}
	if in.fileACL != 0 {
		if in.fileACL >= f.sb.blocks {
			return nil, corruptf(in.off+0x68, "inode %d xattr block %d; expected a block below %d", in.ino, in.fileACL, f.sb.blocks)
		}
		blk, off, err := f.readBlock(int64(in.fileACL))
		if err != nil {
			return nil, err
		}
		if m := binary.LittleEndian.Uint32(blk); m != xattrMagic {
			return nil, corruptf(off, "inode %d xattr block magic %#x; expected 0xEA020000", in.ino, m)
		}
		if err := f.parseXattrs(in, blk[32:], blk, off+32, out); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// parseXattrs reads the entries in ents; values are at offsets into vals.
func (f *FS) parseXattrs(in *inode, ents, vals []byte, off int64, out map[string][]byte) error {
	le := binary.LittleEndian
	for i := 0; i+xattrEntryLen <= len(ents) && le.Uint32(ents[i:]) != 0; {
		nameLen, idx := int(ents[i]), ents[i+1]
		vOff, vIno, vSize := int(le.Uint16(ents[i+2:])), le.Uint32(ents[i+4:]), int64(le.Uint32(ents[i+8:]))
		if i+xattrEntryLen+nameLen > len(ents) || vSize > maxXattrValue {
			return corruptf(off+int64(i), "inode %d xattr entry (name %d bytes, value %d bytes) runs past its area", in.ino, nameLen, vSize)
		}
		name := xattrPrefix[idx] + string(ents[i+xattrEntryLen:i+xattrEntryLen+nameLen])
		if _, ok := xattrPrefix[idx]; !ok {
			name = fmt.Sprintf("unknown-%d.%s", idx, ents[i+xattrEntryLen:i+xattrEntryLen+nameLen])
		}
		var v []byte
		switch {
		case vIno != 0: // ea_inode: the value is the data of another inode
			vin, err := f.readInode(uint64(vIno))
			if err != nil {
				return err
			}
			v = make([]byte, min(vSize, vin.size))
			if _, err := f.readFile(vin, v, 0); err != nil {
				return err
			}
		case vOff+int(vSize) > len(vals):
			return corruptf(off+int64(i), "inode %d xattr %s value at %d+%d runs past its area of %d bytes", in.ino, name, vOff, vSize, len(vals))
		default:
			v = append([]byte(nil), vals[vOff:vOff+int(vSize)]...)
		}
		out[name] = v
		i += (xattrEntryLen + nameLen + 3) &^ 3
	}
	return nil
}
