package search

import (
	"context"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/model"
)

// TestOptimalDeterministicAcrossWorkers: the parallel judging of the
// candidates returns the same mapping and value with one worker and with
// several (ties are broken by candidate order, not by timing).
func TestOptimalDeterministicAcrossWorkers(t *testing.T) {
	cases := []struct {
		cfg     string
		m, n, k int64
	}{
		{"edge_ai", 64, 96, 80},
		{"edge_ai", 1, 512, 384},
		{"minimal", 37, 29, 41},
		{"datacenter", 49, 256, 128},
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, c := range cases {
		cfg := preset(t, c.cfg)
		p := constraints.Problem{Name: "t", Batch: 1, M: c.m, N: c.n, K: c.k, DType: model.Float32}
		var got [2]*Result
		for i, procs := range []int{1, 4} {
			runtime.GOMAXPROCS(procs)
			r, err := Solve(context.Background(), "optimal", p, cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != StatusOptimal {
				t.Fatalf("%s %dx%dx%d: status %s", c.cfg, c.m, c.n, c.k, r.Status)
			}
			got[i] = r
		}
		if got[0].Value != got[1].Value {
			t.Errorf("%s %dx%dx%d: value %v with 1 worker, %v with 4", c.cfg, c.m, c.n, c.k, got[0].Value, got[1].Value)
		}
		if diff := cmp.Diff(got[0].Mapping, got[1].Mapping); diff != "" {
			t.Errorf("%s %dx%dx%d: mapping differs (-1 worker +4):\n%s", c.cfg, c.m, c.n, c.k, diff)
		}
	}
}

// TestStoppedEnginesReturnAMapping: every engine stopped by its deadline
// before it has judged anything still returns a legal mapping (a heuristic's,
// replayed to the end), status feasible, never an error.
func TestStoppedEnginesReturnAMapping(t *testing.T) {
	cfg := preset(t, "datacenter")
	p := constraints.Problem{Name: "t", Batch: 1, M: 4096, N: 4096, K: 4096, DType: model.Float32}
	for _, e := range []string{"optimal", "exhaustive", "sat", "kpusim", "greedy"} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		<-ctx.Done()
		r, err := Solve(ctx, e, p, cfg, Options{})
		cancel()
		if err != nil {
			t.Errorf("%s: %v", e, err)
			continue
		}
		if r.Status != StatusFeasible || r.Cost == nil || math.IsInf(r.Value, 0) {
			t.Errorf("%s: status %s value %v, want feasible with a mapping", e, r.Status, r.Value)
			continue
		}
		if err := constraints.Check(p, r.Mapping, cfg); err != nil {
			t.Errorf("%s: returned mapping is illegal: %v", e, err)
		}
	}
}
