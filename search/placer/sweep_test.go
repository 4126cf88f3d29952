package placer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stillwater-sc/kpuopt/constraints/alloc"
)

// The time sweep alone agrees with exhaustive enumeration: a placement it
// returns is legal, and when it is complete (every start is tight) it finds a
// placement whenever one exists.
func TestSweepAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	found, proofs, complete := 0, 0, 0
	check := func(name string, p *alloc.Problem, c int64, fits bool) {
		t.Helper()
		w := newSweeper(context.Background(), p)
		w.reset(c)
		ok := w.run()
		if ok {
			found++
			if w.complete {
				complete++
			}
			offs := make([]int64, len(p.Buffers))
			for k, i := range w.orig {
				offs[i] = w.off[k]
			}
			if err := p.Check(offs, c); err != nil {
				t.Fatalf("%s: capacity %d: illegal placement: %v; problem %+v", name, c, err, p.Buffers)
			}
		}
		if !ok && w.complete {
			proofs++
			if fits {
				t.Fatalf("%s: capacity %d: complete sweep failed, brute force fits; problem %+v", name, c, p.Buffers)
			}
		}
		if ok && !fits {
			t.Fatalf("%s: capacity %d: sweep placed what brute force cannot", name, c)
		}
	}
	for iter := 0; iter < 300; iter++ {
		p := randomProblem(rng, 1+rng.IntN(6), 6, 5, iter%2 == 1)
		want := bruteMinPeak(p)
		for _, c := range []int64{want, want + 1, want - 1} {
			if c > 0 {
				check(fmt.Sprintf("random %d", iter), p, c, c >= want)
			}
		}
	}
	// Random problems at their peak load: those where every start is tight
	// (the sweep is complete) must agree with brute force either way.
	for iter := 0; iter < 20000; iter++ {
		p := randomProblem(rng, 3+rng.IntN(5), 5, 3, false)
		for i := range p.Buffers {
			p.Buffers[i].Size++
		}
		c, _ := p.PeakLoad()
		w := newSweeper(context.Background(), p)
		w.reset(c)
		if w.complete {
			check(fmt.Sprintf("tight %d", iter), p, c, bruteFits(p, c))
		}
	}
	// Small perfect packings: every start is tight, so the sweep is complete.
	for seed := uint64(1); seed <= 60; seed++ {
		gen, name := GeneratePerfect, "cut"
		if seed%2 == 0 {
			gen, name = GenerateSweep, "sweep"
		}
		p, _, err := gen(seed, 7, 8, 1)
		if err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("%s %d", name, seed), p, p.Capacity, true)
	}
	if found == 0 || complete == 0 {
		t.Errorf("found %d placements, %d on complete searches: the test does not exercise the sweep", found, complete)
	}
	t.Logf("%d placements, %d of them by complete searches; %d complete failures", found, complete, proofs)
}

// Replaying a known perfect packing in time order passes every check of the
// sweep: the checks never cut off a real solution.
func TestSweepChecksSound(t *testing.T) {
	for _, g := range generators {
		for seed := uint64(1); seed <= 4; seed++ {
			p, known, err := g.gen(seed, 200, 1024, 64)
			if err != nil {
				t.Fatal(err)
			}
			w := newSweeper(context.Background(), p)
			w.reset(p.Capacity)
			for ti := 0; ti < w.nsec; ti++ {
				w.leave(ti)
				for _, k := range w.starts[ti] {
					w.place(k, known[w.orig[k]])
					if !w.touching(k) || !w.check(ti, int(w.hi[k])) {
						t.Fatalf("%s seed %d: the known packing fails a check after buffer %d at time point %d", g.name, seed, w.orig[k], ti)
					}
				}
			}
		}
	}
}

// The partner flags on a small example: a and b end at 2 where c, twice
// their size, starts, so each of a and b must touch the other; c covers both,
// so it needs no partner; d and e (size 1 each, from 2) fill the top half
// of c's... see the rows.
func TestSweepPartners(t *testing.T) {
	p := &alloc.Problem{Buffers: buffers(
		[5]int64{0, 2, 2}, // a: ends at 2
		[5]int64{0, 2, 2}, // b: ends at 2
		[5]int64{2, 4, 4}, // c: starts at 2, size a+b
		[5]int64{0, 4, 3}, // d: lives throughout
		[5]int64{4, 6, 3}, // e: replaces d at 4 ...
		[5]int64{4, 6, 2}, // f: ... with g, together c's size, but sized apart
		[5]int64{4, 6, 2}, // g
	)}
	w := newSweeper(context.Background(), p)
	w.reset(7)
	if w.unit == 0 {
		t.Fatalf("subset sums off")
	}
	var needEnd, needStart []string
	for k, i := range w.orig {
		if w.needEnd[k] {
			needEnd = append(needEnd, p.Buffers[i].ID)
		}
		if w.needStart[k] {
			needStart = append(needStart, p.Buffers[i].ID)
		}
	}
	// At 2: E = {a, b}, N = {c}: 2 is no sum of N, so a and b need each
	// other; 4 is a sum of E, so c needs nothing. At 4: E = {c, d} (4, 3),
	// N = {e, f, g} (3, 2, 2): every E size is a sum of N and every N size
	// a sum of E? 2 is not a sum of {4, 3}: f and g need a partner.
	if diff := cmp.Diff([]string{"a", "b"}, needEnd); diff != "" {
		t.Errorf("needEnd (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"f", "g"}, needStart); diff != "" {
		t.Errorf("needStart (-want +got):\n%s", diff)
	}
}

// touching looks only at the placed buffers that the latest placement can
// have hurt; on random walks through generated instances (buffers put at the
// lowest free gap that holds them, in random order, a rejected one left out)
// it agrees with endSides on every live buffer, and the walks do reach
// placements that it rejects.
func TestTouchingAgreesWithFullCheck(t *testing.T) {
	checked, rejected := 0, 0
	for _, g := range generators {
		for seed := uint64(1); seed <= 30; seed++ {
			p, _, err := g.gen(seed, 60, 64, 1)
			if err != nil {
				t.Fatal(err)
			}
			w := newSweeper(context.Background(), p)
			w.reset(p.Capacity)
			if w.needEnd == nil {
				continue
			}
			rng := rand.New(rand.NewPCG(seed, 9))
			for ti := 0; ti < w.nsec; ti++ {
				w.leave(ti)
				order := slices.Clone(w.starts[ti])
				rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
				for _, k := range order {
					o, ok := int64(0), false
					for _, y := range w.live {
						if w.off[y]-o >= w.size[k] {
							ok = true
							break
						}
						o = max(o, w.off[y]+w.size[y])
					}
					if !ok && w.capac-o < w.size[k] {
						continue
					}
					w.place(k, o)
					full := true
					for _, e := range w.live {
						full = full && w.endSides(e)
					}
					if got := w.touching(k); got != full {
						t.Fatalf("%s seed %d: buffer %d at %d, time point %d: touching %v, every live buffer %v", g.name, seed, w.orig[k], o, ti, got, full)
					}
					checked++
					if !full {
						rejected++
						w.unplace(k)
					}
				}
			}
		}
	}
	if checked == 0 || rejected == 0 {
		t.Fatalf("%d placements checked, %d rejected: the test does not exercise touching", checked, rejected)
	}
	t.Logf("%d placements checked, %d rejected", checked, rejected)
}
