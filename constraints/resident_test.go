package constraints

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// streamOf records the commands of a walk (kind, operand, engine, deps,
// cycles, bytes).
type recCmd struct {
	Kind    CmdKind
	Operand Operand
	Engine  kpu.Engine
	Deps    []int
	Cycles  int64
	Bytes   int64
}

func record(t *testing.T, walk func(func(*Cmd) error) error) []recCmd {
	t.Helper()
	var out []recCmd
	if err := walk(func(c *Cmd) error {
		out = append(out, recCmd{c.Kind, c.Operand, c.Engine, append([]int(nil), c.Deps...), c.Cycles, c.Bytes})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWalkResident: without resident operands WalkResident is Walk; with
// them, no DMA command moves a resident operand, everything else is the
// same work, and the replay is never slower.
func TestWalkResident(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 8))
	pats := []Residency{{}, {A: true}, {B: true}, {C: true}, {A: true, B: true, C: true}}
	checked := 0
	for _, c := range smallCases {
		cfg := preset(t, c.cfg)
		p := Problem{Name: "t", Batch: c.b, M: c.m, N: c.n, K: c.k, DType: c.dt}
		sp := NewSpace(p, cfg)
		for i, done := 0, 0; i < 200 && done < 4; i++ {
			m := randomMapping(r, sp)
			if i%2 == 1 {
				m = splitK(r, m, cfg)
			}
			if Check(p, m, cfg) != nil {
				continue
			}
			done++
			base := record(t, func(v func(*Cmd) error) error { return Walk(ctx, p, m, cfg, v) })
			full, err := Replay(ctx, p, m, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, res := range pats {
				if err := CheckResident(p, m, cfg, res); err != nil {
					if !IsInfeasible(err) {
						t.Fatalf("%v %+v: %v", m, res, err)
					}
					continue
				}
				got := record(t, func(v func(*Cmd) error) error { return WalkResident(ctx, p, m, cfg, res, v) })
				if !res.Any() {
					if d := cmp.Diff(base, got); d != "" {
						t.Fatalf("%v: WalkResident without residency differs from Walk (-walk +resident):\n%s", m, d)
					}
					continue
				}
				var moves, baseMoves int64
				for _, c := range got {
					if (c.Kind == CmdLoad || c.Kind == CmdStore) && res.has(c.Operand) {
						t.Fatalf("%v %+v: a %s of resident %s", m, res, c.Kind, c.Operand)
					}
					if c.Kind == CmdMatMul || c.Kind == CmdFeed {
						moves++
					}
				}
				for _, c := range base {
					if c.Kind == CmdMatMul || c.Kind == CmdFeed {
						baseMoves++
					}
				}
				if moves != baseMoves {
					t.Fatalf("%v %+v: %d feeds and matmuls, Walk has %d", m, res, moves, baseMoves)
				}
				tr, err := ReplayResident(ctx, p, m, cfg, res)
				if err != nil {
					t.Fatal(err)
				}
				if tr.Cycles > full.Cycles || tr.MACs != full.MACs {
					t.Fatalf("%v %+v: resident replay %d cycles %d MACs, plain %d, %d", m, res, tr.Cycles, tr.MACs, full.Cycles, full.MACs)
				}
				if res.A && res.B && res.C && tr.Bytes.DRAM() != 0 {
					t.Fatalf("%v: all resident but %d DRAM bytes", m, tr.Bytes.DRAM())
				}
				checked++
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d resident walks checked", checked)
	}
}

// TestPlaceResident: the mapping's L3 buffers avoid the reserved ranges,
// resident operands get none, and no room at all is infeasible.
func TestPlaceResident(t *testing.T) {
	cfg := preset(t, "edge_ai")
	p := Problem{Name: "t", Batch: 1, M: 64, N: 96, K: 80, DType: model.Float32}
	m := model.Mapping{L3: model.Tile{M: 64, N: 96, K: 80}, L2: model.Tile{M: 32, N: 32, K: 40}, L3Order: "mnk", L2Order: "mnk",
		Split: model.Split{M: 1, N: 1, K: 1}, L3Buffers: model.Buffers{A: 1, B: 1, C: 1}, L2Buffers: model.Buffers{A: 2, B: 2, C: 1}}
	if err := Check(p, m, cfg); err != nil {
		t.Fatal(err)
	}
	reserved := []L3Range{{Start: 0, End: 10000}, {Start: cfg.L3TileBytes - 5000, End: cfg.L3TileBytes + 3000}}
	tests := []struct {
		name string
		res  Residency
	}{
		{"none", Residency{Reserved: reserved}},
		{"A", Residency{A: true, Reserved: reserved}},
		{"BC", Residency{B: true, C: true, Reserved: reserved}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pl, err := PlaceResident(p, m, cfg, tc.res)
			if err != nil {
				t.Fatal(err)
			}
			for x := OpA; x <= OpC; x++ {
				for _, slot := range pl.L3[x] {
					for _, it := range slot {
						if tc.res.has(x) {
							if it.Tile >= 0 {
								t.Fatalf("resident %s has an L3 group at tile %d", x, it.Tile)
							}
							continue
						}
						start := int64(it.Tile)*cfg.L3TileBytes + it.Offset
						if it.Offset+it.Bytes > cfg.L3TileBytes {
							t.Fatalf("%s group [%d, +%d) crosses its L3 tile", x, it.Offset, it.Bytes)
						}
						for _, r := range reserved {
							if r.Start < start+it.Bytes && start < r.End {
								t.Fatalf("%s group at flat %d (+%d) overlaps reserved %v", x, start, it.Bytes, r)
							}
						}
					}
				}
			}
		})
	}
	all := Residency{Reserved: []L3Range{{Start: 0, End: cfg.L3Bytes()}}}
	if _, err := PlaceResident(p, m, cfg, all); !IsInfeasible(err) {
		t.Fatalf("L3 fully reserved: got %v, want infeasible", err)
	}
}

// TestCheckResidentNarrowC: a resident C narrower than the accumulator
// cannot hold the partial sums of a mapping that splits K.
func TestCheckResidentNarrowC(t *testing.T) {
	cfg := preset(t, "minimal")
	p := Problem{Name: "t", Batch: 1, M: 16, N: 16, K: 64, DType: model.BFloat16, OutDType: model.BFloat16}
	m := model.Mapping{L3: model.Tile{M: 16, N: 16, K: 32}, L2: model.Tile{M: 16, N: 16, K: 32}, L3Order: "mnk", L2Order: "mnk",
		Split: model.Split{M: 1, N: 1, K: 1}, L3Buffers: model.Buffers{A: 1, B: 1, C: 1}, L2Buffers: model.Buffers{A: 1, B: 1, C: 1}}
	if err := Check(p, m, cfg); err != nil {
		t.Fatal(err)
	}
	if err := CheckResident(p, m, cfg, Residency{C: true}); !IsInfeasible(err) {
		t.Fatalf("got %v, want infeasible", err)
	}
	if err := CheckResident(p, m, cfg, Residency{A: true}); err != nil {
		t.Fatalf("resident A: %v", err)
	}
	m.L3.K, m.L2.K = 64, 64
	if err := CheckResident(p, m, cfg, Residency{C: true}); err != nil {
		t.Fatalf("no K split: %v", err)
	}
}

func TestL3Holes(t *testing.T) {
	cfg := &kpu.Config{L3Tiles: 2, L3TileBytes: 1024}
	tests := []struct {
		name     string
		reserved []L3Range
		want     []int64
	}{
		{"none", nil, []int64{1024, 1024}},
		{"middle", []L3Range{{Start: 256, End: 300}}, []int64{704, 1024}},
		{"straddle", []L3Range{{Start: 900, End: 1100}}, []int64{896, 896}},
		{"full first", []L3Range{{Start: 0, End: 1024}}, []int64{0, 1024}},
		{"two", []L3Range{{Start: 0, End: 100}, {Start: 600, End: 700}}, []int64{448, 1024}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, l3Holes(cfg, tc.reserved)); d != "" {
				t.Fatalf("holes (-want +got):\n%s", d)
			}
		})
	}
}

// TestResidentPlan: a resident input has no DMA load, a resident output no
// DMA store, the staging left avoids the reserved ranges, and the DRAM
// bytes drop by exactly the resident tensors' bytes.
func TestResidentPlan(t *testing.T) {
	ctx := context.Background()
	cfg := preset(t, "edge_ai")
	g := &model.Graph{Name: "g", Tensors: map[string]*model.Tensor{
		"a": {Name: "a", Shape: []int64{64, 48}, DType: model.Float32},
		"b": {Name: "b", Shape: []int64{64, 48}, DType: model.Float32},
		"y": {Name: "y", Shape: []int64{64, 48}, DType: model.Float32},
	}, Operators: []*model.Operator{{Name: "add", Type: model.OpAdd, Inputs: []string{"a", "b"}, Outputs: []string{"y"}}}}
	op := g.Operators[0]
	base, err := PlanOp(ctx, g, op, cfg)
	if err != nil {
		t.Fatal(err)
	}
	bc, err := base.Cost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tb := g.Tensors["a"].Bytes()
	reserved := []L3Range{{Start: 0, End: tb}, {Start: cfg.L3TileBytes, End: cfg.L3TileBytes + tb}}
	tests := []struct {
		name  string
		homes map[int]int64
		saved int64
	}{
		{"none", map[int]int64{}, 0},
		{"input", map[int]int64{0: 0}, tb},
		{"output", map[int]int64{2: cfg.L3TileBytes}, tb},
		{"both", map[int]int64{1: 0, 2: cfg.L3TileBytes}, 2 * tb},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := PlanOpResident(ctx, g, op, cfg, tc.homes, reserved)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range plan.Cmds {
				if _, ok := tc.homes[c.SrcT]; ok && c.Op == kpu.OpLoad {
					t.Fatalf("a DMA load of resident operand %d", c.SrcT)
				}
				if _, ok := tc.homes[c.DstT]; ok && c.Op == kpu.OpStore {
					t.Fatalf("a DMA store of resident operand %d", c.DstT)
				}
				for _, a := range []*kpu.Access{c.Src, c.Src2, c.Dst} {
					if a == nil || a.Level != kpu.L3 || a == c.Src && c.SrcHome > 0 || a == c.Dst && c.DstHome > 0 {
						continue
					}
					start := int64(a.Unit)*cfg.L3TileBytes + a.Addr
					for _, r := range reserved {
						if r.Start < start+accessElems(a)*a.DType.Size() && start < r.End {
							t.Fatalf("staging at flat %d overlaps reserved %v", start, r)
						}
					}
				}
			}
			c, err := plan.Cost(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := bc.Bytes.DRAM() - c.Bytes.DRAM(); got != tc.saved {
				t.Fatalf("saved %d DRAM bytes, want %d", got, tc.saved)
			}
		})
	}
	if _, err := PlanOpResident(ctx, g, op, cfg, nil, []L3Range{{Start: 0, End: cfg.L3Bytes()}}); !IsInfeasible(err) && !errors.Is(err, ErrResidentUnsupported) {
		t.Fatalf("no L3 left: got %v, want infeasible", err)
	}
}
