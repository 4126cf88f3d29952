package constraints

import (
	"context"
	"math/rand/v2"
	"testing"
)

// TestChainTotals: the closed-form chain totals equal the summed durations
// of the commands chainOf assigns to each chain, on random mappings of
// every case; and the chain bound never exceeds the replay.
func TestChainTotals(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	ctx := context.Background()
	claimed := 0
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
				t.Errorf("%s %v %+v: chain totals %v, the stream's %v", c.cfg, p, m, want, got)
			}
			tr, err := Replay(ctx, p, m, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if b := g.chains(l3, &est); b > tr.Cycles {
				t.Errorf("%s %v %+v: chain bound %d > replay %d", c.cfg, p, m, b, tr.Cycles)
			} else if b > 0 && b >= est.LowerCycles {
				claimed++
			}
		}
	}
	if claimed < 20 {
		t.Errorf("the chain bound set the latency bound of only %d mappings: the test checks too little", claimed)
	}
}

// TestDMAFloor: the DMA floor never exceeds the replay, and it is above the
// closed-form bound on some mappings (else it checks nothing new).
func TestDMAFloor(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	ctx := context.Background()
	above := 0
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
			f, err := DMAFloor(ctx, p, m, cfg)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := Replay(ctx, p, m, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if f > tr.Cycles {
				t.Errorf("%s %v %+v: DMA floor %d > replay %d", c.cfg, p, m, f, tr.Cycles)
			}
			if est, _ := Quick(p, m, cfg); f > est.LowerCycles {
				above++
			}
		}
	}
	if above < 10 {
		t.Errorf("the DMA floor beat the closed-form bound on only %d mappings", above)
	}
}

// TestRelaxedFloor: the relaxed replay never exceeds the replay, and it is
// above the closed-form bound on some mappings.
func TestRelaxedFloor(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	ctx := context.Background()
	above := 0
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
			f, err := RelaxedFloor(ctx, p, m, cfg, 0)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := Replay(ctx, p, m, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if f > tr.Cycles {
				t.Errorf("%s %v %+v: relaxed floor %d > replay %d", c.cfg, p, m, f, tr.Cycles)
			}
			if est, _ := Quick(p, m, cfg); f > est.LowerCycles {
				above++
			}
			if cut, err := RelaxedFloor(ctx, p, m, cfg, f); err != nil || cut < f {
				t.Errorf("%s %v %+v: floor with limit %d: %d, %v", c.cfg, p, m, f, cut, err)
			}
		}
	}
	if above < 10 {
		t.Errorf("the relaxed floor beat the closed-form bound on only %d mappings", above)
	}
}
