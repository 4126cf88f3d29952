package search

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

func preset(t testing.TB, name string) *kpu.Config {
	t.Helper()
	cfg, err := kpu.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func solve(t testing.TB, engine string, p constraints.Problem, cfg *kpu.Config, o constraints.Objective) *Result {
	t.Helper()
	r, err := Solve(context.Background(), engine, p, cfg, Options{Objective: o})
	if err != nil {
		t.Fatalf("%s %s %v: %v", engine, cfg.Name, p, err)
	}
	return r
}

type tiny struct {
	cfg        string
	b, m, n, k int64
	o          constraints.Objective
}

// tinyCases are small enough for the exhaustive oracle (dims include 1 and primes).
var tinyCases = []tiny{
	{"minimal", 1, 1, 2, 3, constraints.Latency},
	{"edge_ai", 2, 2, 1, 3, constraints.Latency},
	{"datacenter", 1, 2, 2, 1, constraints.Latency},
	{"minimal", 1, 3, 2, 3, constraints.Traffic},
	{"edge_ai", 1, 2, 1, 2, constraints.Energy},
	{"minimal", 1, 1, 3, 2, constraints.EDP},
}

func TestOptimalEqualsExhaustive(t *testing.T) {
	for _, c := range tinyCases {
		cfg := preset(t, c.cfg)
		p := constraints.Problem{Name: "t", Batch: c.b, M: c.m, N: c.n, K: c.k, DType: model.Float32}
		ex := solve(t, "exhaustive", p, cfg, c.o)
		op := solve(t, "optimal", p, cfg, c.o)
		if ex.Status != StatusOptimal || op.Status != StatusOptimal {
			t.Fatalf("%s %v %s: statuses %s / %s, want optimal", c.cfg, p, c.o, ex.Status, op.Status)
		}
		if ex.Value != op.Value {
			t.Errorf("%s %v %s: optimal %v (%+v) != exhaustive %v (%+v)", c.cfg, p, c.o, op.Value, op.Mapping, ex.Value, ex.Mapping)
		}
		if op.Gap != 0 {
			t.Errorf("%s %v: optimal gap %v, want 0", c.cfg, p, op.Gap)
		}
	}
}

// TestResults: every returned mapping meets every capacity, its figures are
// above the lower bound, and optimal is never worse than a heuristic.
func TestResults(t *testing.T) {
	cases := []tiny{
		{"minimal", 1, 24, 20, 40, constraints.Latency},
		{"edge_ai", 1, 33, 64, 17, constraints.Latency},
		{"edge_ai", 1, 64, 48, 96, constraints.Traffic},
		{"embodied_ai", 1, 1, 96, 64, constraints.Latency},
		{"datacenter", 1, 40, 64, 32, constraints.Energy},
	}
	for _, c := range cases {
		cfg := preset(t, c.cfg)
		p := constraints.Problem{Name: "t", Batch: c.b, M: c.m, N: c.n, K: c.k, DType: model.Float32}
		results := map[string]*Result{}
		for _, e := range []string{"optimal", "kpusim", "greedy"} {
			r := solve(t, e, p, cfg, c.o)
			results[e] = r
			if r.Status == StatusInfeasible {
				t.Fatalf("%s %s %v: infeasible: %v", e, c.cfg, p, r.Err)
			}
			if err := constraints.Check(p, r.Mapping, cfg); err != nil {
				t.Errorf("%s %s %v: returned mapping %+v is illegal: %v", e, c.cfg, p, r.Mapping, err)
			}
			b := r.ProblemBound
			if r.Cost.LatencyCycles < b.LatencyCycles || r.Cost.DRAMBytes < b.DRAMBytes || r.Cost.EnergyPJ < b.EnergyPJ {
				t.Errorf("%s %s %v: predicted %+v below the lower bound %+v", e, c.cfg, p, r.Cost, b)
			}
			if r.Gap < 0 || r.Gap > 1 || r.Bound > r.Value {
				t.Errorf("%s %s %v: gap %v bound %v value %v", e, c.cfg, p, r.Gap, r.Bound, r.Value)
			}
		}
		for _, h := range []string{"kpusim", "greedy"} {
			if results["optimal"].Value > results[h].Value {
				t.Errorf("%s %v %s: optimal %v worse than %s %v", c.cfg, p, c.o, results["optimal"].Value, h, results[h].Value)
			}
		}
	}
}

// TestMoreResourcesNeverWorse: more capacity or bandwidth never gives a worse
// optimum (the space only grows and every transfer only gets shorter).
func TestMoreResourcesNeverWorse(t *testing.T) {
	p := constraints.Problem{Name: "t", Batch: 1, M: 12, N: 10, K: 20, DType: model.Float32}
	base := preset(t, "minimal")
	ref := solve(t, "optimal", p, base, constraints.Latency)
	bigger := map[string]func(c *kpu.Config){
		"l2 bank x2":   func(c *kpu.Config) { c.L2BankBytes *= 2 },
		"l3 tile x2":   func(c *kpu.Config) { c.L3TileBytes *= 2 },
		"l1 buffer x2": func(c *kpu.Config) { c.L1BufferBytes *= 2 },
		"dma bw x2":    func(c *kpu.Config) { c.DMABytesPerCycle *= 2; c.DRAMChannelGBps *= 2 },
		"mover bw x2":  func(c *kpu.Config) { c.BlockMoverBytesPerCycle *= 2 },
	}
	for name, f := range bigger {
		cfg := preset(t, "minimal")
		f(cfg)
		r := solve(t, "optimal", p, cfg, constraints.Latency)
		if r.Value > ref.Value {
			t.Errorf("%s: optimum %v worse than the base machine's %v", name, r.Value, ref.Value)
		}
	}
	// a machine too small for anything is infeasible, with the reason
	tinyL1 := preset(t, "minimal")
	tinyL1.L1BufferBytes = 2
	r := solve(t, "optimal", p, tinyL1, constraints.Latency)
	if r.Status != StatusInfeasible || r.Err == nil {
		t.Fatalf("L1 buffers of 2 B: status %s err %v, want infeasible", r.Status, r.Err)
	}
	var ie *constraints.InfeasibleError
	if !errors.As(r.Err, &ie) || ie.Shortfall.Level != "l1" || ie.Shortfall.Short() != 2 {
		t.Errorf("L1 buffers of 2 B: %v, want an L1 shortfall of 2 B", r.Err)
	}
}

// TestTimeLimit: a search stopped early returns its best with a gap.
func TestTimeLimit(t *testing.T) {
	// (edge_ai 1024^3 is proven in well under 100 ms: a bigger case)
	p := constraints.Problem{Name: "t", Batch: 1, M: 4096, N: 4096, K: 4096, DType: model.Float32}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r, err := Solve(ctx, "optimal", p, preset(t, "datacenter"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != StatusFeasible || r.Gap <= 0 || r.Gap >= 1 || math.IsInf(r.Value, 0) {
		t.Errorf("stopped search: status %s gap %v value %v, want feasible with a gap in (0,1)", r.Status, r.Gap, r.Value)
	}
}

func TestUnknownEngine(t *testing.T) {
	if _, err := Lookup("nope"); err == nil {
		t.Error("Lookup(nope) succeeded")
	}
}
