package lowering

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
	"github.com/stillwater-sc/kpuopt/verify"
)

const chainGraph = `{"name":"chain","tensors":{
 "A":{"shape":[20,16],"dtype":"float32"},"B":{"shape":[16,12],"dtype":"float32"},"C":{"shape":[20,12],"dtype":"float32"},
 "D":{"shape":[12,8],"dtype":"float32"},"E":{"shape":[20,8],"dtype":"float32"},"F":{"shape":[20,8],"dtype":"float32"}},
 "operators":[
 {"name":"mm1","type":"MATMUL","inputs":["A","B"],"outputs":["C"]},
 {"name":"mm2","type":"LINEAR","inputs":["C","D"],"outputs":["E"]},
 {"name":"act","type":"RELU","inputs":["E"],"outputs":["F"]}]}`

// TestLowerChain: two GEMMs in a row, the second reading the first's output;
// the program's latency is the sum of the operators' predictions.
func TestLowerChain(t *testing.T) {
	ctx := context.Background()
	full, err := model.Parse([]byte(chainGraph), "chain.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := kpu.Preset("edge_ai")
	if err != nil {
		t.Fatal(err)
	}
	m1 := model.Mapping{L3: model.Tile{M: 20, N: 12, K: 8}, L2: model.Tile{M: 10, N: 12, K: 8}, L3Order: "mnk", L2Order: "mnk",
		Split: model.Split{M: 2, N: 1, K: 1}, L3Buffers: model.Buffers{A: 2, B: 2, C: 1}, L2Buffers: model.Buffers{A: 2, B: 2, C: 1}}
	m2 := model.Mapping{L3: model.Tile{M: 8, N: 8, K: 12}, L2: model.Tile{M: 8, N: 8, K: 6}, L3Order: "nmk", L2Order: "mnk",
		Split: model.Split{M: 1, N: 1, K: 1}, L3Buffers: model.Buffers{A: 2, B: 1, C: 2}, L2Buffers: model.Buffers{A: 2, B: 2, C: 1}}
	sched := Schedule{"mm1": m1, "mm2": m2}

	// the RELU is not a GEMM: Lower refuses it ...
	_, err = Lower(ctx, full, sched, cfg)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `operator "act" (RELU)`) {
		t.Fatalf("graph with RELU: %v", err)
	}
	// ... and hands it to Options.Other
	var seen []string
	_, err = LowerWith(ctx, full, sched, cfg, Options{Other: func(ctx context.Context, b *Builder, g *model.Graph, op *model.Operator) error {
		seen = append(seen, op.Name)
		if len(b.ReadDeps("E")) == 0 {
			t.Errorf("no writer recorded for E")
		}
		return nil
	}})
	if err != nil || len(seen) != 1 || seen[0] != "act" {
		t.Fatalf("LowerWith: %v, hook saw %v", err, seen)
	}
	// a missing mapping is an error naming the operator
	if _, err := Lower(ctx, full, Schedule{"mm1": m1}, cfg); err == nil || !strings.Contains(err.Error(), `"mm2" (LINEAR) has no mapping`) {
		t.Errorf("missing mapping: %v", err)
	}

	// the two GEMMs alone
	gemms, err := model.Parse([]byte(strings.Replace(strings.Replace(chainGraph, `,
 {"name":"act","type":"RELU","inputs":["E"],"outputs":["F"]}`, "", 1), `,"F":{"shape":[20,8],"dtype":"float32"}`, "", 1)), "chain.json")
	if err != nil {
		t.Fatal(err)
	}
	prog, err := Lower(ctx, gemms, sched, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var pred verify.Figures
	for _, op := range gemms.Operators {
		shape, _, _ := gemms.GEMM(op)
		p, _ := constraints.NewProblem(op.Name, shape)
		c, err := constraints.Evaluate(ctx, p, sched[op.Name], cfg)
		if err != nil {
			t.Fatal(err)
		}
		pred.LatencyCycles += c.LatencyCycles
		pred.DRAMBytes += c.DRAMBytes
		pred.EnergyPJ += c.EnergyPJ
	}
	rep, err := verify.Program(ctx, prog, cfg, verify.Options{Seed: 2, Predicted: &pred})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Verified || !rep.Functional || rep.Simulated.LatencyCycles != pred.LatencyCycles || rep.Simulated.DRAMBytes != pred.DRAMBytes {
		t.Errorf("chain: simulated %+v, predicted %+v: %v", rep.Simulated, pred, rep.Reasons)
	}
}

func TestBuilderPlaceTensor(t *testing.T) {
	cfg, _ := kpu.Preset("minimal")
	cfg.DRAMChannels, cfg.DRAMChannelBytes = 2, 1000
	b, err := NewBuilder("t", nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	x, err := b.PlaceTensor("x", []int64{10, 10}, model.Float32, true) // 400 bytes
	if err != nil || x.Channel != 0 || x.Addr != 0 {
		t.Fatalf("x: %+v %v", x, err)
	}
	y, err := b.PlaceTensor("y", []int64{2, 3, 4, 5}, model.Int8, false) // 120 bytes, folded to [6 4 5]
	if err != nil || y.Channel != 0 || y.Addr != 448 || len(y.Shape) != 3 || y.Shape[0] != 6 {
		t.Fatalf("y: %+v %v", y, err)
	}
	z, err := b.PlaceTensor("z", []int64{200}, model.Float32, false) // 800 bytes: channel 1
	if err != nil || z.Channel != 1 || z.Addr != 0 {
		t.Fatalf("z: %+v %v", z, err)
	}
	if again, err := b.PlaceTensor("x", []int64{10, 10}, model.Float32, true); err != nil || again.Addr != x.Addr || again.Channel != x.Channel {
		t.Errorf("x again: %+v %v", again, err)
	}
	if _, err := b.PlaceTensor("x", []int64{10, 11}, model.Float32, true); err == nil {
		t.Error("x with another shape: no error")
	}
	if _, err := b.PlaceTensor("w", []int64{300}, model.Float32, false); err == nil || !strings.Contains(err.Error(), "no DRAM channel has room") {
		t.Errorf("too big: %v", err)
	}
}
