package graph

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

const testdata = "../../testdata"

func load(t *testing.T, file string) *model.Graph {
	t.Helper()
	g, err := model.LoadFile(testdata + "/" + file)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func preset(t *testing.T, name string) *kpu.Config {
	t.Helper()
	cfg, err := kpu.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

var small = CandidateOptions{Replays: 3, NoBuckets: true}

// TestDPMatchesBruteForce: the dynamic program finds the same optimum as the
// exhaustive enumeration of fusion and residency, for every additive objective.
func TestDPMatchesBruteForce(t *testing.T) {
	tests := []struct {
		graph, config string
	}{
		{"mlp.json", "minimal"},
		{"mlp.json", "edge_ai"},
		{"resnet_block.json", "edge_ai"},
		{"resnet_block.json", "datacenter"},
		{"resnet_block.json", "embodied_ai"},
	}
	objectives := map[constraints.Objective]weights{
		constraints.Latency: {Lat: 1}, constraints.Energy: {En: 1}, constraints.Traffic: {Traffic: 1},
	}
	for _, tt := range tests {
		g := load(t, tt.graph)
		cfg := preset(t, tt.config)
		pr, err := NewProblem(g)
		if err != nil {
			t.Fatal(err)
		}
		cands, err := pr.candidates(context.Background(), cfg, true, small, seedSpec{}, constraints.Latency)
		if err != nil {
			t.Fatal(err)
		}
		d := &dp{pr: pr, cfg: cfg, opt: cands, joint: true, maxLive: 20}
		for o, w := range objectives {
			path, err := d.run(context.Background(), w)
			if err != nil {
				t.Fatalf("%s on %s: %v", tt.graph, tt.config, err)
			}
			got := 0.0
			for _, tr := range path {
				got += w.of(tr.fig)
			}
			want := bruteForce(context.Background(), d, w)
			if math.Abs(got-want) > 1e-6*math.Max(1, want) {
				t.Errorf("%s on %s, %s: dp %.6g, brute force %.6g", tt.graph, tt.config, o, got, want)
			}
		}
	}
}

// TestScheduleInvariants checks every schedule: capacity at each entry, the
// live bytes against the residency intervals, totals, predicted >= bound,
// and joint never worse than layerwise.
func TestScheduleInvariants(t *testing.T) {
	for _, file := range []string{"mlp.json", "resnet_block.json", "transformer_encoder.json"} {
		for _, cn := range []string{"minimal", "edge_ai", "datacenter"} {
			g := load(t, file)
			cfg := preset(t, cn)
			for _, o := range []constraints.Objective{constraints.Latency, constraints.Energy, constraints.Traffic, constraints.EDP} {
				lw, err := Solve(context.Background(), g, cfg, Options{Mode: ModeLayerwise, Objective: o, Candidates: small, Seeds: []string{}})
				if err != nil {
					t.Fatalf("%s %s %s layerwise: %v", file, cn, o, err)
				}
				jt, err := Solve(context.Background(), g, cfg, Options{Mode: ModeOptimal, Objective: o, Candidates: small, Seeds: []string{}})
				if err != nil {
					t.Fatalf("%s %s %s optimal: %v", file, cn, o, err)
				}
				name := file + " " + cn + " " + string(o)
				if value(jt.Predicted, o) > value(lw.Predicted, o)*(1+1e-12) {
					t.Errorf("%s: joint %.6g worse than layerwise %.6g", name, value(jt.Predicted, o), value(lw.Predicted, o))
				}
				if len(lw.Resident) != 0 {
					t.Errorf("%s: layerwise keeps %d tensors resident", name, len(lw.Resident))
				}
				for _, s := range []*model.GraphSchedule{lw, jt} {
					checkSchedule(t, name+" "+s.Mode, s, cfg)
				}
			}
		}
	}
}

func value(f model.Figures, o constraints.Objective) float64 {
	switch o {
	case constraints.Energy:
		return f.EnergyPJ
	case constraints.Traffic:
		return float64(f.DRAMBytes)
	case constraints.EDP:
		return float64(f.LatencyCycles) * f.EnergyPJ
	}
	return float64(f.LatencyCycles)
}

func checkSchedule(t *testing.T, name string, s *model.GraphSchedule, cfg *kpu.Config) {
	t.Helper()
	var sum model.Figures
	live := make([]int64, len(s.Ops))
	for _, r := range s.Resident {
		if r.First > r.Last || r.First < 0 || r.Last >= len(s.Ops) {
			t.Errorf("%s: resident %s over [%d, %d] of %d entries", name, r.Tensor, r.First, r.Last, len(s.Ops))
			continue
		}
		for i := r.First; i <= r.Last; i++ {
			live[i] += r.Bytes
		}
	}
	if len(s.Resident) > 0 && !strings.HasPrefix(s.L3Plan, "placed") {
		t.Errorf("%s: %d resident tensors, L3 plan %q", name, len(s.Resident), s.L3Plan)
	}
	for i, a := range s.Resident {
		if a.L3Offset < 0 || a.L3Offset+a.Bytes > cfg.L3Bytes() {
			t.Errorf("%s: resident %s at [%d, +%d) outside L3", name, a.Tensor, a.L3Offset, a.Bytes)
		}
		for _, b := range s.Resident[i+1:] {
			if a.First <= b.Last && b.First <= a.Last && a.L3Offset < b.L3Offset+b.Bytes && b.L3Offset < a.L3Offset+a.Bytes {
				t.Errorf("%s: resident %s and %s overlap in time and in L3", name, a.Tensor, b.Tensor)
			}
		}
	}
	for i, op := range s.Ops {
		if op.L3LiveBytes != live[i] {
			t.Errorf("%s: entry %d (%s): live %d B, residency intervals give %d B", name, i, op.Name, op.L3LiveBytes, live[i])
		}
		if op.L3LiveBytes+op.WorkingSetBytes > cfg.L3Bytes() {
			t.Errorf("%s: entry %d (%s): %d + %d B exceed L3 %d B", name, i, op.Name, op.L3LiveBytes, op.WorkingSetBytes, cfg.L3Bytes())
		}
		sum.LatencyCycles += op.Predicted.LatencyCycles
		sum.EnergyPJ += op.Predicted.EnergyPJ
		sum.DRAMBytes += op.Predicted.DRAMBytes
	}
	if diff := cmp.Diff(s.Predicted, sum, cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(a)) })); diff != "" {
		t.Errorf("%s: total != sum of entries (-total +sum):\n%s", name, diff)
	}
	if s.Predicted.LatencyCycles < s.Bound.LatencyCycles || s.Predicted.DRAMBytes < s.Bound.DRAMBytes || s.Predicted.EnergyPJ < s.Bound.EnergyPJ {
		t.Errorf("%s: predicted %+v below the lower bound %+v", name, s.Predicted, s.Bound)
	}
	if s.Gap < 0 || s.Gap >= 1 {
		t.Errorf("%s: gap %g", name, s.Gap)
	}
}

// TestSATMatchesDP: the pseudo-boolean encoding over package solver proves
// the same optimum as the dynamic program.
func TestSATMatchesDP(t *testing.T) {
	tests := []struct {
		graph, config string
		o             constraints.Objective
	}{
		{"mlp.json", "minimal", constraints.Latency},
		{"mlp.json", "edge_ai", constraints.Traffic},
		{"resnet_block.json", "datacenter", constraints.Latency},
		{"transformer_encoder.json", "edge_ai", constraints.Traffic},
	}
	for _, tt := range tests {
		g := load(t, tt.graph)
		cfg := preset(t, tt.config)
		opts := Options{Objective: tt.o, Candidates: small, Seeds: []string{}}
		want, err := Solve(context.Background(), g, cfg, opts)
		if err != nil {
			t.Fatal(err)
		}
		opts.Engine = "sat"
		got, err := Solve(context.Background(), g, cfg, opts)
		if err != nil {
			t.Fatalf("%s on %s: sat: %v", tt.graph, tt.config, err)
		}
		name := tt.graph + " " + tt.config + " " + string(tt.o)
		if got.Status != "optimal" || got.Engine != "sat" {
			t.Errorf("%s: sat status %q engine %q", name, got.Status, got.Engine)
		}
		if v, w := value(got.Predicted, tt.o), value(want.Predicted, tt.o); v != w {
			t.Errorf("%s: sat %.0f, dp %.0f", name, v, w)
		}
		checkSchedule(t, name+" sat", got, cfg)
	}
}

// TestWideGraphUsesSAT: a live set wider than MaxLive switches the default
// engine to the SAT encoding, which finds the dynamic program's optimum.
func TestWideGraphUsesSAT(t *testing.T) {
	g := load(t, "transformer_encoder.json") // 3 tensors live across some steps
	cfg := preset(t, "edge_ai")
	want, err := Solve(context.Background(), g, cfg, Options{Objective: constraints.Traffic, Candidates: small, Seeds: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Solve(context.Background(), g, cfg, Options{Objective: constraints.Traffic, Candidates: small, Seeds: []string{}, MaxLive: 2})
	if err != nil {
		t.Fatal(err)
	}
	if want.Engine != "dp" || got.Engine != "sat" {
		t.Errorf("engines %q and %q, want dp and sat", want.Engine, got.Engine)
	}
	if got.Predicted.DRAMBytes != want.Predicted.DRAMBytes {
		t.Errorf("sat %d DRAM bytes, dp %d", got.Predicted.DRAMBytes, want.Predicted.DRAMBytes)
	}
}
