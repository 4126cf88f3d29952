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

// TestDMAFloor: the DMA floor never exceeds the replay, and it is above the
// closed-form bound on some mappings (else it checks nothing new).
func TestDMAFloor(t *testing.T) {
	ctx := context.Background()
	above := 0
	eachLegalRandom(t, 13, func(cfg *kpu.Config, p Problem, m model.Mapping) {
		f, err := DMAFloor(ctx, p, m, cfg)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := Replay(ctx, p, m, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if f > tr.Cycles {
			t.Errorf("%s %v %+v: DMA floor %d > replay %d", cfg.Name, p, m, f, tr.Cycles)
		}
		if est, _ := Quick(p, m, cfg); f > est.LowerCycles {
			above++
		}
	})
	if above < 10 {
		t.Errorf("the DMA floor beat the closed-form bound on only %d mappings", above)
	}
}

// TestRelaxedFloor: the relaxed replay never exceeds the replay, and it is
// above the closed-form bound on some mappings.
func TestRelaxedFloor(t *testing.T) {
	ctx := context.Background()
	above := 0
	eachLegalRandom(t, 15, func(cfg *kpu.Config, p Problem, m model.Mapping) {
		f, err := RelaxedFloor(ctx, p, m, cfg, 0)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := Replay(ctx, p, m, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if f > tr.Cycles {
			t.Errorf("%s %v %+v: relaxed floor %d > replay %d", cfg.Name, p, m, f, tr.Cycles)
		}
		if est, _ := Quick(p, m, cfg); f > est.LowerCycles {
			above++
		}
		if cut, err := RelaxedFloor(ctx, p, m, cfg, f); err != nil || cut < f {
			t.Errorf("%s %v %+v: floor with limit %d: %d, %v", cfg.Name, p, m, f, cut, err)
		}
	})
	if above < 10 {
		t.Errorf("the relaxed floor beat the closed-form bound on only %d mappings", above)
	}
}

// eachLegalRandom calls fn on up to 60 legal random mappings of every case
// of stallCases (random source seeded with seed).
func eachLegalRandom(t *testing.T, seed uint64, fn func(cfg *kpu.Config, p Problem, m model.Mapping)) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, seed+1))
	for _, c := range stallCases {
		cfg := preset(t, c.cfg)
		p := Problem{Name: "t", Batch: c.b, M: c.m, N: c.n, K: c.k, DType: c.dt, OutDType: c.out}
		sp := NewSpace(p, cfg)
		checked := 0
		for i := 0; i < 800 && checked < 60; i++ {
			m := randomMapping(r, sp)
			if Check(p, m, cfg) != nil {
				continue
			}
			checked++
			fn(cfg, p, m)
		}
	}
}

// TestL3Detour: the fabric chain with detours at the L3 boundaries of a
// single-buffered operand never exceeds the replay, and it is the latency
// bound of some mappings.
func TestL3Detour(t *testing.T) {
	ctx := context.Background()
	claimed, binding := 0, 0
	for _, seed := range []uint64{17, 19, 23} {
		eachLegalRandom(t, seed, func(cfg *kpu.Config, p Problem, m model.Mapping) {
			g, err := newGeom(p, m, cfg)
			if err != nil {
				t.Fatal(err)
			}
			l3 := g.l3Spans()
			est := g.estimate()
			d := max(g.l3Detour(&est, l3, OpA), g.l3Detour(&est, l3, OpB))
			if d == 0 {
				return
			}
			claimed++
			tr, err := Replay(ctx, p, m, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if d > tr.Cycles {
				t.Errorf("%s %v %+v: L3 detour bound %d > replay %d", cfg.Name, p, m, d, tr.Cycles)
			}
			if d == est.LowerCycles {
				binding++
			}
		})
	}
	t.Logf("%d mappings claim a detour, %d set the bound", claimed, binding)
	if claimed < 10 {
		t.Errorf("only %d random mappings claim an L3 detour: the test checks too little", claimed)
	}
}

// TestStoreQueue: the fabric chain with detours through the C stores that a
// single-buffered A's next load queues behind never exceeds the replay (on
// random mappings and on a datacenter mapping where it is the bound).
func TestStoreQueue(t *testing.T) {
	ctx := context.Background()
	claimed := 0
	check := func(cfg *kpu.Config, p Problem, m model.Mapping) {
		g, err := newGeom(p, m, cfg)
		if err != nil {
			t.Fatal(err)
		}
		est := g.estimate()
		q := g.storeQueue(&est)
		if q == 0 {
			return
		}
		claimed++
		tr, err := Replay(ctx, p, m, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if q > tr.Cycles {
			t.Errorf("%s %v %+v: store-queue bound %d > replay %d", cfg.Name, p, m, q, tr.Cycles)
		}
	}
	for _, seed := range []uint64{29, 31, 37} {
		eachLegalRandom(t, seed, check)
	}
	dc := preset(t, "datacenter")
	p := Problem{Name: "t", Batch: 1, M: 4096, N: 4096, K: 4096, DType: model.Float32}
	m := model.Mapping{L3: model.Tile{M: 1024, N: 4096, K: 128}, L2: model.Tile{M: 128, N: 128, K: 128}, L3Order: "mnk", L2Order: "mnk",
		Split: model.Split{M: 8, N: 32, K: 1}, L3Buffers: model.Buffers{A: 1, B: 2, C: 2}, L2Buffers: model.Buffers{A: 2, B: 2, C: 2}}
	before := claimed
	check(dc, p, m)
	if claimed == before {
		t.Error("the datacenter mapping claims no store queue")
	}
	t.Logf("%d mappings claim a store queue", claimed)
	if claimed < 10 {
		t.Errorf("only %d mappings claim a store queue: the test checks too little", claimed)
	}
}
