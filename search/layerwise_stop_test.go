package search

import (
	"context"
	"testing"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// TestLayerwiseStopped: a layerwise solve whose context is already done
// still schedules every operator (the kpusim rule's mapping, priced
// exactly) with status feasible, for every engine.
func TestLayerwiseStopped(t *testing.T) {
	g, err := model.LoadFile("../testdata/resnet_block.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := kpu.Resolve("edge_ai")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, engine := range []string{"optimal", "exhaustive", "greedy"} {
		t.Run(engine, func(t *testing.T) {
			gs, err := Layerwise(ctx, g, cfg, LayerwiseOptions{Engine: engine})
			if err != nil {
				t.Fatalf("a stopped solve must return a schedule: %v", err)
			}
			if gs.Status != StatusFeasible || len(gs.Ops) != len(g.Operators) {
				t.Fatalf("status %q, %d steps for %d operators", gs.Status, len(gs.Ops), len(g.Operators))
			}
			var sum int64
			for i, st := range gs.Ops {
				op := g.Operators[i]
				if (st.Mapping != nil) != op.Type.IsGEMMLike() {
					t.Fatalf("step %s: mapping %v", st.Name, st.Mapping != nil)
				}
				c, err := constraints.OperatorCost(context.Background(), g, op, st.Mapping, cfg)
				if err != nil {
					t.Fatal(err)
				}
				if c.LatencyCycles != st.Predicted.LatencyCycles {
					t.Errorf("step %s: predicted %d cycles, exact %d", st.Name, st.Predicted.LatencyCycles, c.LatencyCycles)
				}
				sum += c.LatencyCycles
			}
			if sum != gs.Predicted.LatencyCycles {
				t.Errorf("total %d, sum of steps %d", gs.Predicted.LatencyCycles, sum)
			}
		})
	}
}
