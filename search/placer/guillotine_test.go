package placer

import (
	"context"
	"testing"

	"github.com/stillwater-sc/kpuopt/constraints/alloc"
)

// runGuillotine runs the guillotine search to its end: a tiling, or proof
// that there is none of its kind.
func runGuillotine(t *testing.T, g *guillotine) bool {
	t.Helper()
	for !g.done {
		if g.run(guilBase * luby(g.runs+1)) {
			return true
		}
		if g.runs > 10000 {
			t.Fatal("no end after 10000 runs")
		}
	}
	return false
}

// offsetsOf maps the guillotine's offsets back to the problem's buffers.
func offsetsOf(g *guillotine, n int) []int64 {
	offs := make([]int64, n)
	scatter(offs, g.orig, g.off)
	return offs
}

// TestGuillotineTilesCuts: the recursive cuts are guillotine tilings, and the
// search is complete for those, so it must place every one of them (and
// legally); on the other generator it either places the instance legally or
// ends saying there is no such tiling.
func TestGuillotineTilesCuts(t *testing.T) {
	tilings := 0
	for _, g := range generators {
		for seed := uint64(1); seed <= 25; seed++ {
			n := 30 + 7*int(seed)
			p, _, err := g.gen(seed, n, 256, 1)
			if err != nil {
				t.Fatal(err)
			}
			gs := newGuillotine(context.Background(), p, p.Capacity)
			if gs == nil {
				t.Fatalf("%s seed %d: full at every time, but the guillotine search does not apply", g.name, seed)
			}
			found := runGuillotine(t, gs)
			if g.name == "cut" && !found {
				t.Fatalf("cut seed %d (n=%d): no guillotine tiling found, but the instance is one", seed, n)
			}
			if found {
				tilings++
				if err := p.Check(offsetsOf(gs, len(p.Buffers)), p.Capacity); err != nil {
					t.Fatalf("%s seed %d: illegal tiling: %v", g.name, seed, err)
				}
			}
		}
	}
	t.Logf("%d tilings found", tilings)
}

func TestGuillotineApplies(t *testing.T) {
	full := &alloc.Problem{Buffers: []alloc.Buffer{
		{ID: "a", Lower: 0, Upper: 4, Size: 2}, {ID: "b", Lower: 0, Upper: 2, Size: 2}, {ID: "c", Lower: 2, Upper: 4, Size: 2},
		{ID: "z", Lower: 1, Upper: 3, Size: 0},
		{ID: "d", Lower: 6, Upper: 9, Size: 4}, // after an empty gap: still full where live
	}}
	tests := []struct {
		name  string
		p     *alloc.Problem
		c     int64
		apply bool
	}{
		{"full where live", full, 4, true},
		{"slack", full, 5, false},
		{"an alignment that divides every size", &alloc.Problem{Buffers: []alloc.Buffer{
			{ID: "a", Lower: 0, Upper: 2, Size: 4, Alignment: 2}, {ID: "b", Lower: 0, Upper: 1, Size: 2, Alignment: 2},
			{ID: "c", Lower: 1, Upper: 2, Size: 2}}}, 6, true},
		{"an alignment that does not", &alloc.Problem{Buffers: []alloc.Buffer{
			{ID: "a", Lower: 0, Upper: 2, Size: 4, Alignment: 4}, {ID: "b", Lower: 0, Upper: 1, Size: 2},
			{ID: "c", Lower: 1, Upper: 2, Size: 2}}}, 6, false},
		{"only empty buffers", &alloc.Problem{Buffers: []alloc.Buffer{{ID: "a", Lower: 0, Upper: 1}}}, 4, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuillotine(context.Background(), tc.p, tc.c)
			if (g != nil) != tc.apply {
				t.Fatalf("applies: %v, want %v", g != nil, tc.apply)
			}
			if g == nil {
				return
			}
			if !runGuillotine(t, g) {
				t.Fatal("no tiling found")
			}
			if err := tc.p.Check(offsetsOf(g, len(tc.p.Buffers)), tc.c); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestGuillotineNone: a full packing with no guillotine cut (a pinwheel of
// four buffers around a centre one) has no tiling of that kind; the search
// must say so rather than return something illegal, and Place must still
// place it (by the other searches).
func TestGuillotineNone(t *testing.T) {
	// Addresses 0..3, times 0..3: a pinwheel.
	p := &alloc.Problem{Capacity: 3, Buffers: []alloc.Buffer{
		{ID: "w", Lower: 0, Upper: 1, Size: 2}, // [0,2) x [0,1)
		{ID: "s", Lower: 0, Upper: 2, Size: 1}, // [2,3) x [0,2)
		{ID: "e", Lower: 2, Upper: 3, Size: 2}, // [1,3) x [2,3)
		{ID: "n", Lower: 1, Upper: 3, Size: 1}, // [0,1) x [1,3)
		{ID: "c", Lower: 1, Upper: 2, Size: 1}, // [1,2) x [1,2)
	}}
	if err := p.Check([]int64{0, 2, 1, 0, 1}, 3); err != nil {
		t.Fatalf("the pinwheel itself: %v", err)
	}
	g := newGuillotine(context.Background(), p, 3)
	if g == nil {
		t.Fatal("does not apply")
	}
	if runGuillotine(t, g) {
		t.Fatalf("found a guillotine tiling of a pinwheel: %v", offsetsOf(g, len(p.Buffers)))
	}
	sol, err := Place(context.Background(), p, Options{})
	if err != nil || sol.Status != Solved || sol.Peak != 3 {
		t.Fatalf("Place: %v, status %s, peak %d", err, sol.Status, sol.Peak)
	}
}

// TestProbeBudget: a minimization's first probes have node budgets, counted
// in nodes of the branch and bound; the time sweep (where complete) and the
// guillotine search, whose nodes are far cheaper, get their shares of those
// and must not use the budget up. With the first round's budget, the probe
// at the peak load finds the placement on instances those two win (counting
// their nodes, the probe ran out first: the guillotine search needs a dozen
// runs on cut seed 32, the sweep some 120000 nodes on sweep n=450 seed 5).
func TestProbeBudget(t *testing.T) {
	for _, c := range []struct {
		gen  string
		n    int
		seed uint64
	}{{"cut", 450, 32}, {"sweep", 450, 5}} {
		p := generated(t, c.gen, c.n, c.seed)
		r := newRace(context.Background(), p)
		r.fitBudget = minimizeBudget(len(p.Buffers))
		offs := make([]int64, len(p.Buffers))
		if !r.fit(p.Capacity, offs) {
			t.Fatalf("%s n=%d seed %d: probe at the peak load failed (out of budget: %v)", c.gen, c.n, c.seed, r.outOfBudget)
		}
		if err := p.Check(offs, p.Capacity); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s n=%d seed %d: %s", c.gen, c.n, c.seed, r.foundBy)
	}
}
