package lowering

import (
	"context"
	"testing"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
	"github.com/stillwater-sc/kpuopt/search"
	"github.com/stillwater-sc/kpuopt/verify"
)

// fidelityShapes is the matrix of GEMMs the cost model is held to: square,
// the brief's matmul, transformer projections and FFNs, attention scores
// (batched), and skinny shapes with partial edge tiles.
var fidelityShapes = []struct {
	name           string
	batch, m, n, k int64
	dtype          model.DType
}{
	{"square256", 1, 256, 256, 256, model.Float32},
	{"brief1024x1024x512", 1, 1024, 1024, 512, model.Float32},
	{"bert_qkv", 1, 512, 768, 768, model.Float32},
	{"bert_ffn1", 1, 512, 3072, 768, model.Float32},
	{"attn_scores", 12, 128, 128, 64, model.Float32},
	{"skinny_edges", 1, 1000, 37, 300, model.Float32},
	{"int8_gemv_like", 1, 8, 4096, 1024, model.Int8},
	{"square4096", 1, 4096, 4096, 4096, model.Float32},
}

// fidelityCase lowers the mapping an engine picks for a shape on a preset
// and compares the simulated figures with the prediction (timing and checks;
// numerics for small ones). It returns the worst relative deviation.
func fidelityCase(ctx context.Context, t testing.TB, cfg *kpu.Config, p constraints.Problem, engine string, maxCommands int) (float64, bool) {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	res, err := search.Solve(sctx, engine, p, cfg, search.Options{Objective: constraints.Latency})
	cancel()
	if err != nil || res.Status == search.StatusInfeasible {
		t.Logf("%s %s %s: no mapping: %v %v", cfg.Name, p, engine, err, res)
		return 0, false
	}
	if res.Cost.Commands > maxCommands {
		return 0, false
	}
	g := gemmGraphOf(t, p)
	prog, err := Lower(ctx, g, Schedule{g.Operators[0].Name: res.Mapping}, cfg)
	if err != nil {
		t.Fatalf("%s %s %s: lower: %v", cfg.Name, p, engine, err)
	}
	pred := &verify.Figures{LatencyCycles: res.Cost.LatencyCycles, DRAMBytes: res.Cost.DRAMBytes, EnergyPJ: res.Cost.EnergyPJ}
	rep, err := verify.Program(ctx, prog, cfg, verify.Options{Seed: 1, FunctionalLimitMACs: 1 << 24, Predicted: pred})
	if err != nil {
		t.Fatalf("%s %s %s: verify: %v", cfg.Name, p, engine, err)
	}
	if !rep.Verified {
		t.Errorf("%s %s %s mapping %+v: %v", cfg.Name, p, engine, res.Mapping, rep.Reasons)
	}
	d := rep.Deviation
	if d.Energy < 1e-9 { // summation order of the energy terms
		d.Energy = 0
	}
	return max(d.Latency, d.DRAM, d.Energy), true
}

// gemmGraphOf builds the MATMUL graph of problem p (batch as a leading dim).
func gemmGraphOf(t testing.TB, p constraints.Problem) *model.Graph {
	a, b, c := []int64{p.M, p.K}, []int64{p.K, p.N}, []int64{p.M, p.N}
	if p.Batch > 1 {
		a, b, c = append([]int64{p.Batch}, a...), append([]int64{p.Batch}, b...), append([]int64{p.Batch}, c...)
	}
	return gemmGraph(t, a, b, c, p.DType, p.DType.Accumulator(), false, false)
}

// TestFidelity holds |predicted - simulated| / simulated under 3% (in fact
// 0, up to float summation order in the energy: the prediction replays
// the lowered stream) for the heuristics' mappings
// of every shape of the matrix on every preset, up to a program size that
// keeps the test fast (BenchmarkFidelity runs the whole matrix, optimal
// search included).
func TestFidelity(t *testing.T) {
	ctx := context.Background()
	limit := 5000
	if testing.Short() {
		limit = 3000
	}
	ran := 0
	for _, name := range kpu.PresetNames {
		cfg, err := kpu.Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range fidelityShapes {
			p := constraints.Problem{Name: s.name, Batch: s.batch, M: s.m, N: s.n, K: s.k, DType: s.dtype}
			if p.MACs() > 1<<33 {
				continue // the heuristics' search alone takes seconds: BenchmarkFidelity
			}
			for _, engine := range []string{"kpusim", "greedy"} {
				dev, ok := fidelityCase(ctx, t, cfg, p, engine, limit)
				if !ok {
					continue
				}
				ran++
				if dev != 0 {
					t.Errorf("%s %s %s: predicted differs from simulated by %.3g%%", name, s.name, engine, 100*dev)
				}
			}
		}
	}
	if ran < 8 {
		t.Errorf("only %d cases ran", ran)
	}
	t.Logf("%d cases, all predicted == simulated", ran)
}

// BenchmarkFidelity runs the whole matrix with the optimal search too and
// reports the worst deviation.
func BenchmarkFidelity(b *testing.B) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		worst, n := 0.0, 0
		for _, name := range kpu.PresetNames {
			cfg, _ := kpu.Preset(name)
			for _, s := range fidelityShapes {
				p := constraints.Problem{Name: s.name, Batch: s.batch, M: s.m, N: s.n, K: s.k, DType: s.dtype}
				for _, engine := range []string{"optimal", "kpusim", "greedy"} {
					if dev, ok := fidelityCase(ctx, b, cfg, p, engine, 1<<20); ok {
						worst, n = max(worst, dev), n+1
					}
				}
			}
		}
		b.ReportMetric(worst, "worst_rel_dev")
		b.ReportMetric(float64(n), "cases")
	}
}
