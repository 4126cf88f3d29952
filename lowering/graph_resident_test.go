package lowering

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
	"github.com/stillwater-sc/kpuopt/search"
	sgraph "github.com/stillwater-sc/kpuopt/search/graph"
	"github.com/stillwater-sc/kpuopt/verify"
)

// residentCase solves g jointly on cfg, lowers the schedule with its
// resident tensors in L3 and verifies the program.
func residentCase(t *testing.T, g *model.Graph, cfg *kpu.Config) (*model.GraphSchedule, *verify.Report) {
	t.Helper()
	ctx := context.Background()
	gs, err := sgraph.Solve(ctx, g, cfg, sgraph.Options{Seeds: []string{"greedy"}})
	if err != nil {
		t.Fatalf("solve: %v", err)
	}
	prog, err := LowerGraphSchedule(ctx, g, gs, cfg)
	if err != nil {
		t.Fatalf("lower: %v", err)
	}
	for _, r := range gs.Resident {
		if _, ok := prog.Tensors[r.Tensor]; ok && wroteDRAM(prog, r.Tensor) {
			t.Errorf("resident tensor %s is written to DRAM", r.Tensor)
		}
	}
	rep, err := verify.Program(ctx, prog, cfg, verify.Options{Seed: 5})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !rep.Verified || !rep.Functional {
		t.Fatalf("not verified (functional %v): %v", rep.Functional, rep.Reasons)
	}
	return gs, rep
}

// wroteDRAM reports whether some DMA store of prog writes tensor name.
func wroteDRAM(prog *kpu.Program, name string) bool {
	pl := prog.Tensors[name]
	end := pl.Addr + prodOf(pl.Shape)*pl.DType.Size()
	for i := range prog.Commands {
		c := &prog.Commands[i]
		if c.Op == kpu.OpStore && c.Dst != nil && c.Dst.Unit == pl.Channel && c.Dst.Addr >= pl.Addr && c.Dst.Addr < end {
			return true
		}
	}
	return false
}

func TestResidentSchedules(t *testing.T) {
	mlp, err := model.LoadFile("../testdata/mlp.json")
	if err != nil {
		t.Fatal(err)
	}
	graphs := []*model.Graph{mlp, resnetBlock(t), attention(t)}
	for _, cfgName := range []string{"minimal", "edge_ai", "datacenter", "../testdata/configs/tiny.json"} {
		cfg := testConfig(t, cfgName)
		for _, g := range graphs {
			t.Run(cfg.Name+"/"+g.Name, func(t *testing.T) {
				gs, rep := residentCase(t, g, cfg)
				sim, pred := rep.Simulated, gs.Predicted
				var exact model.Figures
				for _, c := range exactSteps(t, g, gs, cfg) {
					exact.LatencyCycles += c.LatencyCycles
					exact.DRAMBytes += c.DRAMBytes
				}
				dev := math.Abs(float64(sim.LatencyCycles-pred.LatencyCycles)) / float64(pred.LatencyCycles)
				t.Logf("%d resident; search predicted %d cycles %d DRAM B; exact %d cycles %d DRAM B; simulated %d cycles %d DRAM B (search off by %.2f%%)", len(gs.Resident), pred.LatencyCycles, pred.DRAMBytes, exact.LatencyCycles, exact.DRAMBytes, sim.LatencyCycles, sim.DRAMBytes, 100*dev)
				// operators run one after the other behind the fence: the
				// program's latency is the sum of the exact step costs
				if sim.LatencyCycles != exact.LatencyCycles || sim.DRAMBytes != exact.DRAMBytes {
					t.Errorf("simulated %d cycles, %d DRAM bytes; sum of exact step costs %d, %d", sim.LatencyCycles, sim.DRAMBytes, exact.LatencyCycles, exact.DRAMBytes)
				}
			})
		}
	}
}

// TestResidentEncoder: the joint schedule of a whole transformer encoder on
// edge_ai keeps 128 KB tensors resident, filling one L3 tile, so the vector
// steps stage in the other tile.
func TestResidentEncoder(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole encoder layer")
	}
	g, err := model.LoadFile("../testdata/transformer_encoder.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "edge_ai")
	gs, rep := residentCase(t, g, cfg)
	if len(gs.Resident) == 0 {
		t.Fatal("no resident tensors")
	}
	var exact model.Figures
	for _, c := range exactSteps(t, g, gs, cfg) {
		exact.LatencyCycles += c.LatencyCycles
		exact.DRAMBytes += c.DRAMBytes
	}
	if sim := rep.Simulated; sim.LatencyCycles != exact.LatencyCycles || sim.DRAMBytes != exact.DRAMBytes {
		t.Errorf("simulated %d cycles, %d DRAM bytes; sum of exact step costs %d, %d", sim.LatencyCycles, sim.DRAMBytes, exact.LatencyCycles, exact.DRAMBytes)
	}
	t.Logf("%d resident; search predicted %d cycles, exact %d, simulated %d", len(gs.Resident), gs.Predicted.LatencyCycles, exact.LatencyCycles, rep.Simulated.LatencyCycles)
}

// exactSteps prices every step of a schedule with residency by the exact
// constraints functions the lowering follows (EvaluateGEMMOpResident,
// PlanOpResident), with the homes and live ranges of the schedule.
func exactSteps(t *testing.T, g *model.Graph, gs *model.GraphSchedule, cfg *kpu.Config) []model.Figures {
	t.Helper()
	ctx := context.Background()
	homes, err := newResidentHomes(gs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*model.Operator{}
	for _, op := range g.Operators {
		byName[op.Name] = op
	}
	out := make([]model.Figures, len(gs.Ops))
	for i := range gs.Ops {
		st := &gs.Ops[i]
		op := byName[st.Name]
		live := homes.live(i)
		if !op.Type.IsGEMMLike() && !stepResident(st) && len(live) == 0 {
			c, err := constraints.OperatorCost(ctx, g, op, nil, cfg)
			if err != nil {
				t.Fatalf("step %s: %v", st.Name, err)
			}
			out[i] = model.Figures{LatencyCycles: c.LatencyCycles, DRAMBytes: c.DRAMBytes}
			continue
		}
		if !op.Type.IsGEMMLike() {
			h := map[int]int64{}
			for _, n := range st.ResidentIn {
				for k, in := range op.Inputs {
					if in == n {
						h[k] = homes.home(n)
					}
				}
			}
			if len(st.ResidentOut) > 0 {
				h[len(op.Inputs)] = homes.home(op.Outputs[0])
			}
			plan, err := constraints.PlanOpResident(ctx, g, op, cfg, h, live)
			if err != nil {
				t.Fatalf("step %s: %v", st.Name, err)
			}
			c, err := plan.Cost(cfg)
			if err != nil {
				t.Fatalf("step %s: %v", st.Name, err)
			}
			out[i] = model.Figures{LatencyCycles: c.Cycles, DRAMBytes: c.Bytes.DRAM()}
			continue
		}
		var chain []*model.Operator
		for _, n := range st.FusedOps {
			chain = append(chain, byName[n])
		}
		if !stepResident(st) && len(live) == 0 {
			// lowered as without residency
			var c *constraints.Cost
			if len(chain) > 0 {
				f, err := constraints.NewFused(g, op, chain)
				if err != nil {
					t.Fatal(err)
				}
				c, err = constraints.EvaluateGEMMOp(ctx, g, op, *st.Mapping, f, cfg)
			} else {
				c, err = constraints.OperatorCost(ctx, g, op, st.Mapping, cfg)
			}
			if err != nil {
				t.Fatalf("step %s: %v", st.Name, err)
			}
			out[i] = model.Figures{LatencyCycles: c.LatencyCycles, DRAMBytes: c.DRAMBytes}
			continue
		}
		r := constraints.Residency{A: st.ResidentA, B: st.ResidentB, C: st.ResidentC, Reserved: live}
		res := st.Output
		if res == "" {
			res = op.Outputs[0]
		}
		c, err := constraints.GEMMStepResident(ctx, g, op, chain, *st.Mapping, cfg, r, homes.home(res))
		if err != nil {
			t.Fatalf("step %s: %v", st.Name, err)
		}
		out[i] = model.Figures{LatencyCycles: c.LatencyCycles, DRAMBytes: c.DRAMBytes}
	}
	return out
}

// TestResidentStridedCopy: a head split (TRANSPOSE) between two resident
// tensors goes through L2; jobs of unequal size (a partial last job per
// head) and more jobs than compute tiles must not share L2 buffers.
func TestResidentStridedCopy(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		cfg       string
		s, nh, dh int64
	}{
		{"datacenter", 64, 12, 64},
		{"datacenter", 32, 12, 64},
		{"edge_ai", 24, 4, 16},
		{"minimal", 10, 3, 8},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%dx%dx%d", tc.cfg, tc.s, tc.nh, tc.dh), func(t *testing.T) {
			b := &graphBuilder{}
			b.t("x", tc.s, tc.nh*tc.dh)
			b.op("pre", "RELU", []string{"x"}, b.t("q", tc.s, tc.nh*tc.dh), "")
			b.op("split", "RESHAPE", []string{"q"}, b.t("q3", tc.s, tc.nh, tc.dh), fmt.Sprintf(`"shape":[0,%d,%d]`, tc.nh, tc.dh))
			b.op("heads", "TRANSPOSE", []string{"q3"}, b.t("qh", tc.nh, tc.s, tc.dh), `"perm":[1,0,2]`)
			b.op("post", "RELU", []string{"qh"}, b.t("y", tc.nh, tc.s, tc.dh), "")
			g := b.graph(t, "heads")
			cfg := testConfig(t, tc.cfg)
			gs, err := search.Layerwise(ctx, g, cfg, search.LayerwiseOptions{Engine: "greedy"})
			if err != nil {
				t.Fatal(err)
			}
			n := tc.s * tc.nh * tc.dh * 4
			if 2*n > cfg.L3Bytes() || n > cfg.L3TileBytes {
				t.Fatalf("%d B tensors do not fit %s", n, cfg.Name)
			}
			gs.Resident = []model.ResidentTensor{
				{Tensor: "q", Aliases: []string{"q3"}, Bytes: n, First: 0, Last: 2, L3Offset: 0},
				{Tensor: "qh", Bytes: n, First: 2, Last: 3, L3Offset: (n + 63) / 64 * 64},
			}
			for i := range gs.Ops {
				st := &gs.Ops[i]
				switch st.Name {
				case "pre":
					st.ResidentOut = []string{"q"}
				case "heads":
					st.ResidentIn, st.ResidentOut = []string{"q3"}, []string{"qh"}
				case "post":
					st.ResidentIn = []string{"qh"}
				}
			}
			prog, err := LowerGraphSchedule(ctx, g, gs, cfg)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := verify.Program(ctx, prog, cfg, verify.Options{Seed: 4})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Verified || !rep.Functional {
				t.Fatalf("not verified (functional %v): %v", rep.Functional, rep.Reasons)
			}
			var exact model.Figures
			for _, c := range exactSteps(t, g, gs, cfg) {
				exact.LatencyCycles += c.LatencyCycles
				exact.DRAMBytes += c.DRAMBytes
			}
			if sim := rep.Simulated; sim.LatencyCycles != exact.LatencyCycles || sim.DRAMBytes != exact.DRAMBytes || exact.DRAMBytes != 2*n {
				t.Errorf("simulated %d cycles, %d DRAM bytes; exact %d, %d; want %d DRAM bytes", sim.LatencyCycles, sim.DRAMBytes, exact.LatencyCycles, exact.DRAMBytes, 2*n)
			}
		})
	}
}
