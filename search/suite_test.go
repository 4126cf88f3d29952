package search

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

func TestSuiteSummarize(t *testing.T) {
	row := func(secs float64, status string, ks, gr, bd float64) SuiteRow {
		return SuiteRow{Seconds: secs, Status: status, KPUSim: HeuristicResult{Ratio: ks}, Greedy: HeuristicResult{Ratio: gr}, BoundRatio: bd}
	}
	tests := []struct {
		name string
		rows []SuiteRow
		want SuiteSummary
	}{
		{"empty", nil, SuiteSummary{}},
		{"odd", []SuiteRow{row(0.3, StatusOptimal, 2, 1, 4), row(0.1, StatusFeasible, 8, 1, 1), row(0.2, StatusOptimal, 1, 1, 1)},
			SuiteSummary{Cases: 3, Proven: 2, MedianSeconds: 0.2, MaxSeconds: 0.3, GeoKPUSim: 2.519842, GeoGreedy: 1, GeoBound: 1.587401}},
		{"even, a missing ratio skipped", []SuiteRow{row(0.4, StatusOptimal, 2, 0, 1), row(0.1, StatusOptimal, 8, 3, 1)},
			SuiteSummary{Cases: 2, Proven: 2, MedianSeconds: 0.25, MaxSeconds: 0.4, GeoKPUSim: 4, GeoGreedy: 3, GeoBound: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, suiteSummarize(tc.rows)); d != "" {
				t.Errorf("summary (-want +got):\n%s", d)
			}
		})
	}
}

// smallSuite solves to proven optimality in milliseconds.
var smallSuite = Suite{Name: "small", Shapes: []SuiteShape{{7, 5, 12, model.Float32}, {16, 8, 3, model.Float32}, {1, 13, 9, model.Float32}}}

func TestRunSuite(t *testing.T) {
	cfgs := []*kpu.Config{preset(t, "minimal"), preset(t, "edge_ai")}
	var calls []string
	rep, err := RunSuite(context.Background(), smallSuite, cfgs, SuiteOptions{TimeLimit: 10 * time.Second,
		Progress: func(done, total int, label string) {
			if total != 6 {
				t.Errorf("progress total %d, want 6", total)
			}
			calls = append(calls, label)
		}})
	if err != nil {
		t.Fatal(err)
	}
	wantCalls := []string{"minimal 7x5x12", "minimal 16x8x3", "minimal 1x13x9", "edge_ai 7x5x12", "edge_ai 16x8x3", "edge_ai 1x13x9"}
	if d := cmp.Diff(wantCalls, calls); d != "" {
		t.Errorf("progress labels (-want +got):\n%s", d)
	}
	if len(rep.Rows) != 6 || rep.Summary.Cases != 6 {
		t.Fatalf("%d rows, summary %d cases, want 6", len(rep.Rows), rep.Summary.Cases)
	}
	for _, r := range rep.Rows {
		if r.Status != StatusOptimal {
			t.Errorf("%s %s: status %s, want optimal", r.Config, r.Shape, r.Status)
		}
		// proven optimal: no heuristic beats it, and it does not beat the bound
		for name, h := range map[string]HeuristicResult{"kpusim": r.KPUSim, "greedy": r.Greedy} {
			if h.Status != StatusInfeasible && h.Ratio < 1 {
				t.Errorf("%s %s: %s/optimal = %v < 1", r.Config, r.Shape, name, h.Ratio)
			}
		}
		if r.BoundRatio < 1 {
			t.Errorf("%s %s: optimal/bound = %v < 1", r.Config, r.Shape, r.BoundRatio)
		}
	}
	if rep.Summary.Proven != 6 {
		t.Errorf("proven %d, want 6", rep.Summary.Proven)
	}
}

func TestRunSuiteCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err := RunSuite(ctx, smallSuite, []*kpu.Config{preset(t, "minimal")}, SuiteOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(rep.Rows) != 0 {
		t.Errorf("%d rows after cancel, want 0", len(rep.Rows))
	}
}

func TestLookupSuite(t *testing.T) {
	if s, err := LookupSuite("gemm"); err != nil || len(s.Shapes) != 6 {
		t.Errorf("LookupSuite(gemm) = %d shapes, %v; want 6, nil", len(s.Shapes), err)
	}
	if _, err := LookupSuite("nope"); err == nil {
		t.Error("LookupSuite(nope) succeeded")
	}
}
