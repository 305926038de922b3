package restore

import (
	"github.com/snaprestore/snaprestore/restore/backupstore"
)

// group is one distinct block object and every offset it is restored to.
type group struct {
	checksum string
	offsets  []int64 // ascending
}

// plan is what a restore has to do, computed from the cfgs alone.
type plan struct {
	groups []group  // in order of first offset
	zero   []extent // ranges to zero on a target that is not fresh
	blocks int      // block offsets written (sum of len(offsets))
}

type extent struct{ off, len int64 }

// planRestore groups b's blocks by checksum, so each object is fetched once.
// With old (incremental restore onto old's image) only offsets whose checksum
// changed are written and offsets old had but b lacks are zeroed.
func planRestore(b, old *backupstore.Backup) plan {
	var p plan
	oldAt := map[int64]string{}
	if old != nil {
		for _, blk := range old.Blocks {
			oldAt[blk.Offset] = blk.Checksum
		}
	}
	index := map[string]int{}
	for _, blk := range b.Blocks {
		if old != nil {
			c, ok := oldAt[blk.Offset]
			delete(oldAt, blk.Offset)
			if ok && c == blk.Checksum {
				continue
			}
		}
		i, ok := index[blk.Checksum]
		if !ok {
			i = len(p.groups)
			index[blk.Checksum] = i
			p.groups = append(p.groups, group{checksum: blk.Checksum})
		}
		p.groups[i].offsets = append(p.groups[i].offsets, blk.Offset)
		p.blocks++
	}
	if old != nil {
		for _, blk := range old.Blocks {
			if _, gone := oldAt[blk.Offset]; gone {
				p.zero = append(p.zero, extent{blk.Offset, old.BlockSize})
			}
		}
	}
	return p
}

// unlisted returns the ranges of a volume of size that b lists no block for:
// they must be zeroed when the target is not a fresh sparse file.
func unlisted(b *backupstore.Backup, size int64) []extent {
	var out []extent
	pos := int64(0)
	for _, blk := range b.Blocks {
		if blk.Offset > pos {
			out = append(out, extent{pos, blk.Offset - pos})
		}
		pos = blk.Offset + b.BlockSize
	}
	if pos < size {
		out = append(out, extent{pos, size - pos})
	}
	return out
}
