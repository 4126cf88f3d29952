package placer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stillwater-sc/kpuopt/constraints/alloc"
)

func buffers(rows ...[5]int64) []alloc.Buffer {
	var bs []alloc.Buffer
	for i, r := range rows {
		bs = append(bs, alloc.Buffer{ID: string(rune('a' + i)), Lower: r[0], Upper: r[1], Size: r[2], Alignment: r[3]})
	}
	return bs
}

func TestPlaceHandMade(t *testing.T) {
	// The example of the MiniMalloc README: peak load 12, fits in 12.
	readme := buffers([5]int64{0, 3, 4}, [5]int64{3, 9, 4}, [5]int64{0, 9, 4}, [5]int64{9, 21, 4}, [5]int64{0, 21, 4})
	// Alignment makes these need more than their peak load (4, and 5): the
	// proof of infeasibility must come from the search, not from the bound.
	alignedPair := buffers([5]int64{5, 8, 1, 2}, [5]int64{5, 7, 3, 3})
	alignedTriple := buffers([5]int64{4, 7, 4, 2}, [5]int64{6, 7, 1, 3}, [5]int64{3, 4, 2, 1})
	twins := buffers([5]int64{0, 4, 3}, [5]int64{0, 4, 3}, [5]int64{0, 4, 3}, [5]int64{0, 4, 3}, [5]int64{2, 6, 5})
	zero := buffers([5]int64{0, 4, 0}, [5]int64{1, 3, 0}, [5]int64{0, 2, 7})
	tests := []struct {
		name       string
		bufs       []alloc.Buffer
		opts       Options
		wantStatus Status
		wantPeak   int64  // checked when a placement is expected
		wantEngine string // checked when not empty
	}{
		{"readme fits 12", readme, Options{Capacity: 12}, Solved, 12, ""},
		{"readme minimize", readme, Options{}, Solved, 12, ""},
		{"readme 11 infeasible by bound", readme, Options{Capacity: 11}, Infeasible, 0, "bound"},
		{"aligned pair minimize", alignedPair, Options{}, Solved, 5, ""},
		{"aligned pair 4 infeasible", alignedPair, Options{Capacity: 4}, Infeasible, 0, "branch-and-bound"},
		{"aligned pair 5 fits", alignedPair, Options{Capacity: 5}, Solved, 5, ""},
		{"aligned triple minimize", alignedTriple, Options{}, Solved, 6, ""},
		{"aligned triple 5 infeasible", alignedTriple, Options{Capacity: 5}, Infeasible, 0, "branch-and-bound"},
		{"aligned triple minimize within 9", alignedTriple, Options{Capacity: 9, MinimizePeak: true}, Solved, 6, ""},
		{"twins minimize", twins, Options{}, Solved, 17, ""},
		{"twins 16 infeasible", twins, Options{Capacity: 16}, Infeasible, 0, "bound"},
		{"zero-size buffers", zero, Options{}, Solved, 7, ""},
		{"empty", nil, Options{}, Solved, 0, ""},
		{"problem capacity used", readme, Options{}, Solved, 12, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &alloc.Problem{Buffers: tt.bufs}
			sol, err := Place(context.Background(), p, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if sol.Status != tt.wantStatus {
				t.Fatalf("status %s, want %s", sol.Status, tt.wantStatus)
			}
			if tt.wantEngine != "" && sol.Engine != tt.wantEngine {
				t.Errorf("engine %q, want %q", sol.Engine, tt.wantEngine)
			}
			if !sol.Proven {
				t.Errorf("not proven")
			}
			if tt.wantStatus == Solved {
				if sol.Peak != tt.wantPeak || p.Peak(sol.Offsets) != sol.Peak {
					t.Errorf("peak %d (offsets give %d), want %d", sol.Peak, p.Peak(sol.Offsets), tt.wantPeak)
				}
				if err := p.Check(sol.Offsets, sol.Capacity); err != nil {
					t.Errorf("illegal placement: %v", err)
				}
			} else if sol.Offsets != nil {
				t.Errorf("offsets %v for status %s", sol.Offsets, sol.Status)
			}
		})
	}
}

func TestPlaceRejectsInvalid(t *testing.T) {
	bad := []*alloc.Problem{
		{Buffers: buffers([5]int64{3, 3, 1})},
		{Buffers: buffers([5]int64{0, 3, -1})},
		{Buffers: []alloc.Buffer{{ID: "x", Lower: 0, Upper: 1, Size: 1}, {ID: "x", Lower: 0, Upper: 1, Size: 1}}},
	}
	for i, p := range bad {
		if _, err := Place(context.Background(), p, Options{}); err == nil {
			t.Errorf("problem %d: no error", i)
		}
	}
	if _, err := Place(context.Background(), &alloc.Problem{}, Options{Capacity: -1}); err == nil {
		t.Errorf("negative capacity: no error")
	}
}

// A generated perfect packing is found at exactly its capacity, and one byte
// less is proven infeasible.
func TestPlacePerfectModerate(t *testing.T) {
	p, known, err := GeneratePerfect(2, 150, 1024, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Check(known, p.Capacity); err != nil {
		t.Fatalf("generator's own packing is illegal: %v", err)
	}
	if load, _ := p.PeakLoad(); load != p.Capacity {
		t.Fatalf("peak load %d, want %d", load, p.Capacity)
	}
	sol, err := Place(context.Background(), p, Options{Capacity: p.Capacity})
	if err != nil {
		t.Fatal(err)
	}
	if sol.Status != Solved || sol.Peak != p.Capacity || sol.Engine == "greedy" || sol.Engine == "bound" {
		t.Fatalf("status %s peak %d engine %s, want solved at %d by a search", sol.Status, sol.Peak, sol.Engine, p.Capacity)
	}
	sol, err = Place(context.Background(), p, Options{Capacity: p.Capacity - 1})
	if err != nil {
		t.Fatal(err)
	}
	if sol.Status != Infeasible || !sol.Proven {
		t.Fatalf("capacity-1: status %s, want infeasible", sol.Status)
	}
	sol, err = Place(context.Background(), p, Options{MinimizePeak: true})
	if err != nil {
		t.Fatal(err)
	}
	if sol.Status != Solved || sol.Peak != p.Capacity {
		t.Fatalf("minimize: status %s peak %d, want solved at %d", sol.Status, sol.Peak, p.Capacity)
	}
}

// A cancelled context yields the best placement found so far and an honest status.
func TestPlaceCancelled(t *testing.T) {
	p, _, err := GeneratePerfect(2, 450, 1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sol, err := Place(ctx, p, Options{Capacity: p.Capacity})
	if err != nil {
		t.Fatal(err)
	}
	if sol.Status != Unknown || sol.Proven || sol.Offsets != nil {
		t.Errorf("fit: status %s proven %v, want unknown", sol.Status, sol.Proven)
	}
	capacity := p.Capacity
	p.Capacity = 0 // unbounded: minimize the peak
	sol, err = Place(ctx, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sol.Status != Feasible || sol.Proven || sol.Offsets == nil || sol.LowerBound != capacity || sol.Peak <= capacity {
		t.Errorf("minimize: status %s proven %v peak %d bound %d, want feasible greedy placement above bound %d",
			sol.Status, sol.Proven, sol.Peak, sol.LowerBound, capacity)
	}
	if err := p.Check(sol.Offsets, 0); err != nil {
		t.Errorf("best-so-far placement illegal: %v", err)
	}
}

func TestGreedyLegal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 200; iter++ {
		p := randomProblem(rng, 1+rng.IntN(30), 20, 50, true)
		for _, bestFit := range []bool{false, true} {
			offs, peak := Greedy(p, bestFit)
			if err := p.Check(offs, 0); err != nil {
				t.Fatalf("iter %d bestFit %v: %v", iter, bestFit, err)
			}
			if peak != p.Peak(offs) {
				t.Fatalf("iter %d: peak %d, offsets give %d", iter, peak, p.Peak(offs))
			}
		}
	}
}

func TestLuby(t *testing.T) {
	var got []int64
	for i := 1; i <= 15; i++ {
		got = append(got, luby(i))
	}
	want := []int64{1, 1, 2, 1, 1, 2, 4, 1, 1, 2, 1, 1, 2, 4, 8}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("luby (-want +got):\n%s", diff)
	}
}

func TestGeneratePerfectDeterministic(t *testing.T) {
	a, ao, err := GeneratePerfect(9, 40, 64, 8)
	if err != nil {
		t.Fatal(err)
	}
	b, bo, _ := GeneratePerfect(9, 40, 64, 8)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different problems:\n%s", diff)
	}
	if diff := cmp.Diff(ao, bo); diff != "" {
		t.Errorf("same seed, different packings:\n%s", diff)
	}
	if len(a.Buffers) != 40 || a.Capacity != 512 {
		t.Errorf("%d buffers, capacity %d; want 40, 512", len(a.Buffers), a.Capacity)
	}
	if _, _, err := GeneratePerfect(1, 10, 1, 1); err == nil {
		t.Errorf("grid 1: no error")
	}
}

// GenerateSweep's own packing is legal, tight (the peak load equals the
// capacity at every time) and reproducible.
func TestGenerateSweep(t *testing.T) {
	for _, n := range []int{1, 2, 7, 150, 450} {
		for seed := uint64(1); seed <= 5; seed++ {
			p, known, err := GenerateSweep(seed, n, 1024, 64)
			if err != nil {
				t.Fatalf("n=%d seed=%d: %v", n, seed, err)
			}
			if len(p.Buffers) != n {
				t.Fatalf("n=%d seed=%d: %d buffers", n, seed, len(p.Buffers))
			}
			if err := p.Check(known, p.Capacity); err != nil {
				t.Fatalf("n=%d seed=%d: generator's own packing is illegal: %v", n, seed, err)
			}
			if load, _ := p.PeakLoad(); load != p.Capacity {
				t.Fatalf("n=%d seed=%d: peak load %d, want %d", n, seed, load, p.Capacity)
			}
			var area int64
			for _, b := range p.Buffers {
				area += b.Size * (b.Upper - b.Lower)
			}
			if area != p.Capacity*1024 {
				t.Fatalf("n=%d seed=%d: area %d, want %d (not 100%% at every time)", n, seed, area, p.Capacity*1024)
			}
			q, _, _ := GenerateSweep(seed, n, 1024, 64)
			if diff := cmp.Diff(p, q); diff != "" {
				t.Fatalf("n=%d seed=%d: same seed, different problems:\n%s", n, seed, diff)
			}
		}
	}
	if _, _, err := GenerateSweep(1, 10, 4, 1); err == nil {
		t.Errorf("n > grid: no error")
	}
}

// A handful of hard generated instances (the full sweep is BenchmarkHard),
// from both generators: each is solved at exactly its capacity and proven
// infeasible one byte short.
func TestPlaceHardHandful(t *testing.T) {
	cases := []struct {
		gen  string
		n    int
		seed uint64
	}{
		{"cut", 450, 4}, {"cut", 450, 7}, {"cut", 300, 3},
		{"sweep", 450, 9}, {"sweep", 450, 10}, {"sweep", 300, 9}, {"sweep", 300, 13},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/n=%d/seed=%d", c.gen, c.n, c.seed), func(t *testing.T) {
			p := generated(t, c.gen, c.n, c.seed)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			sol, err := Place(ctx, p, Options{Capacity: p.Capacity})
			if err != nil {
				t.Fatal(err)
			}
			if sol.Status != Solved || sol.Peak != p.Capacity {
				t.Fatalf("status %s peak %d after %v (%d nodes), want solved at %d", sol.Status, sol.Peak, sol.Elapsed, sol.Nodes, p.Capacity)
			}
			t.Logf("solved by %s in %v (%d nodes)", sol.Engine, sol.Elapsed, sol.Nodes)
			sol, err = Place(ctx, p, Options{Capacity: p.Capacity - 1})
			if err != nil {
				t.Fatal(err)
			}
			if sol.Status != Infeasible || !sol.Proven {
				t.Fatalf("capacity-1: status %s, want infeasible", sol.Status)
			}
		})
	}
}

// The race between the forward and the time-reversed search gives the same
// placement whatever the scheduling: with one thread or several, and
// whichever search wins (cut n=450 seed 32 is won backwards, cut n=300 seed 3
// forwards, sweep n=300 seed 13 by the time sweep; minimizing makes many
// races with node budgets).
func TestRaceDeterministic(t *testing.T) {
	cases := []struct {
		gen      string
		n        int
		seed     uint64
		minimize bool
	}{
		// Won forwards by the branch and bound, backwards, by the time
		// sweep, by the guillotine search; a minimization.
		{"cut", 300, 1, false}, {"cut", 300, 3, false}, {"sweep", 300, 13, false}, {"cut", 450, 100, false},
		{"cut", 150, 5, true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/n=%d/seed=%d/minimize=%v", c.gen, c.n, c.seed, c.minimize), func(t *testing.T) {
			p := generated(t, c.gen, c.n, c.seed)
			opts := Options{Capacity: p.Capacity}
			if c.minimize {
				// Minimize from above: the greedy incumbent, then probes.
				opts = Options{Capacity: 2 * p.Capacity, MinimizePeak: true}
			}
			var got [][]int64
			var engines []string
			var nodes []int64
			for _, procs := range []int{1, 2, 1, 4} {
				old := runtime.GOMAXPROCS(procs)
				sol, err := Place(context.Background(), p, opts)
				runtime.GOMAXPROCS(old)
				if err != nil {
					t.Fatal(err)
				}
				if sol.Status != Solved {
					t.Fatalf("GOMAXPROCS %d: status %s", procs, sol.Status)
				}
				got = append(got, sol.Offsets)
				engines = append(engines, sol.Engine)
				nodes = append(nodes, sol.Nodes)
			}
			for i := 1; i < len(got); i++ {
				if diff := cmp.Diff(got[0], got[i]); diff != "" {
					t.Errorf("run %d differs from run 0 (engines %q):\n%s", i, engines, diff)
				}
			}
			// The reported node count is repeatable too.
			if diff := cmp.Diff([]int64{nodes[0], nodes[0], nodes[0], nodes[0]}, nodes); diff != "" {
				t.Errorf("node counts differ between runs (-first +all):\n%s", diff)
			}
			t.Logf("engines %q, nodes %d", engines, nodes)
		})
	}
}

// generated returns the instance of the named generator (see generators)
// on the benchmarks' grid.
func generated(t testing.TB, name string, n int, seed uint64) *alloc.Problem {
	t.Helper()
	for _, g := range generators {
		if g.name == name {
			p, _, err := g.gen(seed, n, 1024, 64)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	t.Fatalf("no generator %q", name)
	return nil
}

// DropAwayFromPeak keeps a legal exact packing with 100% load at one time
// only; the search solves an easy one, and one byte less is infeasible.
func TestDropAwayFromPeak(t *testing.T) {
	for _, g := range generators {
		for seed := uint64(1); seed <= 5; seed++ {
			full, offs, err := g.gen(seed, 150, 1024, 64)
			if err != nil {
				t.Fatal(err)
			}
			p, kept := DropAwayFromPeak(full, seed, 0.2)
			if len(p.Buffers) >= len(full.Buffers) || len(p.Buffers) != len(kept) {
				t.Fatalf("%s seed %d: kept %d of %d buffers", g.name, seed, len(p.Buffers), len(full.Buffers))
			}
			known := make([]int64, len(kept))
			for i, j := range kept {
				known[i] = offs[j]
			}
			if err := p.Check(known, p.Capacity); err != nil {
				t.Fatalf("%s seed %d: the kept packing is illegal: %v", g.name, seed, err)
			}
			if load, _ := p.PeakLoad(); load != p.Capacity {
				t.Errorf("%s seed %d: peak load %d, want %d", g.name, seed, load, p.Capacity)
			}
			var slack bool
			for _, l := range loads(p) {
				slack = slack || l < p.Capacity
			}
			if !slack {
				t.Errorf("%s seed %d: no time with slack", g.name, seed)
			}
		}
	}
	p, _ := DropAwayFromPeak(generated(t, "cut", 150, 1), 1, 0.2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sol, err := Place(ctx, p, Options{Capacity: p.Capacity})
	if err != nil || sol.Status != Solved {
		t.Fatalf("status %s, err %v, want solved", sol.Status, err)
	}
	sol, err = Place(ctx, p, Options{Capacity: p.Capacity - 1})
	if err != nil || sol.Status != Infeasible {
		t.Fatalf("one byte short: status %s, err %v, want infeasible", sol.Status, err)
	}
}

// loads returns the load at every time step of p.
func loads(p *alloc.Problem) []int64 {
	var end int64
	for _, b := range p.Buffers {
		end = max(end, b.Upper)
	}
	l := make([]int64, end)
	for _, b := range p.Buffers {
		for t := b.Lower; t < b.Upper; t++ {
			l[t] += b.Size
		}
	}
	return l
}
