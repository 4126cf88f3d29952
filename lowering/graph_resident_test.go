package lowering

import (
	"context"
	"math"
	"testing"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
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
