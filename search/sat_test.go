package search

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// tightConfig is edge_ai with small memories, so that capacity prunes the
// space and the cuts and infeasible shapes of the SAT engine matter.
func tightConfig(t testing.TB) *kpu.Config {
	cfg, err := kpu.Preset("edge_ai")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Name = "edge_ai_tight"
	cfg.L2BankBytes = 2048
	cfg.L1BufferBytes = 1024
	cfg.L3TileBytes = 16384
	return cfg
}

// TestSATMatchesOracles checks that the SAT engine reaches the same optimum
// as the exhaustive enumeration (tiny problems: it replays every point) and
// as the enumerating branch and bound (small problems, primes and 1 among
// the dims), on machines where capacity does and does not bind.
func TestSATMatchesOracles(t *testing.T) {
	type tc struct {
		oracle  string
		cfg     string
		m, n, k int64
		obj     constraints.Objective
	}
	var cases []tc
	for _, d := range [][3]int64{{1, 1, 1}, {2, 3, 1}} {
		for _, c := range []string{"minimal", "tight"} {
			for _, o := range []constraints.Objective{constraints.Latency, constraints.Traffic} {
				cases = append(cases, tc{"exhaustive", c, d[0], d[1], d[2], o})
			}
		}
	}
	for _, d := range [][3]int64{{7, 5, 3}, {13, 1, 17}, {16, 16, 16}} {
		for _, c := range []string{"minimal", "tight"} {
			for _, o := range []constraints.Objective{constraints.Latency, constraints.Energy} {
				cases = append(cases, tc{"optimal", c, d[0], d[1], d[2], o})
			}
		}
	}
	cases = append(cases, tc{"optimal", "edge_ai", 9, 16, 12, constraints.EDP})
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%s/%dx%dx%d/%s", c.oracle, c.cfg, c.m, c.n, c.k, c.obj), func(t *testing.T) {
			var cfg *kpu.Config
			if c.cfg == "tight" {
				cfg = tightConfig(t)
			} else {
				var err error
				if cfg, err = kpu.Preset(c.cfg); err != nil {
					t.Fatal(err)
				}
			}
			p := constraints.Problem{Name: "t", Batch: 1, M: c.m, N: c.n, K: c.k, DType: model.Float32}
			want, err := Solve(t.Context(), c.oracle, p, cfg, Options{Objective: c.obj})
			if err != nil {
				t.Fatal(err)
			}
			got, err := Solve(t.Context(), "sat", p, cfg, Options{Objective: c.obj})
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != want.Status || got.Value != want.Value {
				t.Fatalf("sat: %s %g, %s: %s %g", got.Status, got.Value, c.oracle, want.Status, want.Value)
			}
			if got.Status != StatusOptimal {
				return
			}
			if err := constraints.Check(p, got.Mapping, cfg); err != nil {
				t.Errorf("sat mapping does not fit: %v", err)
			}
			if pb := got.ProblemBound.Value(c.obj); got.Value < pb*(1-1e-9) {
				t.Errorf("value %g below the problem bound %g", got.Value, pb)
			}
		})
	}
}

func TestSATTimeLimit(t *testing.T) {
	cfg, err := kpu.Preset("edge_ai")
	if err != nil {
		t.Fatal(err)
	}
	p := constraints.Problem{Name: "big", Batch: 1, M: 4096, N: 4096, K: 4096, DType: model.Float32}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	r, err := Solve(ctx, "sat", p, cfg, Options{})
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("returned after %v with a 300ms limit", d)
	}
	if err != nil {
		// nothing found in time: the context's error, like every engine
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		return
	}
	if r.Status == StatusFeasible && (r.Bound > r.Value || math.IsInf(r.Value, 0)) {
		t.Errorf("feasible result with bound %g value %g", r.Bound, r.Value)
	}
}
