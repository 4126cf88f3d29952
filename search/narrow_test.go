package search

import (
	"testing"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/model"
)

// TestNarrowOutputs: with an output type narrower than the accumulator
// (converted on the vector engine, stored narrow) the optimal search still
// equals the exhaustive oracle, and the problem's lower bounds stay below
// the optimum.
func TestNarrowOutputs(t *testing.T) {
	cases := []struct {
		tiny
		dt model.DType
	}{
		{tiny{"minimal", 1, 3, 2, 3, constraints.Traffic}, model.Float16},
		{tiny{"edge_ai", 1, 2, 3, 2, constraints.Latency}, model.Int8},
		{tiny{"minimal", 1, 2, 1, 3, constraints.Energy}, model.BFloat16},
	}
	for _, c := range cases {
		cfg := preset(t, c.cfg)
		p := constraints.Problem{Name: "t", Batch: c.b, M: c.m, N: c.n, K: c.k, DType: c.dt, OutDType: c.dt}
		ex := solve(t, "exhaustive", p, cfg, c.o)
		op := solve(t, "optimal", p, cfg, c.o)
		if ex.Status != StatusOptimal || op.Status != StatusOptimal {
			t.Fatalf("%s %v %s: statuses %s / %s, want optimal", c.cfg, p, c.o, ex.Status, op.Status)
		}
		if ex.Value != op.Value {
			t.Errorf("%s %v %s: optimal %v (%+v) != exhaustive %v (%+v)", c.cfg, p, c.o, op.Value, op.Mapping, ex.Value, ex.Mapping)
		}
		lb := constraints.LowerBound(p, cfg)
		if lb.LatencyCycles > op.Cost.LatencyCycles || lb.DRAMBytes > op.Cost.DRAMBytes || lb.EnergyPJ > op.Cost.EnergyPJ {
			t.Errorf("%s %v: bound %+v above the optimum %+v", c.cfg, p, lb, *op.Cost)
		}
		if want := p.Batch * (p.M*p.K + p.K*p.N + p.M*p.N) * p.DType.Size(); lb.DRAMBytes != want {
			t.Errorf("%s %v: compulsory DRAM bytes %d, want %d", c.cfg, p, lb.DRAMBytes, want)
		}
	}
}
