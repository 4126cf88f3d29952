package placer

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/stillwater-sc/kpuopt/constraints/alloc"
)

// GenerateSweep builds a perfectly packed problem by a different construction
// from GeneratePerfect: it simulates an allocator that keeps the memory full.
// The address range [0, grid*unit) starts cut into a few live buffers; then
// time advances through [0, grid) and, at random moments, a run of one to
// three buffers that are neighbours in memory ends and the space they held is
// at once cut into new buffers (as many, one more or one fewer, so that the
// number of live buffers drifts towards a target drawn per instance). At time grid every live buffer
// ends. The result is in general not a guillotine cut (a staircase of
// lifetimes can interlock), the load is exactly grid*unit at every time, and
// the construction's own offsets are returned with the problem. Sizes and
// times are multiples of unit and of 1 on the grid. The same seed gives the
// same problem; buffers are shuffled and numbered 0..n-1.
func GenerateSweep(seed uint64, n, grid int, unit int64) (*alloc.Problem, []int64, error) {
	if n < 1 || grid < 2 || unit < 1 || n > grid {
		return nil, nil, fmt.Errorf("generate sweep: need n >= 1, grid >= 2, unit >= 1 and n <= grid; got n=%d grid=%d unit=%d", n, grid, unit)
	}
	rng := rand.New(rand.NewPCG(seed, 0x7377656570))
	type seg struct{ a0, a1, start int } // addresses [a0,a1) in grid units, live from start
	var done []rect
	// cut splits [a0, a1) into m pieces at distinct random grid lines.
	cut := func(a0, a1, m int, start int) []seg {
		lines := map[int]bool{}
		for len(lines) < m-1 {
			lines[a0+1+rng.IntN(a1-a0-1)] = true
		}
		pts := []int{a0, a1}
		for x := range lines {
			pts = append(pts, x)
		}
		slices.Sort(pts)
		out := make([]seg, 0, m)
		for i := 0; i+1 < len(pts); i++ {
			out = append(out, seg{pts[i], pts[i+1], start})
		}
		return out
	}
	// The number of buffers live at a time drifts towards a target drawn
	// per instance (from 4 to about 2*sqrt(n)+3), so instances range from
	// few wide buffers to many narrow ones.
	root := 1
	for (root+1)*(root+1) <= n {
		root++
	}
	target := 4 + rng.IntN(2*root)
	first := min(n, 2+rng.IntN(4))
	live := cut(0, grid, first, 0)
	created := first
	t := 0
	for created < n {
		budget := n - created
		// Spread the remaining events (about two new buffers each) over the
		// remaining time, with random gaps of twice the mean at most.
		events := max(1, budget/2)
		gap := max(1, 2*(grid-1-t)/events)
		// Never later than grid-1-budget: every step then has a moment left
		// for each buffer still to create (each event creates at least one),
		// and every live buffer started before t, so each step has an event.
		t = min(grid-1-budget, t+1+rng.IntN(gap))
		// A run of neighbours that all started before t.
		// (fewer neighbours when no run of the drawn length is eligible).
		var eligible []int
		r := 1 + rng.IntN(3)
		for ; r >= 1 && len(eligible) == 0; r-- {
			for i := range live {
				ok := i+r <= len(live)
				for j := i; ok && j < i+r; j++ {
					ok = live[j].start < t
				}
				if ok {
					eligible = append(eligible, i)
				}
			}
		}
		r++
		if len(eligible) == 0 {
			return nil, nil, fmt.Errorf("generate sweep: no buffer to end at time %d (n=%d grid=%d)", t, n, grid)
		}
		i := eligible[rng.IntN(len(eligible))]
		a0, a1 := live[i].a0, live[i+r-1].a1
		for j := i; j < i+r; j++ {
			done = append(done, rect{live[j].start, t, live[j].a0, live[j].a1})
		}
		// As many new buffers as ended, one more or one fewer, drifting
		// towards the instance's target number of live buffers.
		d := rng.IntN(3) - 1
		switch {
		case len(live) < target:
			d = rng.IntN(2)
		case len(live) > target:
			d = -rng.IntN(2)
		}
		m := max(1, min(r+d, a1-a0, budget))
		fresh := cut(a0, a1, m, t)
		live = append(live[:i], append(fresh, live[i+r:]...)...)
		created += m
	}
	for _, sg := range live {
		done = append(done, rect{sg.start, grid, sg.a0, sg.a1})
	}
	p, offsets := rectProblem(rng, done, grid, unit)
	return p, offsets, nil
}
