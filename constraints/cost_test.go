package constraints

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

func preset(t testing.TB, name string) *kpu.Config {
	t.Helper()
	cfg, err := kpu.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// randomMapping draws a structurally valid mapping of p from its space.
func randomMapping(r *rand.Rand, sp *Space) model.Mapping {
	pick := func(v []int64, lim int64) int64 {
		var ok []int64
		for _, x := range v {
			if x <= lim {
				ok = append(ok, x)
			}
		}
		return ok[r.IntN(len(ok))]
	}
	p := sp.Problem
	for {
		m := model.Mapping{
			Split:   sp.Splits[r.IntN(len(sp.Splits))],
			L3Order: sp.Orders[r.IntN(6)], L2Order: sp.Orders[r.IntN(6)],
			L3Buffers: model.Buffers{A: 1 + r.IntN(2), B: 1 + r.IntN(2), C: 1 + r.IntN(2)},
			L2Buffers: model.Buffers{A: 1 + r.IntN(2), B: 1 + r.IntN(2), C: 1 + r.IntN(2)},
		}
		m.L3 = model.Tile{M: pick(sp.Tiles[0], p.M), N: pick(sp.Tiles[1], p.N), K: pick(sp.Tiles[2], p.K)}
		mp, np := ceilDiv(m.L3.M, int64(m.Split.M)), ceilDiv(m.L3.N, int64(m.Split.N))
		if (int64(m.Split.M)-1)*mp >= m.L3.M || (int64(m.Split.N)-1)*np >= m.L3.N {
			continue
		}
		m.L2 = model.Tile{M: pick(sp.Tiles[0], mp), N: pick(sp.Tiles[1], np), K: pick(sp.Tiles[2], m.L3.K)}
		// keep the streams small enough for fast tests
		if p.Batch*ceilDiv(p.M, m.L2.M)*ceilDiv(p.N, m.L2.N)*ceilDiv(p.K, m.L2.K) > 4000 {
			continue
		}
		return m
	}
}

type smallCase struct {
	cfg        string
	b, m, n, k int64
	dt         model.DType
}

var smallCases = []smallCase{
	{"minimal", 1, 37, 29, 41, model.Float32},
	{"minimal", 2, 16, 8, 8, model.Int8},
	{"edge_ai", 1, 64, 96, 80, model.Float32},
	{"edge_ai", 1, 1, 61, 33, model.BFloat16},
	{"edge_ai", 1, 100, 1, 7, model.Float32},
	{"embodied_ai", 1, 72, 50, 31, model.Float16},
	{"datacenter", 1, 97, 130, 64, model.Int8},
}

// TestQuickMatchesReplay: the closed form counts exactly the bytes of the
// replayed stream, and its latency bound never exceeds the replay.
func TestQuickMatchesReplay(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ctx := context.Background()
	var cases []Problem
	kSplits := 0
	for _, c := range smallCases {
		p := Problem{Name: c.cfg, Batch: c.b, M: c.m, N: c.n, K: c.k, DType: c.dt}
		cases = append(cases, p)
		if c.dt.Size() < c.dt.Accumulator().Size() {
			p.OutDType = c.dt // a narrow output: converted on the vector engine
			cases = append(cases, p)
		}
	}
	for _, p := range cases {
		c := struct{ cfg string }{p.Name}
		cfg := preset(t, c.cfg)
		sp := NewSpace(p, cfg)
		checked := 0
		for i := 0; i < 600 && checked < 60; i++ {
			m := randomMapping(r, sp)
			if i%3 == 2 {
				m = splitK(r, m, cfg)
			}
			if err := Check(p, m, cfg); err != nil {
				if !IsInfeasible(err) {
					t.Fatalf("%s %v: %v: unexpected error %v", c.cfg, p, m, err)
				}
				continue
			}
			checked++
			if m.Split.K > 1 {
				kSplits++
			}
			tr, err := Replay(ctx, p, m, cfg)
			if err != nil {
				t.Fatalf("%s %v %+v: %v", c.cfg, p, m, err)
			}
			est, err := Quick(p, m, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tr.Bytes, est.Bytes); diff != "" {
				t.Errorf("%s %v %+v: bytes differ (-replay +quick):\n%s", c.cfg, p, m, diff)
			}
			var dmaBusy, bm0Busy int64
			bm0 := engineSet(cfg.BlockMovers, cfg.ComputeTiles, 0)
			for _, eb := range tr.Busy {
				switch {
				case eb.Engine.Kind == kpu.DMA:
					dmaBusy += eb.Cycles
				case eb.Engine.Kind == kpu.BlockMover && eb.Engine.Index == bm0[0]:
					bm0Busy += eb.Cycles
				}
			}
			wantBM := est.BMBusy[0]
			for x := 1; x < 3; x++ {
				if bm0[x%len(bm0)] == bm0[0] {
					wantBM += est.BMBusy[x]
				}
			}
			if dmaBusy != est.DMABusy || (cfg.ComputeTiles == 1 && bm0Busy != wantBM) {
				t.Errorf("%s %v %+v: busy DMA %d, block mover %d (replay) != %d, %d (quick)", c.cfg, p, m, dmaBusy, bm0Busy, est.DMABusy, wantBM)
			}
			if tr.MACs != p.MACs() {
				t.Errorf("%s %v %+v: replay MACs %d, want %d", c.cfg, p, m, tr.MACs, p.MACs())
			}
			if est.LowerCycles > tr.Cycles {
				t.Errorf("%s %v %+v: quick lower bound %d > replay %d", c.cfg, p, m, est.LowerCycles, tr.Cycles)
			}
			if lb := LowerBound(p, cfg); lb.LatencyCycles > tr.Cycles || lb.DRAMBytes > tr.Bytes.DRAM() {
				t.Errorf("%s %v %+v: problem bound %+v above replay %d cycles %d B", c.cfg, p, m, lb, tr.Cycles, tr.Bytes.DRAM())
			}
		}
		if checked == 0 {
			t.Errorf("%s %v: no feasible random mapping", c.cfg, p)
		}
	}
	if kSplits < 20 {
		t.Errorf("only %d mappings split K", kSplits)
	}
}
