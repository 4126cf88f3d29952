package lowering

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/model"
	"github.com/stillwater-sc/kpuopt/search"
	"github.com/stillwater-sc/kpuopt/verify"
)

type convCase struct {
	name        string
	typ         string
	x, w, y     []int64
	bias        bool
	dtype, outT string
	attrs       string
}

func (c convCase) graph(t testing.TB) *model.Graph {
	t.Helper()
	ts := fmt.Sprintf(`"x":{"shape":%s,"dtype":%q},"w":{"shape":%s,"dtype":%q},"y":{"shape":%s,"dtype":%q}`,
		js(c.x), c.dtype, js(c.w), c.dtype, js(c.y), c.outT)
	ins := `"x","w"`
	if c.bias {
		ts += fmt.Sprintf(`,"b":{"shape":[%d],"dtype":%q}`, c.w[0], c.outT)
		ins += `,"b"`
	}
	src := fmt.Sprintf(`{"name":%q,"tensors":{%s},"operators":[{"name":"conv","type":%q,"inputs":[%s],"outputs":["y"],"attributes":{%s}}]}`,
		c.name, ts, c.typ, ins, c.attrs)
	g, err := model.Parse([]byte(src), c.name)
	if err != nil {
		t.Fatalf("%s: parse: %v", c.name, err)
	}
	return g
}

var convCases = []convCase{
	{name: "conv3x3_f32", typ: "CONV2D", x: []int64{1, 3, 8, 8}, w: []int64{4, 3, 3, 3}, y: []int64{1, 4, 6, 6}, dtype: "float32", outT: "float32", attrs: `"kernel_shape":[3,3]`},
	{name: "conv_s2_d2_g2_f32", typ: "CONV2D", x: []int64{2, 4, 11, 9}, w: []int64{6, 2, 3, 3}, y: []int64{2, 6, 4, 3}, dtype: "float32", outT: "float32", attrs: `"kernel_shape":[3,3],"strides":[2,2],"dilations":[2,2],"group":2`},
	{name: "conv1x1_i8", typ: "CONV2D", x: []int64{1, 8, 5, 5}, w: []int64{16, 8, 1, 1}, y: []int64{1, 16, 5, 5}, dtype: "int8", outT: "int32", attrs: `"kernel_shape":[1,1]`},
	{name: "conv_pad_f32", typ: "CONV2D", x: []int64{1, 3, 8, 8}, w: []int64{4, 3, 3, 3}, y: []int64{1, 4, 8, 8}, dtype: "float32", outT: "float32", attrs: `"kernel_shape":[3,3],"pads":[1,1,1,1]`},
	{name: "conv7x7_s2_pad_f32", typ: "CONV2D", x: []int64{1, 3, 16, 16}, w: []int64{8, 3, 7, 7}, y: []int64{1, 8, 8, 8}, dtype: "float32", outT: "float32", attrs: `"kernel_shape":[7,7],"strides":[2,2],"pads":[3,3,3,3]`},
	{name: "depthwise_pad_f16", typ: "CONV2D_DEPTHWISE", x: []int64{1, 4, 7, 7}, w: []int64{4, 1, 3, 3}, y: []int64{1, 4, 7, 7}, dtype: "float16", outT: "float32", attrs: `"kernel_shape":[3,3],"pads":[1,1,1,1],"group":4`},
	{name: "conv_asym_pad_bf16", typ: "CONV2D", x: []int64{2, 2, 5, 6}, w: []int64{3, 2, 3, 2}, y: []int64{2, 3, 4, 6}, dtype: "bfloat16", outT: "float32", attrs: `"kernel_shape":[3,2],"pads":[0,1,1,0],"strides":[1,1]`},
	{name: "conv_bias_f32", typ: "CONV2D", x: []int64{2, 3, 7, 6}, w: []int64{5, 3, 2, 2}, y: []int64{2, 5, 6, 5}, bias: true, dtype: "float32", outT: "float32", attrs: `"kernel_shape":[2,2]`},
}

// solveGEMM finds the optimal mapping of a GEMM-like operator's GEMM view.
func solveGEMM(t testing.TB, g *model.Graph, op *model.Operator, cfgName string) (constraints.Problem, model.Mapping) {
	t.Helper()
	cfg := testConfig(t, cfgName)
	shape, _, err := g.GEMM(op)
	if err != nil {
		t.Fatal(err)
	}
	p, err := constraints.NewProblem(op.Name, shape)
	if err != nil {
		t.Fatal(err)
	}
	res, err := search.Solve(context.Background(), "greedy", p, cfg, search.Options{})
	if err != nil || res.Status == search.StatusInfeasible {
		t.Fatalf("solve %s on %s: %v %v", op.Name, cfgName, err, res.Err)
	}
	return p, res.Mapping
}

// TestConv lowers convolutions as implicit GEMMs and checks numerics against
// model.Evaluate and the predicted cost (EvaluateConv) against the simulator.
func TestConv(t *testing.T) {
	ctx := context.Background()
	for _, cfgName := range []string{"minimal", "edge_ai", "datacenter", "../testdata/configs/tiny.json"} {
		cfg := testConfig(t, cfgName)
		for _, c := range convCases {
			t.Run(cfg.Name+"/"+c.name, func(t *testing.T) {
				g := c.graph(t)
				op := g.Operators[0]
				_, m := solveGEMM(t, g, op, cfgName)
				prog, err := LowerGraph(ctx, g, Schedule{op.Name: m}, cfg)
				if err != nil {
					t.Fatalf("lower: %v", err)
				}
				opts := verify.Options{Seed: 3}
				var pred *constraints.Cost
				if !c.bias {
					cv, err := constraints.NewConv(g, op)
					if err != nil {
						t.Fatal(err)
					}
					cost, err := constraints.EvaluateConv(ctx, cv, m, cfg)
					if err != nil {
						t.Fatal(err)
					}
					pred = cost
				}
				rep, err := verify.Program(ctx, prog, cfg, opts)
				if err != nil {
					t.Fatalf("verify: %v", err)
				}
				if !rep.Verified || !rep.Functional {
					t.Fatalf("mapping %+v: not verified (functional %v): %v", m, rep.Functional, rep.Reasons)
				}
				// Latency and DRAM bytes are exact; energy within the fidelity
				// bound (the fabric's L1 reads are counted per pass by the
				// simulator, per tile by the GEMM cost model).
				if pred != nil {
					sim := rep.Simulated
					if pred.LatencyCycles != sim.LatencyCycles || pred.DRAMBytes != sim.DRAMBytes {
						t.Errorf("predicted %d cycles, %d DRAM bytes; simulated %d, %d", pred.LatencyCycles, pred.DRAMBytes, sim.LatencyCycles, sim.DRAMBytes)
					}
					if d := math.Abs(pred.EnergyPJ-sim.EnergyPJ) / sim.EnergyPJ; d > verify.DefaultFidelity {
						t.Errorf("predicted energy %g, simulated %g (%.2f%%)", pred.EnergyPJ, sim.EnergyPJ, 100*d)
					}
				}
			})
		}
	}
}
