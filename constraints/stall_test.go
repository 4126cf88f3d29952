package constraints

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// stallCases mix edge tiles, batches, narrow outputs and every preset.
var stallCases = []struct {
	cfg        string
	b, m, n, k int64
	dt, out    model.DType
}{
	{"minimal", 1, 37, 29, 41, model.Float32, ""},
	{"minimal", 3, 16, 24, 40, model.Float32, ""},
	{"minimal", 2, 20, 8, 24, model.Int8, model.Int8},
	{"edge_ai", 1, 64, 96, 80, model.Float32, ""},
	{"edge_ai", 2, 50, 40, 70, model.BFloat16, ""},
	{"edge_ai", 1, 100, 33, 64, model.Int8, model.Int8},
	{"embodied_ai", 1, 72, 50, 31, model.Float16, ""},
	{"datacenter", 1, 97, 130, 64, model.Int8, ""},
}

// TestL3StallClasses: summing the stall over index classes equals summing it
// over every pair of consecutive L3 steps.
func TestL3StallClasses(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range stallCases {
		cfg := preset(t, c.cfg)
		p := Problem{Name: "t", Batch: c.b, M: c.m, N: c.n, K: c.k, DType: c.dt, OutDType: c.out}
		sp := NewSpace(p, cfg)
		for i := 0; i < 40; i++ {
			m := randomMapping(r, sp)
			g, err := newGeom(p, m, cfg)
			if err != nil {
				t.Fatalf("%s %+v: %v", c.cfg, m, err)
			}
			st := g.stallTable()
			od := odometer{order: g.ord3, trips: g.t3}
			var want int64
			for b := int64(0); b < p.Batch; b++ {
				idx := [3]int64{}
				for {
					nxt := idx
					if !od.next(&nxt) {
						if b+1 < p.Batch {
							want += st.stallAt(idx, [3]int64{}, false)
						}
						break
					}
					want += st.stallAt(idx, nxt, true)
					idx = nxt
				}
			}
			if got := st.l3Stall(g.ord3, p.Batch); got != want {
				t.Errorf("%s %v %+v: l3Stall %d, every transition %d", c.cfg, p, m, got, want)
			}
		}
	}
}

// TestStallBoundHolds: the latency bound with the boundary stalls never
// exceeds the replay, on random mappings of every case (all orders, buffer
// counts, splits and edge tiles), and the stalls are claimed on some.
func TestStallBoundHolds(t *testing.T) {
	ctx := context.Background()
	claimed := 0
	eachLegalRandomN(t, 5, 60, func(cfg *kpu.Config, p Problem, m model.Mapping) {
		est, err := Quick(p, m, cfg)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := Replay(ctx, p, m, cfg)
		if err != nil {
			t.Fatalf("%s %v %+v: %v", cfg.Name, p, m, err)
		}
		if est.LowerCycles > tr.Cycles {
			t.Errorf("%s %v %+v: bound %d (stall %d) > replay %d", cfg.Name, p, m, est.LowerCycles, est.Stall, tr.Cycles)
		}
		if est.Stall > 0 {
			claimed++
		}
		// the cutoff never drops a mapping that beats the limit
		if w, err := ReplayWithin(ctx, p, m, cfg, tr.Cycles+1); err != nil || w.Cycles != tr.Cycles {
			t.Errorf("%s %v %+v: replay within %d: %v (cycles %d)", cfg.Name, p, m, tr.Cycles+1, err, tr.Cycles)
		}
	})
	if claimed == 0 {
		t.Error("no mapping had a boundary stall: the test checks nothing")
	}
}

// TestShapeFloor: the cheap floor never exceeds the full stall of any order
// nor, with tile 0's fabric time, the replay.
func TestShapeFloor(t *testing.T) {
	ctx := context.Background()
	claimed := 0
	eachLegalRandomN(t, 9, 40, func(cfg *kpu.Config, p Problem, m model.Mapping) {
		stall, end := ShapeFloor(p, Shape{L3: m.L3, L2: m.L2, Split: m.Split}, cfg)
		est, err := Quick(p, m, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if stall > est.Stall {
			t.Errorf("%s %v %+v: floor stall %d > stall %d", cfg.Name, p, m, stall, est.Stall)
		}
		tr, err := Replay(ctx, p, m, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if f := est.FabricBusy + stall + end; f > tr.Cycles {
			t.Errorf("%s %v %+v: floor %d > replay %d", cfg.Name, p, m, f, tr.Cycles)
		}
		if stall > 0 {
			claimed++
		}
	})
	if claimed == 0 {
		t.Error("the floor never claimed a stall: the test checks nothing")
	}
}
