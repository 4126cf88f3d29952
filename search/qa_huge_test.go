package search

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// TestGreedyHugeDims is a regression test: the greedy heuristic (also the
// first step of the optimal engine) listed every (m, n, k) combination of
// the candidate tile sizes before checking capacities. On dims near 10^6
// that is over 10^8 tiles (gigabytes, minutes), and the heuristic does not
// see the context, so `kpuopt solve --time-limit 2s` hung. It must now
// answer quickly with a mapping that fits.
func TestGreedyHugeDims(t *testing.T) {
	for _, tc := range []struct {
		cfg     string
		m, n, k int64
	}{
		{"edge_ai", 1000000, 1000000, 1000000},
		{"datacenter", 1 << 20, 1 << 20, 1 << 20},
		{"minimal", 999983, 7, 1 << 20},
	} {
		cfg, err := kpu.Preset(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		p, err := constraints.NewProblem("huge", model.GEMMShape{Batch: 1, M: tc.m, N: tc.n, K: tc.k, DType: model.Float32})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		m, err := greedyMapping(p, cfg, constraints.Latency)
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s %dx%dx%d: greedy took %v, want well under 10 s", tc.cfg, tc.m, tc.n, tc.k, d)
		}
		if err != nil {
			t.Errorf("%s %dx%dx%d: greedy: %v", tc.cfg, tc.m, tc.n, tc.k, err)
			continue
		}
		if err := constraints.Check(p, m, cfg); err != nil {
			t.Errorf("%s %dx%dx%d: greedy mapping %+v does not fit: %v", tc.cfg, tc.m, tc.n, tc.k, m, err)
		}
	}
}

// TestExhaustiveStoppedKeepsBest is a regression test: the exhaustive
// engine starts at unit tiles, whose replays alone outlast a time limit on
// a real GEMM, so `kpuopt solve --search exhaustive` failed with "stopped
// before any mapping was found". Stopped early, it must return the best
// mapping it knows (at worst the greedy one, judged first), status
// feasible, and that mapping must fit.
func TestExhaustiveStoppedKeepsBest(t *testing.T) {
	for _, tc := range []struct {
		cfg     string
		m, n, k int64
	}{
		{"minimal", 256, 256, 128},
		{"edge_ai", 384, 256, 96},
	} {
		cfg, err := kpu.Preset(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		p, err := constraints.NewProblem("stopped", model.GEMMShape{Batch: 1, M: tc.m, N: tc.n, K: tc.k, DType: model.Float32})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		start := time.Now()
		res, err := Solve(ctx, "exhaustive", p, cfg, Options{Objective: constraints.Latency})
		cancel()
		t.Logf("%s %v: %v", tc.cfg, p, time.Since(start))
		if err != nil {
			t.Errorf("%s %v: %v", tc.cfg, p, err)
			continue
		}
		if res.Status != StatusFeasible || math.IsInf(res.Value, 1) {
			t.Errorf("%s %v: status %s value %v, want feasible with a value", tc.cfg, p, res.Status, res.Value)
		}
		if err := constraints.Check(p, res.Mapping, cfg); err != nil {
			t.Errorf("%s %v: mapping %+v does not fit: %v", tc.cfg, p, res.Mapping, err)
		}
	}
}
