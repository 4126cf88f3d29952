package constraints

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// TestChainTotals: the closed-form chain totals equal the summed durations
// of the commands chainOf assigns to each chain, on random mappings of
// every case; and the chain bound never exceeds the replay.
func TestChainTotals(t *testing.T) {
	ctx := context.Background()
	claimed := 0
	eachLegalRandom(t, 11, func(cfg *kpu.Config, p Problem, m model.Mapping) {
		g, err := newGeom(p, m, cfg)
		if err != nil {
			t.Fatal(err)
		}
		l3 := g.l3Spans()
		est := g.estimate()
		want := g.chainTotals(l3, &est)
		var got [nChains]int64
		err = Walk(ctx, p, m, cfg, func(c *Cmd) error {
			a, b := g.chainOf(c)
			if a >= 0 {
				got[a] += c.Cycles
			}
			if b >= 0 {
				got[b] += c.Cycles
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s %v %+v: chain totals %v, the stream's %v", cfg.Name, p, m, want, got)
		}
		tr, err := Replay(ctx, p, m, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if b := g.chains(l3, &est); b > tr.Cycles {
			t.Errorf("%s %v %+v: chain bound %d > replay %d", cfg.Name, p, m, b, tr.Cycles)
		} else if b > 0 && b >= est.LowerCycles {
			claimed++
		}
	})
	if claimed < 20 {
		t.Errorf("the chain bound set the latency bound of only %d mappings: the test checks too little", claimed)
	}
}

// TestFloors: the DMA floor and the relaxed replay never exceed the
// replay, each is above the closed-form bound on some mappings (else it
// checks nothing new), and a floor cut at its own value is at least that.
func TestFloors(t *testing.T) {
	ctx := context.Background()
	floors := []struct {
		name string
		seed uint64
		fn   func(p Problem, m model.Mapping, cfg *kpu.Config, limit int64) (int64, error)
	}{
		{"DMA floor", 13, func(p Problem, m model.Mapping, cfg *kpu.Config, limit int64) (int64, error) {
			return DMAFloorAbove(ctx, p, m, cfg, limit)
		}},
		{"relaxed floor", 15, func(p Problem, m model.Mapping, cfg *kpu.Config, limit int64) (int64, error) {
			return RelaxedFloor(ctx, p, m, cfg, limit)
		}},
	}
	for _, fl := range floors {
		above := 0
		eachLegalRandom(t, fl.seed, func(cfg *kpu.Config, p Problem, m model.Mapping) {
			f, err := fl.fn(p, m, cfg, 0)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := Replay(ctx, p, m, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if f > tr.Cycles {
				t.Errorf("%s %v %+v: %s %d > replay %d", cfg.Name, p, m, fl.name, f, tr.Cycles)
			}
			if est, _ := Quick(p, m, cfg); f > est.LowerCycles {
				above++
			}
			if cut, err := fl.fn(p, m, cfg, f); err != nil || cut < f {
				t.Errorf("%s %v %+v: %s with limit %d: %d, %v", cfg.Name, p, m, fl.name, f, cut, err)
			}
		})
		if above < 10 {
			t.Errorf("the %s beat the closed-form bound on only %d mappings", fl.name, above)
		}
	}
}

// eachLegalRandom calls fn on up to 60 legal random mappings of every case
// of stallCases (random source seeded with seed).
func eachLegalRandom(t *testing.T, seed uint64, fn func(cfg *kpu.Config, p Problem, m model.Mapping)) {
	t.Helper()
	eachLegalRandomN(t, seed, 60, fn)
}

// eachLegalRandomN is eachLegalRandom with up to per mappings a case; a case
// without any legal random mapping is an error.
func eachLegalRandomN(t *testing.T, seed uint64, per int, fn func(cfg *kpu.Config, p Problem, m model.Mapping)) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, seed+1))
	for _, c := range stallCases {
		cfg := preset(t, c.cfg)
		p := Problem{Name: "t", Batch: c.b, M: c.m, N: c.n, K: c.k, DType: c.dt, OutDType: c.out}
		sp := NewSpace(p, cfg)
		checked := 0
		for i := 0; i < 800 && checked < per; i++ {
			m := randomMapping(r, sp)
			if Check(p, m, cfg) != nil {
				continue
			}
			checked++
			fn(cfg, p, m)
		}
		if checked == 0 {
			t.Errorf("%s %v: no feasible random mapping", c.cfg, p)
		}
	}
}
