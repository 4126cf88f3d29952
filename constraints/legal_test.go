package constraints

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stillwater-sc/kpuopt/model"
)

func mapping(l3, l2 model.Tile, split model.Split, b3, b2 model.Buffers) model.Mapping {
	return model.Mapping{L3: l3, L2: l2, L3Order: "mnk", L2Order: "mnk", Split: split, L3Buffers: b3, L2Buffers: b2}
}

func TestCheckReasons(t *testing.T) {
	one := model.Buffers{A: 1, B: 1, C: 1}
	two := model.Buffers{A: 2, B: 2, C: 2}
	p := Problem{Name: "mm", Batch: 1, M: 1024, N: 1024, K: 1024, DType: model.Float32}
	tests := []struct {
		name    string
		cfg     string
		m       model.Mapping
		infeas  bool
		level   string
		short   int64
		wantSub string
	}{
		{"fits", "edge_ai", mapping(model.Tile{M: 64, N: 128, K: 64}, model.Tile{M: 64, N: 64, K: 64}, model.Split{M: 1, N: 2, K: 1}, one, two), false, "", 0, ""},
		// A2 128x256 fp32 = 128 KiB: one L1 buffer holds 64 KiB
		{"l1", "edge_ai", mapping(model.Tile{M: 128, N: 128, K: 256}, model.Tile{M: 128, N: 64, K: 256}, model.Split{M: 1, N: 2, K: 1}, one, one), true, "l1", 65536, "A feed"},
		// C2 64x512 fp32 = 128 KiB in one 64 KiB bank
		{"l2 bank", "edge_ai", mapping(model.Tile{M: 64, N: 1024, K: 16}, model.Tile{M: 64, N: 512, K: 16}, model.Split{M: 1, N: 2, K: 1}, one, one), true, "l2", 65536, "C2[0]"},
		// 3 x 128 KiB of L3 blocks (x2) on 2 x 128 KiB
		{"l3", "edge_ai", mapping(model.Tile{M: 128, N: 256, K: 256}, model.Tile{M: 64, N: 64, K: 64}, model.Split{M: 1, N: 2, K: 1}, two, one), true, "l3", 0, "L3 buffers"},
		{"split k", "edge_ai", mapping(model.Tile{M: 64, N: 64, K: 64}, model.Tile{M: 64, N: 64, K: 32}, model.Split{M: 1, N: 1, K: 2}, one, one), false, "", 0, ""},
		{"l2 k bigger than k part", "edge_ai", mapping(model.Tile{M: 64, N: 64, K: 64}, model.Tile{M: 64, N: 64, K: 64}, model.Split{M: 1, N: 1, K: 2}, one, one), false, "", 0, "l2.k = 64, want 1..32"},
		{"split k too many tiles", "edge_ai", mapping(model.Tile{M: 64, N: 64, K: 64}, model.Tile{M: 64, N: 64, K: 16}, model.Split{M: 1, N: 1, K: 4}, one, one), false, "", 0, "split 1x1x4 uses 4 compute tiles"},
		{"split k empty part", "datacenter", mapping(model.Tile{M: 64, N: 64, K: 5}, model.Tile{M: 64, N: 64, K: 1}, model.Split{M: 1, N: 1, K: 4}, one, one), false, "", 0, "split.k = 4 leaves an empty part"},
		{"bad order", "edge_ai", model.Mapping{L3: model.Tile{M: 64, N: 64, K: 64}, L2: model.Tile{M: 64, N: 64, K: 64}, L3Order: "mmk", L2Order: "mnk", Split: model.Split{M: 1, N: 1}, L3Buffers: one, L2Buffers: one}, false, "", 0, "l3_order"},
		{"too many tiles", "edge_ai", mapping(model.Tile{M: 64, N: 64, K: 64}, model.Tile{M: 16, N: 16, K: 64}, model.Split{M: 2, N: 2, K: 1}, one, one), false, "", 0, "uses 4 compute tiles"},
		{"l2 bigger than part", "edge_ai", mapping(model.Tile{M: 64, N: 64, K: 64}, model.Tile{M: 64, N: 64, K: 64}, model.Split{M: 1, N: 2, K: 1}, one, one), false, "", 0, "l2.n = 64, want 1..32"},
		{"triple buffers", "edge_ai", mapping(model.Tile{M: 64, N: 64, K: 64}, model.Tile{M: 64, N: 64, K: 64}, model.Split{M: 1, N: 1, K: 1}, model.Buffers{A: 3, B: 1, C: 1}, one), false, "", 0, "l3_buffers.a = 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(p, tc.m, preset(t, tc.cfg))
			if tc.wantSub == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantSub) {
				t.Fatalf("Check = %v, want an error containing %q", err, tc.wantSub)
			}
			if IsInfeasible(err) != tc.infeas {
				t.Fatalf("IsInfeasible(%v) = %v, want %v", err, !tc.infeas, tc.infeas)
			}
			if tc.infeas {
				ie := err.(*InfeasibleError)
				if ie.Shortfall.Level != tc.level || (tc.short > 0 && ie.Shortfall.Short() != tc.short) || ie.Shortfall.Short() <= 0 {
					t.Errorf("shortfall %+v (short %d), want level %s short %d", ie.Shortfall, ie.Shortfall.Short(), tc.level, tc.short)
				}
			}
		})
	}
}

// TestPlacementIsDisjoint: every placed buffer lies inside its unit and no
// two overlap.
func TestPlacementIsDisjoint(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, c := range smallCases {
		cfg := preset(t, c.cfg)
		p := Problem{Name: "t", Batch: c.b, M: c.m, N: c.n, K: c.k, DType: c.dt}
		sp := NewSpace(p, cfg)
		for i := 0; i < 200; i++ {
			m := randomMapping(r, sp)
			if i%2 == 1 {
				m = splitK(r, m, cfg)
			}
			pl, err := Place(p, m, cfg)
			if err != nil {
				continue
			}
			type iv struct{ unit, lo, hi int64 }
			check := func(level string, ivs []iv, capacity int64) {
				for a := range ivs {
					if ivs[a].lo < 0 || ivs[a].hi > capacity {
						t.Fatalf("%+v: %s buffer %+v outside a unit of %d B", m, level, ivs[a], capacity)
					}
					for b := a + 1; b < len(ivs); b++ {
						if ivs[a].unit == ivs[b].unit && ivs[a].lo < ivs[b].hi && ivs[b].lo < ivs[a].hi {
							t.Fatalf("%+v: %s buffers %+v and %+v overlap", m, level, ivs[a], ivs[b])
						}
					}
				}
			}
			var l2 []iv
			for x := range pl.L2 {
				for _, s := range pl.L2[x] {
					l2 = append(l2, iv{int64(s.Bank), s.Offset, s.Offset + s.Bytes})
				}
			}
			if m.Split.K > 1 {
				if pl.Scratch.Bytes != m.L2.M*m.L2.N*p.AccBytes() {
					t.Fatalf("%+v: reduction scratch %+v", m, pl.Scratch)
				}
				l2 = append(l2, iv{int64(pl.Scratch.Bank), pl.Scratch.Offset, pl.Scratch.Offset + pl.Scratch.Bytes})
			} else if pl.Scratch.Bytes != 0 {
				t.Fatalf("%+v: a reduction scratch %+v without a K split", m, pl.Scratch)
			}
			check("L2", l2, cfg.L2BankBytes)
			var l3 []iv
			for x := range pl.L3 {
				for _, slot := range pl.L3[x] {
					for _, it := range slot {
						if it.Tile >= 0 {
							l3 = append(l3, iv{int64(it.Tile), it.Offset, it.Offset + it.Bytes})
						}
					}
				}
			}
			if len(l3) < 500 {
				check("L3", l3, cfg.L3TileBytes)
			}
		}
	}
}

func TestShapeEvalMatchesQuick(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, c := range smallCases {
		cfg := preset(t, c.cfg)
		p := Problem{Name: "t", Batch: c.b, M: c.m, N: c.n, K: c.k, DType: c.dt}
		sp := NewSpace(p, cfg)
		for i := 0; i < 20; i++ {
			m := randomMapping(r, sp)
			se, err := NewShapeEval(p, Shape{L3: m.L3, L2: m.L2, Split: m.Split}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if se.FitsSingle() != nil {
				continue
			}
			for o3 := 0; o3 < 6; o3++ {
				for o2 := 0; o2 < 6; o2++ {
					mm := m
					mm.L3Order, mm.L2Order = model.Orders[o3], model.Orders[o2]
					q, err := Quick(p, mm, cfg)
					if err != nil {
						t.Fatal(err)
					}
					// the buffer counts only add the chains of single buffers
					// (chains.go), which BufferBound adds to the shape's bound
					est := se.Estimate(o3, o2)
					est.LowerCycles = se.BufferBound(o3, o2, mm.L3Buffers, mm.L2Buffers)
					if diff := cmp.Diff(q, est); diff != "" {
						t.Fatalf("%+v: ShapeEval differs from Quick (-quick +shape):\n%s", mm, diff)
					}
				}
			}
			// ShapeBound bounds every L2 tile and order of the shape
			cyc, dram, en, err := ShapeBound(p, Shape{L3: m.L3, Split: m.Split}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for o3 := 0; o3 < 6; o3++ {
				for o2 := 0; o2 < 6; o2++ {
					est := se.Estimate(o3, o2)
					if est.LowerCycles < cyc || est.Bytes.DRAM() < dram || EnergyOf(p, est.Bytes, p.MACs(), cfg) < en*(1-1e-12) {
						t.Fatalf("%+v orders %d/%d: estimate %d cycles %d B %.1f pJ below the shape bound %d %d %.1f", m, o3, o2, est.LowerCycles, est.Bytes.DRAM(), EnergyOf(p, est.Bytes, p.MACs(), cfg), cyc, dram, en)
					}
				}
			}
		}
	}
}

func TestLowerBound(t *testing.T) {
	tests := []struct {
		cfg     string
		m, n, k int64
		want    Bound
	}{
		// 1024^3 fp32 on 2 tiles of 16x16: 2^30 / 512 MACs per cycle
		// plus the chain DMA, move, feed before and move_out, DMA after: 100+20+10+3 + 20+100+2
		{"edge_ai", 1024, 1024, 1024, Bound{LatencyCycles: 2097152 + 255, DRAMBytes: 3 * 4 << 20, LatencyBy: "compute"}},
		// a GEMV is DRAM bound: 4096*4096*4 B over 2 DMA engines of 64 B/cycle
		{"edge_ai", 1, 4096, 4096, Bound{LatencyCycles: (4096*4 + 4096*4096*4 + 4096*4) / 128, DRAMBytes: 4096*4 + 4096*4096*4 + 4096*4, LatencyBy: "dram"}},
	}
	for _, tc := range tests {
		p := Problem{Name: "t", Batch: 1, M: tc.m, N: tc.n, K: tc.k, DType: model.Float32}
		got := LowerBound(p, preset(t, tc.cfg))
		got.EnergyPJ = 0
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s %v: LowerBound (-want +got):\n%s", tc.cfg, p, diff)
		}
	}
}
