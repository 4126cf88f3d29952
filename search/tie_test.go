package search

import (
	"context"
	"testing"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// TestTrafficTieBreak is a regression test: DRAM traffic and energy do not
// depend on the L2 tile, so many mappings tie; the search used to keep the
// first, a unit L2 tile whose command stream (billions of commands) the final
// replay could not finish. Among tied optima the one with the smaller
// latency bound must win, and it must be cheap to replay.
func TestTrafficTieBreak(t *testing.T) {
	for _, tc := range []struct {
		cfg string
		obj constraints.Objective
	}{
		{"edge_ai", constraints.Traffic},
		{"minimal", constraints.Traffic},
		{"edge_ai", constraints.Energy},
	} {
		cfg, err := kpu.Preset(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		p, err := constraints.NewProblem("mm", model.GEMMShape{Batch: 1, M: 1024, N: 1024, K: 512, DType: model.Float32})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Solve(context.Background(), "optimal", p, cfg, Options{Objective: tc.obj})
		if err != nil {
			t.Fatalf("%s %s: %v", tc.cfg, tc.obj, err)
		}
		if res.Status != StatusOptimal {
			t.Errorf("%s %s: status %s, want optimal", tc.cfg, tc.obj, res.Status)
		}
		l2 := res.Mapping.L2
		if l2.M*l2.N < int64(cfg.ArrayRows*cfg.ArrayCols) || res.Cost.Commands > 1<<20 {
			t.Errorf("%s %s: L2 tile %dx%dx%d, %d commands: want at least one array pass per L2 step and a short stream",
				tc.cfg, tc.obj, l2.M, l2.N, l2.K, res.Cost.Commands)
		}
	}
}
