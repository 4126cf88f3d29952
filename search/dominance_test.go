package search

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/model"
)

// randomShape picks a structurally valid shape of sp whose stream is small.
func randomShape(r *rand.Rand, sp *constraints.Space) constraints.Shape {
	p := sp.Problem
	pick := func(v []int64, lim int64) int64 {
		var ok []int64
		for _, x := range v {
			if x <= lim {
				ok = append(ok, x)
			}
		}
		// favour covering tiles: they make loops of one trip
		if r.IntN(3) == 0 {
			return ok[len(ok)-1]
		}
		return ok[r.IntN(len(ok))]
	}
	for {
		s := constraints.Shape{Split: sp.Splits[r.IntN(len(sp.Splits))]}
		s.L3 = model.Tile{M: pick(sp.Tiles[0], p.M), N: pick(sp.Tiles[1], p.N), K: pick(sp.Tiles[2], p.K)}
		mp, np := ceilDiv(s.L3.M, int64(s.Split.M)), ceilDiv(s.L3.N, int64(s.Split.N))
		if (int64(s.Split.M)-1)*mp >= s.L3.M || (int64(s.Split.N)-1)*np >= s.L3.N {
			continue
		}
		s.L2 = model.Tile{M: pick(sp.Tiles[0], mp), N: pick(sp.Tiles[1], np), K: pick(sp.Tiles[2], s.L3.K)}
		if p.Batch*ceilDiv(p.M, s.L2.M)*ceilDiv(p.N, s.L2.N)*ceilDiv(p.K, s.L2.K) <= 3000 {
			return s
		}
	}
}

var dominanceCases = []struct {
	cfg        string
	b, m, n, k int64
}{
	{"minimal", 1, 37, 29, 41},
	{"minimal", 2, 24, 16, 40},
	{"edge_ai", 1, 64, 96, 80},
	{"edge_ai", 1, 100, 33, 70},
	{"datacenter", 1, 97, 130, 64},
}

// TestDominanceRules checks the rules of dominance.go on random shapes,
// orders and buffer choices against the replay: a canonical order gives the
// same latency, and L2 double buffering of a once-visited operand is never
// slower when it fits.
func TestDominanceRules(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	ctx := context.Background()
	var sameOrder, doubled int
	for _, c := range dominanceCases {
		cfg := preset(t, c.cfg)
		p := constraints.Problem{Name: "t", Batch: c.b, M: c.m, N: c.n, K: c.k, DType: model.Float32}
		sp := constraints.NewSpace(p, cfg)
		for i := 0; i < 150; i++ {
			s := randomShape(r, sp)
			l3t, l2t := trivialDims(p, s)
			o3, o2 := r.IntN(6), r.IntN(6)
			bc := allCombos[r.IntN(len(allCombos))]
			m := s.Mapping(o3, o2, bc[0], bc[1])
			if constraints.Check(p, m, cfg) != nil {
				continue
			}
			tr, err := constraints.Replay(ctx, p, m, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if c3, c2 := canonicalOrder(o3, l3t), canonicalOrder(o2, l2t); c3 != o3 || c2 != o2 {
				cm := s.Mapping(c3, c2, bc[0], bc[1])
				ct, err := constraints.Replay(ctx, p, cm, cfg)
				if err != nil {
					t.Fatal(err)
				}
				if ct.Cycles != tr.Cycles {
					t.Errorf("%s %v %+v: canonical orders %s/%s give %d cycles, %s/%s give %d", c.cfg, p, s, model.Orders[c3], model.Orders[c2], ct.Cycles, m.L3Order, m.L2Order, tr.Cycles)
				}
				sameOrder++
			}
			if d := withL2Double(bc, oneL2Visit(l2t)); d != bc {
				dm := s.Mapping(o3, o2, d[0], d[1])
				if constraints.Check(p, dm, cfg) != nil {
					continue
				}
				dt, err := constraints.Replay(ctx, p, dm, cfg)
				if err != nil {
					t.Fatal(err)
				}
				if dt.Cycles > tr.Cycles {
					t.Errorf("%s %v %+v %s/%s: L2 buffers %+v give %d cycles, more than %+v with %d", c.cfg, p, s, m.L3Order, m.L2Order, d[1], dt.Cycles, bc[1], tr.Cycles)
				}
				doubled++
			}
		}
	}
	if sameOrder < 20 || doubled < 20 {
		t.Errorf("rules exercised too rarely: %d order pairs, %d buffer pairs", sameOrder, doubled)
	}
	t.Logf("%d order pairs, %d buffer pairs compared", sameOrder, doubled)
}
