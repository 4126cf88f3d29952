package search

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/model"
)

// TestKSplitSpace: K splits are proposed only where M x N cannot fill the
// machine and the problem is compute bound.
func TestKSplitSpace(t *testing.T) {
	cases := []struct {
		cfg     string
		m, n, k int64
		want    bool
	}{
		{"edge_ai", 16, 16, 8192, true},       // one output block, 8192 cycles of fabric vs ~1 MB of DRAM
		{"edge_ai", 1024, 1024, 1024, false},  // blocks enough for every tile
		{"datacenter", 128, 768, 3072, false}, // 96 blocks, but DRAM bound
		{"minimal", 1, 1, 100000, false},      // one compute tile
	}
	for _, c := range cases {
		p := constraints.Problem{Name: "t", Batch: 1, M: c.m, N: c.n, K: c.k, DType: model.Float32}
		sp := constraints.NewSpace(p, preset(t, c.cfg))
		if got := len(sp.KSplits) > 0; got != c.want {
			t.Errorf("%s %dx%dx%d: K splits %v, want %v", c.cfg, c.m, c.n, c.k, sp.KSplits, c.want)
		}
		for _, s := range sp.KSplits {
			if s.K < 2 || s.M*s.N*s.K != sp.Config.ComputeTiles {
				t.Errorf("%s: K split %+v does not use all %d tiles", c.cfg, s, sp.Config.ComputeTiles)
			}
		}
	}
}

// TestKSplitPays: on a deep GEMM with a single output block the optimum
// splits K (the two tiles reduce halves of K), beats every mapping without
// a K split, and equals the exhaustive oracle on a small case.
func TestKSplitPays(t *testing.T) {
	cfg := preset(t, "edge_ai")
	p := constraints.Problem{Name: "t", Batch: 1, M: 16, N: 16, K: 8192, DType: model.Float32}
	r := solve(t, "optimal", p, cfg, constraints.Latency)
	if r.Status != StatusOptimal || r.Mapping.Split.K < 2 {
		t.Fatalf("status %s, split %+v: want a proven K split", r.Status, r.Mapping.Split)
	}
	if err := constraints.Check(p, r.Mapping, cfg); err != nil {
		t.Fatal(err)
	}
	noK := r.Mapping
	noK.Split.K = 1
	noK.Placement = nil
	if c, err := constraints.Evaluate(context.Background(), p, noK, cfg); err == nil && float64(c.LatencyCycles) <= r.Value {
		t.Errorf("the same mapping without the K split takes %d cycles, not more than %v", c.LatencyCycles, r.Value)
	}
	small := constraints.Problem{Name: "t", Batch: 1, M: 1, N: 2, K: 8, DType: model.Float32}
	if len(constraints.NewSpace(small, cfg).KSplits) == 0 {
		t.Fatal("the small case proposes no K split")
	}
	ex := solve(t, "exhaustive", small, cfg, constraints.Latency)
	op := solve(t, "optimal", small, cfg, constraints.Latency)
	if diff := cmp.Diff(ex.Value, op.Value); diff != "" {
		t.Errorf("optimal != exhaustive with K splits (-exhaustive +optimal):\n%s", diff)
	}
}
