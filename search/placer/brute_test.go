package placer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stillwater-sc/kpuopt/constraints/alloc"
)

// bruteFits decides by exhaustive enumeration of every aligned offset whether
// p fits in capacity c. Only for tiny problems.
func bruteFits(p *alloc.Problem, c int64) bool {
	n := len(p.Buffers)
	off := make([]int64, n)
	var rec func(i int) bool
	rec = func(i int) bool {
		if i == n {
			return true
		}
		b := p.Buffers[i]
		for o := int64(0); o+b.Size <= c; o += b.Align() {
			ok := true
			for j := 0; j < i && ok; j++ {
				q := p.Buffers[j]
				if q.Overlaps(b) && b.Size > 0 && q.Size > 0 && o < off[j]+q.Size && off[j] < o+b.Size {
					ok = false
				}
			}
			if ok {
				off[i] = o
				if rec(i + 1) {
					return true
				}
			}
		}
		return false
	}
	return rec(0)
}

// bruteMinPeak returns the smallest capacity p fits in.
func bruteMinPeak(p *alloc.Problem) int64 {
	for c := int64(0); ; c++ {
		if bruteFits(p, c) {
			return c
		}
	}
}

func randomProblem(rng *rand.Rand, n int, horizon, maxSize int64, aligned bool) *alloc.Problem {
	p := &alloc.Problem{}
	for i := 0; i < n; i++ {
		lo := rng.Int64N(horizon)
		hi := lo + 1 + rng.Int64N(horizon-lo)
		b := alloc.Buffer{ID: fmt.Sprint(i), Lower: lo, Upper: hi, Size: rng.Int64N(maxSize + 1)}
		if aligned && rng.IntN(3) == 0 {
			b.Alignment = 1 + rng.Int64N(3)
		}
		p.Buffers = append(p.Buffers, b)
	}
	return p
}

func TestPlaceAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	nontrivial := 0
	for iter := 0; iter < 400; iter++ {
		p := randomProblem(rng, 1+rng.IntN(6), 6, 5, iter%2 == 1)
		want := bruteMinPeak(p)
		name := fmt.Sprintf("iter%d", iter)
		sol, err := Place(context.Background(), p, Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if sol.Status != Solved || sol.Peak != want {
			t.Fatalf("%s: minimize: status %s peak %d, brute force %d; problem %+v", name, sol.Status, sol.Peak, want, p.Buffers)
		}
		if load, _ := p.PeakLoad(); want > load {
			nontrivial++
		}
		if want == 0 {
			continue
		}
		// The exact search alone (bypassing greedy) must agree at the optimum and one below.
		for _, c := range []int64{want, want - 1} {
			s := newBnb(context.Background(), p)
			offs := make([]int64, len(p.Buffers))
			got := s.fit(c, offs)
			if got != (c == want) {
				t.Fatalf("%s: fit(%d) = %v, brute force optimum %d; problem %+v", name, c, got, want, p.Buffers)
			}
			if got {
				if err := p.Check(offs, c); err != nil {
					t.Fatalf("%s: fit(%d) placement illegal: %v", name, c, err)
				}
			}
		}
	}
	if nontrivial == 0 {
		t.Errorf("no random instance needed more than its peak load; the test does not exercise the search")
	}
	t.Logf("%d instances needed more than their peak load", nontrivial)
}
