package graph

import (
	"context"
	"testing"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints"
)

// TestSeededSchedules: with the per-operator optimum as a seed (searched once
// per shape through a shared cache), the joint schedule is never worse than
// the layerwise one and every invariant holds.
func TestSeededSchedules(t *testing.T) {
	g := load(t, "mlp.json")
	for _, cn := range []string{"minimal", "edge_ai"} {
		cfg := preset(t, cn)
		cache := &Cache{}
		for _, o := range []constraints.Objective{constraints.Latency, constraints.Energy, constraints.Traffic, constraints.EDP} {
			opts := Options{Objective: o, Candidates: small, SeedTime: 50 * time.Millisecond, Cache: cache}
			opts.Mode = ModeLayerwise
			lw, err := Solve(context.Background(), g, cfg, opts)
			if err != nil {
				t.Fatal(err)
			}
			opts.Mode = ModeOptimal
			jt, err := Solve(context.Background(), g, cfg, opts)
			if err != nil {
				t.Fatal(err)
			}
			name := "mlp " + cn + " " + string(o)
			if v, w := value(jt.Predicted, o), value(lw.Predicted, o); v > w*(1+1e-12) {
				t.Errorf("%s: joint %.6g worse than layerwise %.6g", name, v, w)
			}
			checkSchedule(t, name+" layerwise", lw, cfg)
			checkSchedule(t, name+" joint", jt, cfg)
		}
	}
}
