package lowering

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
	"github.com/stillwater-sc/kpuopt/search"
	"github.com/stillwater-sc/kpuopt/verify"
)

// scheduleFor maps every GEMM-like operator of g with the named search engine.
func scheduleFor(t testing.TB, g *model.Graph, cfg *kpu.Config, engine string) Schedule {
	t.Helper()
	s := Schedule{}
	for _, op := range g.Operators {
		shape, ok, err := g.GEMM(op)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			continue
		}
		p, err := constraints.NewProblem(op.Name, shape)
		if err != nil {
			t.Fatal(err)
		}
		res, err := search.Solve(context.Background(), engine, p, cfg, search.Options{})
		if err != nil || res.Status == search.StatusInfeasible {
			t.Fatalf("%s: solve %s: %v %v", op.Name, engine, err, res.Err)
		}
		s[op.Name] = res.Mapping
	}
	return s
}

// graphBuilder writes small float32 graphs in kpu-sim's format.
type graphBuilder struct {
	tensors, ops []string
}

func (b *graphBuilder) t(name string, shape ...int64) string {
	b.tensors = append(b.tensors, fmt.Sprintf("%q:{\"shape\":%s,\"dtype\":\"float32\"}", name, js(shape)))
	return name
}

func (b *graphBuilder) op(name, typ string, ins []string, out, attrs string) {
	q := make([]string, len(ins))
	for i, s := range ins {
		q[i] = fmt.Sprintf("%q", s)
	}
	a := ""
	if attrs != "" {
		a = ",\"attributes\":{" + attrs + "}"
	}
	b.ops = append(b.ops, fmt.Sprintf("{\"name\":%q,\"type\":%q,\"inputs\":[%s],\"outputs\":[%q]%s}", name, typ, strings.Join(q, ","), out, a))
}

func (b *graphBuilder) graph(t testing.TB, name string) *model.Graph {
	t.Helper()
	src := fmt.Sprintf(`{"name":%q,"tensors":{%s},"operators":[%s]}`, name, strings.Join(b.tensors, ","), strings.Join(b.ops, ","))
	g, err := model.Parse([]byte(src), name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return g
}

// resnetBlock is a bottleneck with a strided projection shortcut, a stem
// conv and max pool in front and global average pool + FC behind: every
// ResNet-50 operator type at a small size.
func resnetBlock(t testing.TB) *model.Graph {
	b := &graphBuilder{}
	x := b.t("x", 1, 3, 12, 12)
	b.t("w0", 8, 3, 3, 3)
	b.t("b0", 8)
	b.op("stem", "CONV2D", []string{x, "w0", "b0"}, b.t("c0", 1, 8, 12, 12), `"kernel_shape":[3,3],"pads":[1,1,1,1]`)
	b.op("stem_relu", "RELU", []string{"c0"}, b.t("r0", 1, 8, 12, 12), "")
	b.op("pool", "MAXPOOL", []string{"r0"}, b.t("p0", 1, 8, 6, 6), `"kernel_shape":[3,3],"strides":[2,2],"pads":[1,1,1,1]`)
	b.t("w1", 4, 8, 1, 1)
	b.t("b1", 4)
	b.op("c1", "CONV2D", []string{"p0", "w1", "b1"}, b.t("h1", 1, 4, 6, 6), `"kernel_shape":[1,1]`)
	b.op("relu1", "RELU", []string{"h1"}, b.t("a1", 1, 4, 6, 6), "")
	b.t("w2", 4, 4, 3, 3)
	b.t("b2", 4)
	b.op("c2", "CONV2D", []string{"a1", "w2", "b2"}, b.t("h2", 1, 4, 3, 3), `"kernel_shape":[3,3],"strides":[2,2],"pads":[1,1,1,1]`)
	b.op("relu2", "RELU", []string{"h2"}, b.t("a2", 1, 4, 3, 3), "")
	b.t("w3", 16, 4, 1, 1)
	b.t("b3", 16)
	b.op("c3", "CONV2D", []string{"a2", "w3", "b3"}, b.t("h3", 1, 16, 3, 3), `"kernel_shape":[1,1]`)
	b.t("wd", 16, 8, 1, 1)
	b.t("bd", 16)
	b.op("down", "CONV2D", []string{"p0", "wd", "bd"}, b.t("sc", 1, 16, 3, 3), `"kernel_shape":[1,1],"strides":[2,2]`)
	b.op("add", "ADD", []string{"h3", "sc"}, b.t("s", 1, 16, 3, 3), "")
	b.op("relu3", "RELU", []string{"s"}, b.t("y", 1, 16, 3, 3), "")
	b.op("gap", "AVGPOOL", []string{"y"}, b.t("g", 1, 16, 1, 1), `"kernel_shape":[3,3]`)
	b.op("flat", "RESHAPE", []string{"g"}, b.t("f", 1, 16), `"shape":[1,16]`)
	b.t("wf", 16, 10)
	b.t("bf", 10)
	b.op("fc", "LINEAR", []string{"f", "wf", "bf"}, b.t("logits", 1, 10), "")
	return b.graph(t, "resnet_block_small")
}

// attention is one encoder layer at a small size: projections, heads split
// by RESHAPE + TRANSPOSE, Q x K^T (transpose_b), scale, softmax, P x V, heads
// merged, output projection, residual, layernorm, FFN with GELU.
func attention(t testing.TB) *model.Graph {
	const s, h, nh, dh, ff = 8, 16, 2, 8, 32
	b := &graphBuilder{}
	x := b.t("x", s, h)
	heads := func(p string) string {
		b.t("W"+p, h, h)
		b.t("b"+p, h)
		b.op(p+"_proj", "LINEAR", []string{x, "W" + p, "b" + p}, b.t(p, s, h), "")
		b.op(p+"_split", "RESHAPE", []string{p}, b.t(p+"3", s, nh, dh), fmt.Sprintf(`"shape":[0,%d,%d]`, nh, dh))
		b.op(p+"_heads", "TRANSPOSE", []string{p + "3"}, b.t(p+"h", nh, s, dh), `"perm":[1,0,2]`)
		return p + "h"
	}
	q, k, v := heads("q"), heads("k"), heads("v")
	b.op("qk", "MATMUL", []string{q, k}, b.t("scores", nh, s, s), `"transpose_b":true`)
	b.op("scale_scores", "MUL", []string{"scores", b.t("scale", 1)}, b.t("scaled", nh, s, s), "")
	b.op("softmax", "SOFTMAX", []string{"scaled"}, b.t("probs", nh, s, s), `"axis":-1`)
	b.op("pv", "MATMUL", []string{"probs", v}, b.t("ctx_h", nh, s, dh), "")
	b.op("merge_heads", "TRANSPOSE", []string{"ctx_h"}, b.t("ctx3", s, nh, dh), `"perm":[1,0,2]`)
	b.op("merge", "RESHAPE", []string{"ctx3"}, b.t("ctx", s, h), fmt.Sprintf(`"shape":[%d,-1]`, s))
	b.t("Wo", h, h)
	b.t("bo", h)
	b.op("out_proj", "LINEAR", []string{"ctx", "Wo", "bo"}, b.t("attn", s, h), "")
	b.op("residual", "ADD", []string{x, "attn"}, b.t("res", s, h), "")
	b.t("g1", h)
	b.t("be1", h)
	b.op("ln", "LAYERNORM", []string{"res", "g1", "be1"}, b.t("ln1", s, h), `"axis":-1`)
	b.t("W1", h, ff)
	b.t("bf1", ff)
	b.op("ffn1", "LINEAR", []string{"ln1", "W1", "bf1"}, b.t("ff1", s, ff), "")
	b.op("gelu", "GELU", []string{"ff1"}, b.t("act", s, ff), "")
	b.t("W2", ff, h)
	b.op("ffn2", "LINEAR", []string{"act", "W2"}, b.t("y", s, h), "")
	return b.graph(t, "attention_small")
}

// TestWholeGraphs lowers whole graphs into one program each, checks every
// final output against model.Evaluate on the simulator, and checks that the
// simulated latency and DRAM bytes are the sums of the operators' exact
// costs (operators run one after the other behind the fence).
func TestWholeGraphs(t *testing.T) {
	ctx := context.Background()
	mlp, err := model.LoadFile("../testdata/mlp.json")
	if err != nil {
		t.Fatal(err)
	}
	graphs := []*model.Graph{mlp, resnetBlock(t), attention(t)}
	for _, cfgName := range []string{"minimal", "edge_ai", "datacenter", "../testdata/configs/tiny.json"} {
		cfg := testConfig(t, cfgName)
		for _, g := range graphs {
			t.Run(cfg.Name+"/"+g.Name, func(t *testing.T) {
				sched := scheduleFor(t, g, cfg, "greedy")
				prog, err := LowerGraph(ctx, g, sched, cfg)
				if err != nil {
					t.Fatalf("lower: %v", err)
				}
				var want constraints.Cost
				for _, op := range g.Operators {
					var m *model.Mapping
					if mm, ok := sched[op.Name]; ok {
						m = &mm
					}
					c, err := constraints.OperatorCost(ctx, g, op, m, cfg)
					if err != nil {
						t.Fatalf("cost of %s: %v", op.Name, err)
					}
					want.LatencyCycles += c.LatencyCycles
					want.DRAMBytes += c.DRAMBytes
				}
				rep, err := verify.Program(ctx, prog, cfg, verify.Options{Seed: 11})
				if err != nil {
					t.Fatalf("verify: %v", err)
				}
				if !rep.Verified || !rep.Functional {
					t.Fatalf("not verified (functional %v): %v", rep.Functional, rep.Reasons)
				}
				if sim := rep.Simulated; sim.LatencyCycles != want.LatencyCycles || sim.DRAMBytes != want.DRAMBytes {
					t.Errorf("simulated %d cycles, %d DRAM bytes; sum of operator costs %d, %d", sim.LatencyCycles, sim.DRAMBytes, want.LatencyCycles, want.DRAMBytes)
				}
				if len(rep.Outputs) != len(g.Outputs()) {
					t.Fatalf("%d outputs checked, graph has %d", len(rep.Outputs), len(g.Outputs()))
				}
			})
		}
	}
}

// TestLayerwise solves small graphs layerwise, lowers the schedule and checks
// that the prediction is what the simulator measures and the numbers match.
func TestLayerwise(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, "edge_ai")
	for _, g := range []*model.Graph{resnetBlock(t), attention(t)} {
		gs, err := search.Layerwise(ctx, g, cfg, search.LayerwiseOptions{Engine: "greedy"})
		if err != nil {
			t.Fatalf("%s: %v", g.Name, err)
		}
		if len(gs.Ops) != len(g.Operators) || gs.Mode != "layerwise" || gs.Status != search.StatusFeasible {
			t.Fatalf("%s: %d steps, mode %q, status %q", g.Name, len(gs.Ops), gs.Mode, gs.Status)
		}
		if gs.Bound.LatencyCycles <= 0 || gs.Bound.LatencyCycles > gs.Predicted.LatencyCycles || gs.Bound.DRAMBytes > gs.Predicted.DRAMBytes {
			t.Errorf("%s: bound %+v vs predicted %+v", g.Name, gs.Bound, gs.Predicted)
		}
		prog, err := LowerGraphSchedule(ctx, g, gs, cfg)
		if err != nil {
			t.Fatalf("%s: lower: %v", g.Name, err)
		}
		rep, err := verify.Program(ctx, prog, cfg, verify.Options{Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Verified {
			t.Fatalf("%s: %v", g.Name, rep.Reasons)
		}
		if sim := rep.Simulated; sim.LatencyCycles != gs.Predicted.LatencyCycles || sim.DRAMBytes != gs.Predicted.DRAMBytes {
			t.Errorf("%s: simulated %+v, predicted %+v", g.Name, *sim, gs.Predicted)
		}
	}
}

// TestFusedSchedule fuses every RELU that directly follows a GEMM-like
// operator into it (with the GEMM's bias), lowers the schedule and checks
// the numbers and that the simulated cost is the sum of the steps' exact
// costs.
func TestFusedSchedule(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, "edge_ai")
	g := resnetBlock(t)
	gs, err := search.Layerwise(ctx, g, cfg, search.LayerwiseOptions{Engine: "greedy"})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*model.Operator{}
	for _, op := range g.Operators {
		byName[op.Name] = op
	}
	var steps []model.ScheduledOp
	var want model.Figures
	fusedAny := false
	for i := 0; i < len(gs.Ops); i++ {
		st := gs.Ops[i]
		op := byName[st.Name]
		var c *constraints.Cost
		if st.Mapping != nil && i+1 < len(gs.Ops) && gs.Ops[i+1].Type == model.OpRelu && byName[gs.Ops[i+1].Name].Inputs[0] == op.Outputs[0] {
			st.FusedOps = []string{gs.Ops[i+1].Name}
			st.Output = byName[gs.Ops[i+1].Name].Outputs[0]
			f, err := constraints.NewFused(g, op, []*model.Operator{byName[gs.Ops[i+1].Name]})
			if err != nil {
				t.Fatal(err)
			}
			if c, err = constraints.EvaluateGEMMOp(ctx, g, op, *st.Mapping, f, cfg); err != nil {
				t.Fatal(err)
			}
			i++
			fusedAny = true
		} else if c, err = constraints.OperatorCost(ctx, g, op, st.Mapping, cfg); err != nil {
			t.Fatal(err)
		}
		want.LatencyCycles += c.LatencyCycles
		want.DRAMBytes += c.DRAMBytes
		steps = append(steps, st)
	}
	if !fusedAny {
		t.Fatal("nothing fused")
	}
	gs.Ops = steps
	prog, err := LowerGraphSchedule(ctx, g, gs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Program(ctx, prog, cfg, verify.Options{Seed: 13})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Verified || !rep.Functional {
		t.Fatalf("not verified: %v", rep.Reasons)
	}
	if sim := rep.Simulated; sim.LatencyCycles != want.LatencyCycles || sim.DRAMBytes != want.DRAMBytes {
		t.Errorf("simulated %+v, sum of step costs %+v", *sim, want)
	}
	if rep.Simulated.DRAMBytes >= gs.Predicted.DRAMBytes {
		t.Errorf("fusion moved %d DRAM bytes, layerwise %d", rep.Simulated.DRAMBytes, gs.Predicted.DRAMBytes)
	}
}

// TestResidentInDRAM: a schedule whose resident tensor has no planned L3
// home is rejected, or lowered with its resident tensors kept in DRAM on
// request.
func TestResidentInDRAM(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, "edge_ai")
	g := attention(t)
	gs, err := search.Layerwise(ctx, g, cfg, search.LayerwiseOptions{Engine: "greedy"})
	if err != nil {
		t.Fatal(err)
	}
	gs.Resident = []model.ResidentTensor{{Tensor: "scores", Bytes: g.Tensors["scores"].Bytes(), First: 9, Last: 10, L3Offset: -1}}
	for i := range gs.Ops {
		if gs.Ops[i].Name == "qk" {
			gs.Ops[i].ResidentC = true
		}
	}
	if _, err := LowerGraphSchedule(ctx, g, gs, cfg); err == nil || !strings.Contains(err.Error(), "has no L3 offset") {
		t.Fatalf("resident schedule: got %v", err)
	}
	prog, err := LowerGraphScheduleWith(ctx, g, gs, cfg, ScheduleOptions{ResidentInDRAM: true})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Program(ctx, prog, cfg, verify.Options{Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Verified || !rep.Functional {
		t.Fatalf("not verified: %v", rep.Reasons)
	}
}
