package placer

import (
	"fmt"
	"math/rand/v2"

	"github.com/stillwater-sc/kpuopt/constraints/alloc"
)

// GeneratePerfect builds a problem whose buffers tile a capacity x horizon
// rectangle exactly: the rectangle (addresses [0, grid*unit), times [0, grid))
// is cut recursively, across time or across addresses at a random grid line,
// until it has n pieces; each piece is a buffer. So a placement with peak
// exactly grid*unit exists, the load is 100% of that capacity at every time,
// and one byte less is infeasible. Buffers are shuffled and numbered 0..n-1.
// The same seed gives the same problem. It also returns the offsets of the
// known perfect placement.
func GeneratePerfect(seed uint64, n, grid int, unit int64) (*alloc.Problem, []int64, error) {
	if n < 1 || grid < 2 || unit < 1 || n > grid*grid {
		return nil, nil, fmt.Errorf("generate: need n >= 1, grid >= 2, unit >= 1 and n <= grid^2; got n=%d grid=%d unit=%d", n, grid, unit)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6b70756f7074))
	rects := []rect{{0, grid, 0, grid}}
	for len(rects) < n {
		// Pick a cuttable rectangle, weighted towards large ones.
		var idx = -1
		for tries := 0; tries < 64 && idx < 0; tries++ {
			i := rng.IntN(len(rects))
			j := rng.IntN(len(rects))
			r, q := rects[i], rects[j]
			if (q.t1-q.t0)*(q.a1-q.a0) > (r.t1-r.t0)*(r.a1-r.a0) {
				i, r = j, q
			}
			if r.t1-r.t0 >= 2 || r.a1-r.a0 >= 2 {
				idx = i
			}
		}
		if idx < 0 {
			for i, r := range rects {
				if r.t1-r.t0 >= 2 || r.a1-r.a0 >= 2 {
					idx = i
					break
				}
			}
		}
		r := rects[idx]
		w, h := r.t1-r.t0, r.a1-r.a0
		cutTime := w >= 2 && (h < 2 || rng.IntN(2) == 0)
		var a, b rect
		if cutTime {
			c := r.t0 + 1 + rng.IntN(w-1)
			a, b = rect{r.t0, c, r.a0, r.a1}, rect{c, r.t1, r.a0, r.a1}
		} else {
			c := r.a0 + 1 + rng.IntN(h-1)
			a, b = rect{r.t0, r.t1, r.a0, c}, rect{r.t0, r.t1, c, r.a1}
		}
		rects[idx] = a
		rects = append(rects, b)
	}
	p, offsets := rectProblem(rng, rects, grid, unit)
	return p, offsets, nil
}

// rect is a buffer of a generated instance: times [t0, t1), addresses
// [a0, a1) in grid units.
type rect struct{ t0, t1, a0, a1 int }

// rectProblem turns rectangles of time x address (in grid units of unit
// bytes) into a problem of capacity grid units, in a shuffled order, with
// the offsets that place them.
func rectProblem(rng *rand.Rand, rects []rect, grid int, unit int64) (*alloc.Problem, []int64) {
	rng.Shuffle(len(rects), func(i, j int) { rects[i], rects[j] = rects[j], rects[i] })
	p := &alloc.Problem{Capacity: int64(grid) * unit}
	offsets := make([]int64, len(rects))
	for i, r := range rects {
		p.Buffers = append(p.Buffers, alloc.Buffer{
			ID:    fmt.Sprint(i),
			Lower: int64(r.t0),
			Upper: int64(r.t1),
			Size:  int64(r.a1-r.a0) * unit,
		})
		offsets[i] = int64(r.a0) * unit
	}
	return p, offsets
}

// DropAwayFromPeak returns a copy of p without a fraction frac of the
// buffers that are not live at one time drawn from the seed. Applied to a
// perfect packing, the load stays 100% of the capacity at that time (the
// peak) and drops elsewhere, so the result still fits exactly its capacity
// (the packing's own offsets, restricted to the buffers kept) and one byte
// less is infeasible, but the slack left elsewhere takes away the
// exactness that the time sweep and the partner rules use. It also returns,
// for each kept buffer, its index in p.
func DropAwayFromPeak(p *alloc.Problem, seed uint64, frac float64) (*alloc.Problem, []int) {
	rng := rand.New(rand.NewPCG(seed, 0x7065616b))
	var end int64
	for _, b := range p.Buffers {
		end = max(end, b.Upper)
	}
	peak := rng.Int64N(max(1, end))
	q := &alloc.Problem{Capacity: p.Capacity}
	var kept []int
	for i, b := range p.Buffers {
		if (b.Lower > peak || b.Upper <= peak) && rng.Float64() < frac {
			continue
		}
		q.Buffers = append(q.Buffers, b)
		kept = append(kept, i)
	}
	return q, kept
}
