package constraints

import (
	"fmt"
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
// rounded up to 64 B. A striped home (a tensor larger than one tile) stays
// where it is and blocks the whole tiles it reserves (HomeRange). It
// returns the index in rs of the first tensor for which no such place
// exists, or -1 when all were placed.
func MoveHomesIntoTiles(rs []model.ResidentTensor, cfg *kpu.Config) int {
	tb := cfg.L3TileBytes
	order := make([]int, len(rs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return rs[order[a]].First < rs[order[b]].First })
	for _, i := range order {
		r := &rs[i]
		if r.Bytes > tb || !crossesL3Tile(r.L3Offset, r.Bytes, tb) {
			continue
		}
		conflict := func(off int64) int64 { // end of a live tensor overlapping [off, off+Bytes), or -1
			for j := range rs {
				o := &rs[j]
				if j == i || o.Last < r.First || r.Last < o.First || o.Bytes <= tb && crossesL3Tile(o.L3Offset, o.Bytes, tb) {
					continue
				}
				if h := HomeRange(*o, cfg); h.Start < off+r.Bytes && off < h.End {
					return h.End
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

// Striped homes (docs/graph-schedules.md §6). A resident tensor larger than
// one L3 tile is cut into stripes: pieces of its storage order, each at
// offset 0 of its own L3 tile, the tiles consecutive from its home. The cuts
// lie where no access of any step to the tensor crosses them (an access of
// the simulator stays inside one L3 tile); the lowering chooses them
// (StripeCuts) from the accesses it emits. The home reserves
// StripedHomeTiles whole tiles: one more than the bytes need, for the room
// the cuts leave.

// StripedHomeTiles is the number of whole L3 tiles the striped home of a
// tensor of n bytes reserves, or 0 when the tensor fits one L3 tile.
func StripedHomeTiles(n int64, cfg *kpu.Config) int64 {
	tb := cfg.L3TileBytes
	if tb <= 0 || n <= tb {
		return 0
	}
	return (n+tb-1)/tb + 1
}

// HomeReserve is the L3 capacity a resident tensor of n bytes takes: its
// bytes, or the whole tiles of its striped home.
func HomeReserve(n int64, cfg *kpu.Config) int64 {
	if k := StripedHomeTiles(n, cfg); k > 0 {
		return k * cfg.L3TileBytes
	}
	return n
}

// HomeRange is the L3 range resident tensor r reserves from its home
// (L3Offset, a tile start for a striped home).
func HomeRange(r model.ResidentTensor, cfg *kpu.Config) L3Range {
	return L3Range{Start: r.L3Offset, End: r.L3Offset + HomeReserve(r.Bytes, cfg)}
}

// StripeCuts cuts a tensor of n bytes into at most k stripes of at most
// tileBytes each such that no access [Start, End) (byte offsets in the
// tensor's storage) has a cut strictly inside it, each stripe as long as
// allowed (greedy; it finds the fewest stripes). It returns the start of
// every stripe (the first is 0), or an error naming the access that
// prevents a cut.
func StripeCuts(n, tileBytes int64, k int, accesses []L3Range) ([]int64, error) {
	// the union of the open intervals (Start, End) where no cut may fall
	iv := make([]L3Range, 0, len(accesses))
	for _, a := range accesses {
		if a.End-a.Start > 1 {
			iv = append(iv, a)
		}
	}
	sort.Slice(iv, func(i, j int) bool {
		if iv[i].Start != iv[j].Start {
			return iv[i].Start < iv[j].Start
		}
		return iv[i].End > iv[j].End
	})
	var no []L3Range
	for _, a := range iv {
		if l := len(no); l > 0 && a.Start < no[l-1].End {
			no[l-1].End = max(no[l-1].End, a.End)
			continue
		}
		no = append(no, a)
	}
	cuts := []int64{0}
	j := 0
	for pos := int64(0); pos+tileBytes < n; {
		c := pos + tileBytes
		for j < len(no) && no[j].End <= c {
			j++
		}
		if j < len(no) && no[j].Start < c {
			// c falls inside accesses: cut where they begin
			if no[j].Start <= pos {
				return nil, fmt.Errorf("the accesses to bytes [%d, %d) of the tensor span more than one L3 tile of %d B from byte %d: no cut fits", no[j].Start, no[j].End, tileBytes, pos)
			}
			c = no[j].Start
		}
		cuts = append(cuts, c)
		pos = c
		if len(cuts) > k {
			return nil, fmt.Errorf("%d B need more than %d stripes of at most %d B where no access crosses a cut", n, k, tileBytes)
		}
	}
	return cuts, nil
}
