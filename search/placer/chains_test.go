package placer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stillwater-sc/kpuopt/constraints/alloc"
)

func TestReduceChains(t *testing.T) {
	buf := func(id string, lo, hi, size, align int64) alloc.Buffer {
		return alloc.Buffer{ID: id, Lower: lo, Upper: hi, Size: size, Alignment: align}
	}
	tests := []struct {
		name string
		bufs []alloc.Buffer
		c    int64
		want []alloc.Buffer // nil: nothing joined
		of   []int
	}{{
		name: "a chain of three",
		bufs: []alloc.Buffer{buf("a", 0, 2, 4, 0), buf("x", 0, 9, 4, 0), buf("b", 2, 5, 4, 0), buf("c", 5, 9, 4, 0)},
		c:    8,
		want: []alloc.Buffer{buf("a", 0, 9, 4, 0), buf("x", 0, 9, 4, 0)},
		of:   []int{0, 1, 0, 0},
	}, {
		name: "one link",
		bufs: []alloc.Buffer{buf("a", 0, 2, 4, 0), buf("x", 0, 5, 4, 0), buf("b", 2, 9, 4, 0), buf("y", 0, 9, 2, 0)},
		c:    10,
		want: []alloc.Buffer{buf("a", 0, 9, 4, 0), buf("x", 0, 5, 4, 0), buf("y", 0, 9, 2, 0)},
		of:   []int{0, 1, 0, 2},
	}, {
		name: "two chains",
		bufs: []alloc.Buffer{buf("y", 0, 2, 2, 0), buf("a", 0, 3, 4, 0), buf("x", 0, 9, 4, 0), buf("b", 3, 9, 4, 0), buf("z", 2, 9, 2, 0)},
		c:    10,
		want: []alloc.Buffer{buf("y", 0, 9, 2, 0), buf("a", 0, 9, 4, 0), buf("x", 0, 9, 4, 0)},
		of:   []int{0, 1, 2, 1, 0},
	}, {
		name: "slack on both sides",
		bufs: []alloc.Buffer{buf("a", 0, 2, 4, 0), buf("b", 2, 5, 4, 0)},
		c:    8,
	}, {
		name: "two end at the point",
		bufs: []alloc.Buffer{buf("a", 0, 2, 4, 0), buf("x", 0, 2, 4, 0), buf("b", 2, 5, 4, 0), buf("y", 2, 5, 4, 0)},
		c:    8,
	}, {
		name: "sizes differ",
		bufs: []alloc.Buffer{buf("a", 0, 2, 4, 0), buf("x", 0, 5, 4, 0), buf("b", 2, 5, 3, 0)},
		c:    8,
	}, {
		name: "a zero-size buffer does not count and is not joined",
		bufs: []alloc.Buffer{buf("a", 0, 2, 4, 0), buf("z", 1, 2, 0, 0), buf("b", 2, 5, 4, 0), buf("w", 2, 3, 0, 0)},
		c:    4,
		want: []alloc.Buffer{buf("a", 0, 5, 4, 0), buf("z", 1, 2, 0, 0), buf("w", 2, 3, 0, 0)},
		of:   []int{0, 1, 0, 2},
	}, {
		name: "alignments join",
		bufs: []alloc.Buffer{buf("a", 0, 2, 4, 4), buf("b", 2, 5, 4, 6), buf("x", 0, 5, 8, 0)},
		c:    32,
		// Not full: nothing joins at 32; see the next case.
	}, {
		name: "alignments join when full",
		bufs: []alloc.Buffer{buf("a", 0, 2, 4, 4), buf("b", 2, 5, 4, 6), buf("x", 0, 5, 8, 0)},
		c:    12,
		want: []alloc.Buffer{buf("a", 0, 5, 4, 12), buf("x", 0, 5, 8, 0)},
		of:   []int{0, 0, 1},
	}, {
		name: "joint alignment beyond the capacity allows only 0",
		bufs: []alloc.Buffer{buf("a", 0, 2, 4, 7), buf("b", 2, 5, 4, 5)},
		c:    4,
		want: []alloc.Buffer{buf("a", 0, 5, 4, 5)},
		of:   []int{0, 0},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := reduceChains(&alloc.Problem{Buffers: tc.bufs}, tc.c)
			if tc.want == nil {
				if r != nil {
					t.Fatalf("joined %+v, want nothing joined", r.q.Buffers)
				}
				return
			}
			if r == nil {
				t.Fatalf("nothing joined, want %+v", tc.want)
			}
			if d := cmp.Diff(tc.want, r.q.Buffers); d != "" {
				t.Errorf("reduced buffers (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.of, r.of); d != "" {
				t.Errorf("carriers (-want +got):\n%s", d)
			}
		})
	}
}

// TestChainsKeepKnownPackings checks the rule behind the reduction on
// placements known to exist: in the generators' own perfect packings, every
// pair of buffers the reduction joins has the same offset. A wrong rule
// (joining a pair that a legal placement separates) fails here.
func TestChainsKeepKnownPackings(t *testing.T) {
	joined := 0
	for _, g := range generators {
		for seed := uint64(1); seed <= 30; seed++ {
			p, offs, err := g.gen(seed, 60+int(seed)*5, 256, 1)
			if err != nil {
				t.Fatal(err)
			}
			if rng := rand.New(rand.NewPCG(seed, 3)); seed%3 == 0 {
				// Slack away from the peak: fewer full points.
				var kept []int
				p, kept = DropAwayFromPeak(p, rng.Uint64(), 0.2)
				offs = pick(offs, kept)
			}
			load, _ := p.PeakLoad()
			r := reduceChains(p, load)
			if r == nil {
				continue
			}
			for i, h := range r.of {
				head := -1
				for j, hj := range r.of {
					if hj == h {
						head = j
						break
					}
				}
				if offs[i] != offs[head] {
					t.Fatalf("%s seed %d: buffer %s joined to %s, but the known packing has them at %d and %d",
						g.name, seed, p.Buffers[i].ID, p.Buffers[head].ID, offs[i], offs[head])
				}
				if i != head {
					joined++
				}
			}
		}
	}
	if joined == 0 {
		t.Fatal("no buffer joined on any instance: the test exercises nothing")
	}
	t.Logf("%d buffers joined to a chain", joined)
}

func pick(offs []int64, kept []int) []int64 {
	out := make([]int64, len(kept))
	for k, i := range kept {
		out[k] = offs[i]
	}
	return out
}

// TestChainsAgainstBruteForce: on small random problems made tight at some
// time points, the reduced problem fits the peak load exactly when the
// original does (exhaustive enumeration of both), and Place's placement
// through the reduction is legal.
func TestChainsAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 17))
	reduced := 0
	for iter := 0; iter < 3000 && reduced < 150; iter++ {
		p := randomProblem(rng, 2+rng.IntN(5), 6, 4, iter%2 == 1)
		// Force links: give some buffer a successor of its size starting where it ends.
		for k := 0; k < 2; k++ {
			b := p.Buffers[rng.IntN(len(p.Buffers))]
			if b.Upper < 7 {
				p.Buffers = append(p.Buffers, alloc.Buffer{ID: fmt.Sprint("s", k, len(p.Buffers)), Lower: b.Upper, Upper: b.Upper + 1 + rng.Int64N(3), Size: b.Size})
			}
		}
		load, _ := p.PeakLoad()
		r := reduceChains(p, load)
		if r == nil || load == 0 {
			continue
		}
		reduced++
		name := fmt.Sprintf("iter%d", iter)
		if got, want := bruteFits(r.q, load), bruteFits(p, load); got != want {
			t.Fatalf("%s: reduced fits %d: %v, original: %v; problem %+v, reduced %+v", name, load, got, want, p.Buffers, r.q.Buffers)
		}
		sol, err := Place(context.Background(), p, Options{Capacity: load})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := bruteFits(p, load); (sol.Status == Solved) != want {
			t.Fatalf("%s: Place status %s at %d, brute force fits: %v", name, sol.Status, load, want)
		}
	}
	if reduced < 50 {
		t.Fatalf("only %d random problems had a chain to join", reduced)
	}
}
