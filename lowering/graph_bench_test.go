package lowering

import (
	"context"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
	"github.com/stillwater-sc/kpuopt/search"
)

// benchGraph lowers a whole network with heuristic mappings and simulates
// the program (timing and checks), reporting its size and latency.
func benchGraph(b *testing.B, path, cfgName string) {
	g, err := model.LoadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	cfg := testConfig(b, cfgName)
	sched := scheduleFor(b, g, cfg, "greedy")
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		prog, err := LowerGraph(ctx, g, sched, cfg)
		if err != nil {
			b.Fatal(err)
		}
		res, err := kpu.Simulate(ctx, prog, cfg, kpu.SimOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(prog.Commands)), "commands")
		b.ReportMetric(float64(res.LatencyCycles), "cycles")
		b.ReportMetric(float64(res.DRAMBytes), "dram_bytes")
	}
}

func BenchmarkLowerResNet50EdgeAI(b *testing.B) {
	benchGraph(b, "../testdata/resnet50/resnet50.json", "edge_ai")
}

func BenchmarkLowerResNet50Datacenter(b *testing.B) {
	benchGraph(b, "../testdata/resnet50/resnet50.json", "datacenter")
}

func BenchmarkLowerBERTEdgeAI(b *testing.B) {
	benchGraph(b, "../testdata/bert_layer.json", "edge_ai")
}

func BenchmarkLowerBERTDatacenter(b *testing.B) {
	benchGraph(b, "../testdata/bert_layer.json", "datacenter")
}

// benchLayerwise solves a network layerwise with the optimal per-operator
// search, lowers it to one program and simulates it (timing only), reporting
// the solve time, the prediction and the simulation.
func benchLayerwise(b *testing.B, path, cfgName string, opLimit time.Duration) {
	g, err := model.LoadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	cfg := testConfig(b, cfgName)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		gs, err := search.Layerwise(ctx, g, cfg, search.LayerwiseOptions{OpTimeLimit: opLimit})
		if err != nil {
			b.Fatal(err)
		}
		solve := time.Since(start)
		prog, err := LowerGraphSchedule(ctx, g, gs, cfg)
		if err != nil {
			b.Fatal(err)
		}
		res, err := kpu.Simulate(ctx, prog, cfg, kpu.SimOptions{SkipHazardChecks: true})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(solve.Seconds(), "solve_s")
		b.ReportMetric(float64(gs.Predicted.LatencyCycles), "pred_cycles")
		b.ReportMetric(float64(res.LatencyCycles), "sim_cycles")
		b.ReportMetric(float64(res.DRAMBytes), "sim_dram_bytes")
		b.ReportMetric(float64(gs.Bound.LatencyCycles), "bound_cycles")
		b.ReportMetric(float64(len(prog.Commands)), "commands")
	}
}

func BenchmarkLayerwiseBERTEdgeAI(b *testing.B) {
	benchLayerwise(b, "../testdata/bert_layer.json", "edge_ai", 2*time.Second)
}
func BenchmarkLayerwiseBERTDatacenter(b *testing.B) {
	benchLayerwise(b, "../testdata/bert_layer.json", "datacenter", 2*time.Second)
}
func BenchmarkLayerwiseResNet50EdgeAI(b *testing.B) {
	benchLayerwise(b, "../testdata/resnet50/resnet50.json", "edge_ai", time.Second)
}
func BenchmarkLayerwiseResNet50Datacenter(b *testing.B) {
	benchLayerwise(b, "../testdata/resnet50/resnet50.json", "datacenter", time.Second)
}

// benchVerify solves a network layerwise (greedy mappings, for speed),
// lowers it to one program, runs it functionally on the simulator and
// compares EVERY tensor of the graph (every intermediate lives in DRAM)
// with model.Evaluate, skipping tensors whose reference is not finite
// (random unit-range weights without normalization overflow deep nets).
func benchVerify(b *testing.B, path, cfgName string) {
	g, err := model.LoadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	cfg := testConfig(b, cfgName)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		gs, err := search.Layerwise(ctx, g, cfg, search.LayerwiseOptions{Engine: "greedy"})
		if err != nil {
			b.Fatal(err)
		}
		prog, err := LowerGraphSchedule(ctx, g, gs, cfg)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		inputs, err := model.RandomInputs(g, 1)
		if err != nil {
			b.Fatal(err)
		}
		enc := map[string][]byte{}
		for n, a := range inputs {
			enc[n] = a.Encode()
		}
		res, err := kpu.Simulate(ctx, prog, cfg, kpu.SimOptions{Functional: true, Inputs: enc})
		if err != nil {
			b.Fatal(err)
		}
		ref, err := model.Evaluate(ctx, g, inputs)
		if err != nil {
			b.Fatal(err)
		}
		compared, skipped, worst, worstName := 0, 0, 0.0, ""
		for _, name := range sortedNames(g) {
			r, t := ref[name], g.Tensors[name]
			got, err := model.Decode(t.Shape, t.DType, res.Tensors[name])
			if err != nil {
				b.Fatalf("tensor %s: %v", name, err)
			}
			var rms float64
			finite := true
			for _, v := range r.Data {
				rms += v * v
				finite = finite && !math.IsInf(v, 0) && !math.IsNaN(v)
			}
			if !finite || math.IsInf(rms, 0) {
				skipped++
				continue
			}
			rms = math.Sqrt(rms / float64(len(r.Data)))
			for k, v := range r.Data {
				if e := math.Abs(got.Data[k]-v) / max(math.Abs(v), rms, 1e-30); e > worst {
					worst, worstName = e, name
				}
			}
			compared++
		}
		if worst > 1e-3 {
			b.Errorf("%s on %s: tensor %s deviates by %.3g (relative)", g.Name, cfg.Name, worstName, worst)
		}
		b.ReportMetric(time.Since(start).Seconds(), "verify_s")
		b.ReportMetric(float64(len(prog.Commands)), "commands")
		b.ReportMetric(float64(res.LatencyCycles), "sim_cycles")
		b.ReportMetric(float64(gs.Predicted.LatencyCycles), "pred_cycles")
		b.ReportMetric(float64(compared), "tensors_compared")
		b.ReportMetric(float64(skipped), "tensors_overflowed")
		b.ReportMetric(worst, "max_rel_err")
	}
}

func sortedNames(g *model.Graph) []string {
	var out []string
	for n := range g.Tensors {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func BenchmarkVerifyBERTLayerEdgeAI(b *testing.B) {
	benchVerify(b, "../testdata/bert_layer.json", "edge_ai")
}

func BenchmarkVerifyResNet50R64EdgeAI(b *testing.B) {
	benchVerify(b, "../testdata/resnet50/resnet50_r64.json", "edge_ai")
}
