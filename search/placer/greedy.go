package placer

import (
	"sort"

	"github.com/stillwater-sc/kpuopt/constraints/alloc"
)

// Greedy places the buffers one at a time, largest size x lifetime first, each
// at an aligned offset in the gaps left by the already placed buffers that are
// live at the same time. With bestFit it takes the gap that leaves the least
// slack (the open space above every buffer counts as infinite slack); without,
// the lowest gap. It returns the offsets and the resulting peak.
func Greedy(p *alloc.Problem, bestFit bool) ([]int64, int64) {
	n := len(p.Buffers)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	area := func(i int) int64 {
		b := p.Buffers[i]
		return b.Size * (b.Upper - b.Lower)
	}
	sort.SliceStable(order, func(x, y int) bool {
		i, j := order[x], order[y]
		if ai, aj := area(i), area(j); ai != aj {
			return ai > aj
		}
		return p.Buffers[i].Size > p.Buffers[j].Size
	})
	offsets := make([]int64, n)
	var placed []int
	type span struct{ lo, hi int64 }
	var spans []span
	var peak int64
	for _, i := range order {
		b := p.Buffers[i]
		spans = spans[:0]
		for _, j := range placed {
			o := p.Buffers[j]
			if o.Size > 0 && o.Overlaps(b) {
				spans = append(spans, span{offsets[j], offsets[j] + o.Size})
			}
		}
		sort.Slice(spans, func(x, y int) bool { return spans[x].lo < spans[y].lo })
		a := b.Align()
		best, bestSlack := int64(-1), int64(-1)
		var cur int64 // lowest free address so far
		for _, s := range spans {
			start := alignUp(cur, a)
			if s.lo >= start+b.Size {
				slack := s.lo - start - b.Size
				if !bestFit {
					best = start
					break
				}
				if bestSlack < 0 || slack < bestSlack {
					best, bestSlack = start, slack
				}
			}
			if s.hi > cur {
				cur = s.hi
			}
		}
		if best < 0 {
			best = alignUp(cur, a)
		}
		offsets[i] = best
		if e := best + b.Size; b.Size > 0 && e > peak {
			peak = e
		}
		placed = append(placed, i)
	}
	return offsets, peak
}

func alignUp(x, a int64) int64 {
	if a <= 1 {
		return x
	}
	if r := x % a; r != 0 {
		return x + a - r
	}
	return x
}
