package search

import (
	"context"
	"math"
	"testing"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/model"
)

// TestRelaxationBoundsTraffic: the relaxation never exceeds the proven least
// DRAM traffic, and it is above the compulsory traffic when L3 is small.
func TestRelaxationBoundsTraffic(t *testing.T) {
	cases := []struct {
		cfg     string
		m, n, k int64
	}{
		{"minimal", 64, 48, 80},
		{"edge_ai", 33, 64, 17},
		{"minimal", 96, 80, 64},
	}
	for _, c := range cases {
		cfg := preset(t, c.cfg)
		p := constraints.Problem{Name: "t", Batch: 1, M: c.m, N: c.n, K: c.k, DType: model.Float32}
		rx, err := Relax(context.Background(), p, cfg)
		if err != nil {
			t.Fatal(err)
		}
		opt := solve(t, "optimal", p, cfg, constraints.Traffic)
		if opt.Status != StatusOptimal {
			t.Fatalf("%s %v: status %s", c.cfg, p, opt.Status)
		}
		if rx.DRAMBytes > opt.Value {
			t.Errorf("%s %v: relaxation %v above the optimum %v", c.cfg, p, rx.DRAMBytes, opt.Value)
		}
		if rx.DRAMBytes < float64(p.CompulsoryBytes()) || math.IsNaN(rx.DRAMBytes) {
			t.Errorf("%s %v: relaxation %v below compulsory %d", c.cfg, p, rx.DRAMBytes, p.CompulsoryBytes())
		}
		t.Logf("%s %v: relaxation %.0f (%s at %.1f), optimum %.0f, compulsory %d", c.cfg, p, rx.DRAMBytes, rx.Pattern, rx.Tile, opt.Value, p.CompulsoryBytes())
	}
}
