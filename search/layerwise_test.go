package search

import (
	"context"
	"testing"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

func TestLayerwiseSums(t *testing.T) {
	g, err := model.LoadFile("../testdata/mlp.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := kpu.Resolve("edge_ai")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, obj := range []constraints.Objective{constraints.Latency, constraints.Traffic} {
		gs, err := Layerwise(ctx, g, cfg, LayerwiseOptions{Engine: "greedy", Objective: obj})
		if err != nil {
			t.Fatal(err)
		}
		if len(gs.Ops) != len(g.Operators) {
			t.Fatalf("%d steps for %d operators", len(gs.Ops), len(g.Operators))
		}
		var sum model.Figures
		for i, st := range gs.Ops {
			op := g.Operators[i]
			if st.Name != op.Name || (st.Mapping != nil) != op.Type.IsGEMMLike() {
				t.Fatalf("step %d: %s (mapping %v) for operator %s (%s)", i, st.Name, st.Mapping != nil, op.Name, op.Type)
			}
			c, err := constraints.OperatorCost(ctx, g, op, st.Mapping, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := (model.Figures{LatencyCycles: c.LatencyCycles, EnergyPJ: c.EnergyPJ, DRAMBytes: c.DRAMBytes}); got != st.Predicted {
				t.Errorf("step %s: predicted %+v, OperatorCost %+v", st.Name, st.Predicted, got)
			}
			sum.LatencyCycles += st.Predicted.LatencyCycles
			sum.DRAMBytes += st.Predicted.DRAMBytes
		}
		if sum.LatencyCycles != gs.Predicted.LatencyCycles || sum.DRAMBytes != gs.Predicted.DRAMBytes {
			t.Errorf("total %+v, sum of steps %+v", gs.Predicted, sum)
		}
		if gs.Bound.LatencyCycles <= 0 || gs.Bound.LatencyCycles > gs.Predicted.LatencyCycles || gs.Bound.DRAMBytes > gs.Predicted.DRAMBytes {
			t.Errorf("bound %+v exceeds predicted %+v", gs.Bound, gs.Predicted)
		}
		if gs.Gap < 0 || gs.Gap >= 1 || gs.Objective != string(obj) {
			t.Errorf("gap %v, objective %q", gs.Gap, gs.Objective)
		}
	}
	// a cancelled solve still schedules every operator (TestLayerwiseStopped)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if gs, err := Layerwise(cancelled, g, cfg, LayerwiseOptions{Engine: "greedy"}); err != nil || gs.Status != StatusFeasible {
		t.Errorf("cancelled: got %v", err)
	}
}
