package constraints

import (
	"sort"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// crossesL3Tile reports whether n > 0 bytes at L3 offset off span two L3
// tiles of tileBytes each (an access of the simulator never does).
func crossesL3Tile(off, n, tileBytes int64) bool {
	return n > 0 && off/tileBytes != (off+n-1)/tileBytes
}

// MoveHomesIntoTiles moves, in place, every resident tensor of rs whose L3
// home crosses an L3 tile boundary to the lowest offset inside one tile that
// no other resident tensor live at the same time (and itself inside one
// tile) uses; the tensors are visited in order of First, and the scan
// resumes at the next tile start or at the end of a conflicting tensor
// rounded up to 64 B. Every tensor must fit one tile (Bytes <= the tile
// size). It returns the index in rs of the first tensor for which no such
// place exists, or -1 when all were placed.
func MoveHomesIntoTiles(rs []model.ResidentTensor, cfg *kpu.Config) int {
	tb := cfg.L3TileBytes
	order := make([]int, len(rs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return rs[order[a]].First < rs[order[b]].First })
	for _, i := range order {
		r := &rs[i]
		if !crossesL3Tile(r.L3Offset, r.Bytes, tb) {
			continue
		}
		conflict := func(off int64) int64 { // end of a live tensor overlapping [off, off+Bytes), or -1
			for j := range rs {
				o := &rs[j]
				if j == i || o.Last < r.First || r.Last < o.First || crossesL3Tile(o.L3Offset, o.Bytes, tb) {
					continue
				}
				if o.L3Offset < off+r.Bytes && off < o.L3Offset+o.Bytes {
					return o.L3Offset + o.Bytes
				}
			}
			return -1
		}
		placed := false
		for off := int64(0); off+r.Bytes <= cfg.L3Bytes(); {
			if crossesL3Tile(off, r.Bytes, tb) {
				off = (off/tb + 1) * tb
				continue
			}
			if e := conflict(off); e >= 0 {
				off = (e + 63) / 64 * 64
				continue
			}
			r.L3Offset, placed = off, true
			break
		}
		if !placed {
			return i
		}
	}
	return -1
}
