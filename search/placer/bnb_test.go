package placer

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stillwater-sc/kpuopt/constraints/alloc"
)

// The per-section lists of unplaced buffers (ul, uln, upos) and the endpoint
// counts (ustart, uend) stay exact through
// any sequence of placements and reverse-order removals.
func TestUnplacedLists(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for iter := 0; iter < 50; iter++ {
		p := randomProblem(rng, 1+rng.IntN(25), 20, 50, false)
		s := newBnb(context.Background(), p)
		offs := make([]int64, len(p.Buffers))
		s.fit(1<<40, offs) // leaves a placement in place; fit must reset it
		for k := range s.placed {
			s.placed[k] = false
		}
		for tt := range s.uln {
			s.uln[tt] = int32(len(s.ul[tt]))
		}
		clear(s.ustart)
		clear(s.uend)
		for k := range s.orig {
			s.ustart[s.sLo[k]]++
			s.uend[s.sHi[k]]++
		}
		var stack []int32
		for step := 0; step < 200; step++ {
			if len(stack) > 0 && (rng.IntN(3) == 0 || len(stack) == len(s.orig)) {
				k := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				s.unplace(k)
			} else {
				var free []int32
				for k := range s.orig {
					if !s.placed[k] {
						free = append(free, int32(k))
					}
				}
				if len(free) == 0 {
					continue
				}
				k := free[rng.IntN(len(free))]
				s.place(k, 0)
				stack = append(stack, k)
			}
			starts, ends := make([]int32, s.nsec+1), make([]int32, s.nsec+1)
			for k := range s.orig {
				if !s.placed[k] {
					starts[s.sLo[k]]++
					ends[s.sHi[k]]++
				}
			}
			if diff := cmp.Diff(starts, s.ustart); diff != "" {
				t.Fatalf("iter %d step %d: ustart (-want +got):\n%s", iter, step, diff)
			}
			if diff := cmp.Diff(ends, s.uend); diff != "" {
				t.Fatalf("iter %d step %d: uend (-want +got):\n%s", iter, step, diff)
			}
			for tt := 0; tt < s.nsec; tt++ {
				want := []int32{}
				for _, k := range s.live[tt] {
					if !s.placed[k] {
						want = append(want, k)
					}
				}
				got := append([]int32{}, s.ul[tt][:s.uln[tt]]...)
				slices.Sort(want)
				slices.Sort(got)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("iter %d step %d section %d: unplaced (-want +got):\n%s", iter, step, tt, diff)
				}
				for i, k := range s.ul[tt] {
					if pos := s.upos[s.uposBase[k]+int32(tt)-s.sLo[k]]; pos != int32(i) {
						t.Fatalf("iter %d step %d section %d: buffer %d at %d, upos says %d", iter, step, tt, k, i, pos)
					}
				}
			}
		}
		for len(stack) > 0 {
			s.unplace(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
		}
	}
}

// Independent parts are searched smallest first.
func TestOrderParts(t *testing.T) {
	p := &alloc.Problem{Buffers: buffers(
		// part [0,4): three buffers
		[5]int64{0, 2, 1}, [5]int64{2, 4, 1}, [5]int64{0, 4, 1},
		// part [4,6): one buffer
		[5]int64{4, 6, 1},
		// part [6,9): two buffers
		[5]int64{6, 9, 1}, [5]int64{7, 8, 1},
	)}
	s := newBnb(context.Background(), p)
	offs := make([]int64, len(p.Buffers))
	s.fit(3, offs) // sets up the state; the placement it leaves is undone below (placed, rem and the unplaced counts)
	for k := range s.placed {
		s.placed[k] = false
	}
	for tt := range s.rem {
		s.rem[tt] = 0
		s.uln[tt] = int32(len(s.ul[tt]))
	}
	clear(s.ustart)
	for k := range s.orig {
		s.ustart[s.sLo[k]]++
		for tt := s.sLo[k]; tt < s.sHi[k]; tt++ {
			s.rem[tt] += s.size[k]
		}
	}
	parts := s.split(0, s.nsec)
	sec := func(time int64) int { // section index of a time point
		n := 0
		for _, tm := range []int64{0, 2, 4, 6, 7, 8, 9} {
			if tm < time {
				n++
			}
		}
		return n
	}
	want := []int{sec(0), sec(4), sec(4), sec(6), sec(6), sec(9)}
	if diff := cmp.Diff(want, parts); diff != "" {
		t.Fatalf("split (-want +got):\n%s", diff)
	}
	s.orderParts(parts)
	want = []int{sec(4), sec(6), sec(6), sec(9), sec(0), sec(4)}
	if diff := cmp.Diff(want, parts); diff != "" {
		t.Errorf("orderParts (-want +got):\n%s", diff)
	}
}

// At the peak load, where the partner rules apply (a full section on both
// sides of a time point), the branch and bound still agrees with exhaustive
// enumeration.
func TestPartnerRulesAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 17))
	flagged, flaggedNo := 0, 0
	for iter := 0; iter < 20000; iter++ {
		p := randomProblem(rng, 3+rng.IntN(5), 5, 3, iter%3 == 0)
		for i := range p.Buffers {
			p.Buffers[i].Size++
		}
		c, _ := p.PeakLoad()
		s := newBnb(context.Background(), p)
		offs := make([]int64, len(p.Buffers))
		got := s.fit(c, offs)
		want := bruteFits(p, c)
		if slices.Contains(s.pEnd, true) || slices.Contains(s.pStart, true) {
			flagged++
			if !want {
				flaggedNo++
			}
		}
		if got != want {
			t.Fatalf("iter %d: fit(%d) = %v, brute force %v; problem %+v", iter, c, got, want, p.Buffers)
		}
		if got {
			if err := p.Check(offs, c); err != nil {
				t.Fatalf("iter %d: illegal placement: %v", iter, err)
			}
		}
	}
	if flagged < 300 || flaggedNo == 0 {
		t.Errorf("%d instances had partner flags, %d of them infeasible: the test does not exercise the rules", flagged, flaggedNo)
	}
	t.Logf("%d instances with partner flags, %d of them infeasible", flagged, flaggedNo)
}
