package lowering

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
	"github.com/stillwater-sc/kpuopt/verify"
)

// gemmGraph builds a one-operator MATMUL graph.
func gemmGraph(t testing.TB, aShape, bShape, cShape []int64, in, out model.DType, transA, transB bool) *model.Graph {
	t.Helper()
	src := fmt.Sprintf(`{"name":"mm","tensors":{"A":{"shape":%s,"dtype":"%s"},"B":{"shape":%s,"dtype":"%s"},"C":{"shape":%s,"dtype":"%s"}},
"operators":[{"name":"mm","type":"MATMUL","inputs":["A","B"],"outputs":["C"],"attributes":{"transpose_a":%v,"transpose_b":%v}}]}`,
		js(aShape), in, js(bShape), in, js(cShape), out, transA, transB)
	g, err := model.Parse([]byte(src), "test")
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return g
}

func js(s []int64) string {
	out := "["
	for i, d := range s {
		if i > 0 {
			out += ","
		}
		out += fmt.Sprint(d)
	}
	return out + "]"
}

// randomMapping draws a mapping for p on cfg (not necessarily legal).
func randomMapping(rng *rand.Rand, p constraints.Problem, cfg *kpu.Config) model.Mapping {
	pick := func(n int64) int64 { return 1 + rng.Int64N(n) }
	m := model.Mapping{L3Order: model.Orders[rng.IntN(6)], L2Order: model.Orders[rng.IntN(6)]}
	m.L3 = model.Tile{M: pick(p.M), N: pick(p.N), K: pick(p.K)}
	m.Split = model.Split{M: 1, N: 1, K: 1}
	if cfg.ComputeTiles > 1 && rng.IntN(3) > 0 {
		m.Split.M = 1 + rng.IntN(min(cfg.ComputeTiles, int(m.L3.M), 4))
		m.Split.N = 1 + rng.IntN(max(1, min(cfg.ComputeTiles/m.Split.M, int(m.L3.N), 4)))
	}
	if spare := cfg.ComputeTiles / (m.Split.M * m.Split.N); spare > 1 && m.L3.K > 1 && rng.IntN(2) == 0 {
		m.Split.K = 2 + rng.IntN(min(spare, int(m.L3.K), 4)-1) // a K reduction across compute tiles
	}
	mp, np := ceilDiv(m.L3.M, int64(m.Split.M)), ceilDiv(m.L3.N, int64(m.Split.N))
	kp := ceilDiv(m.L3.K, int64(m.Split.K))
	m.L2 = model.Tile{M: pick(mp), N: pick(np), K: pick(kp)}
	b := func() int { return 1 + rng.IntN(2) }
	m.L3Buffers = model.Buffers{A: b(), B: b(), C: b()}
	m.L2Buffers = model.Buffers{A: b(), B: b(), C: b()}
	return m
}

// machines are the configs of the property test: every preset and tiny.
func machines(t testing.TB) []*kpu.Config {
	t.Helper()
	var out []*kpu.Config
	for _, name := range append(append([]string(nil), kpu.PresetNames...), "../testdata/configs/tiny.json") {
		cfg, _, err := kpu.Resolve(name)
		if err != nil {
			t.Fatalf("config %s: %v", name, err)
		}
		out = append(out, cfg)
	}
	return out
}

type gemmCase struct {
	name           string
	a, b, c        []int64
	in, out        model.DType
	transA, transB bool
}

var gemmCases = []gemmCase{
	{"fp32", []int64{40, 24}, []int64{24, 36}, []int64{40, 36}, model.Float32, model.Float32, false, false},
	{"fp32_batch_bcast_transB", []int64{2, 40, 24}, []int64{36, 24}, []int64{2, 40, 36}, model.Float32, model.Float32, false, true},
	{"fp16_transA", []int64{24, 33}, []int64{24, 20}, []int64{33, 20}, model.Float16, model.Float16, true, false},
	{"int8_bcast_both", []int64{3, 1, 20, 24}, []int64{2, 24, 16}, []int64{3, 2, 20, 16}, model.Int8, model.Int8, false, false},
	{"bf16_to_fp32_transAB", []int64{30, 17}, []int64{28, 30}, []int64{17, 28}, model.BFloat16, model.Float32, true, true},
	{"int8_to_int32", []int64{17, 40}, []int64{40, 23}, []int64{17, 23}, model.Int8, model.Int32, false, false},
	{"bf16_batch", []int64{2, 19, 30}, []int64{2, 30, 26}, []int64{2, 19, 26}, model.BFloat16, model.BFloat16, false, false},
	{"bf16_transB", []int64{21, 34}, []int64{18, 34}, []int64{21, 18}, model.BFloat16, model.BFloat16, false, true},
	{"fp16", []int64{37, 29}, []int64{29, 22}, []int64{37, 22}, model.Float16, model.Float16, false, false},
	{"int8_batch", []int64{2, 23, 41}, []int64{2, 41, 19}, []int64{2, 23, 19}, model.Int8, model.Int8, false, false},
}

// TestLowerRandomMappings is the property test: random legal mappings (all
// loop orders, buffering choices, splits of M, N and K (a K reduction across
// compute tiles), partial edge tiles) of GEMMs with
// transposes, broadcast batches and every dtype, on every preset and the
// tiny machine, lower to programs that pass every simulator check, compute
// the reference outputs, and take exactly the predicted cycles, bytes and
// energy, narrow outputs (float16, bfloat16, int8: converted on the vector
// engine) included.
func TestLowerRandomMappings(t *testing.T) {
	ctx := context.Background()
	perCase := 3
	if testing.Short() {
		perCase = 1
	}
	rng := rand.New(rand.NewPCG(5, 7))
	kSplits := 0
	for _, cfg := range machines(t) {
		for _, tc := range gemmCases {
			g := gemmGraph(t, tc.a, tc.b, tc.c, tc.in, tc.out, tc.transA, tc.transB)
			p, _, err := constraints.ProblemOf(g, g.Operators[0])
			if err != nil {
				t.Fatal(err)
			}
			done := 0
			for tries := 0; done < perCase && tries < 2000; tries++ {
				m := randomMapping(rng, p, cfg)
				if constraints.Check(p, m, cfg) != nil {
					continue
				}
				cost, err := constraints.Evaluate(ctx, p, m, cfg)
				if err != nil {
					t.Fatalf("%s %s: evaluate %+v: %v", cfg.Name, tc.name, m, err)
				}
				if cost.Commands > 4000 {
					continue // keep the suite fast
				}
				done++
				if m.Split.K > 1 {
					kSplits++
				}
				prog, err := Lower(ctx, g, Schedule{"mm": m}, cfg)
				if err != nil {
					t.Fatalf("%s %s: lower %+v: %v", cfg.Name, tc.name, m, err)
				}
				opts := verify.Options{Seed: uint64(done)}
				opts.Predicted = &verify.Figures{LatencyCycles: cost.LatencyCycles, DRAMBytes: cost.DRAMBytes, EnergyPJ: cost.EnergyPJ}
				rep, err := verify.Program(ctx, prog, cfg, opts)
				if err != nil {
					t.Fatalf("%s %s: verify %+v: %v", cfg.Name, tc.name, m, err)
				}
				if !rep.Verified || !rep.Functional {
					t.Errorf("%s %s mapping %+v: verified %v functional %v: %v", cfg.Name, tc.name, m, rep.Verified, rep.Functional, rep.Reasons)
					continue
				}
				sim := rep.Simulated
				if sim.LatencyCycles != cost.LatencyCycles || sim.DRAMBytes != cost.DRAMBytes || math.Abs(sim.EnergyPJ-cost.EnergyPJ) > 1e-9*sim.EnergyPJ {
					t.Errorf("%s %s mapping %+v: simulated %+v, predicted %+v", cfg.Name, tc.name, m, *sim, *opts.Predicted)
				}
			}
			if done == 0 {
				t.Errorf("%s %s: no legal mapping drawn", cfg.Name, tc.name)
			}
		}
	}
	if kSplits < 5 {
		t.Errorf("only %d mappings split K across compute tiles", kSplits)
	}
	t.Logf("%d of the mappings split K across compute tiles", kSplits)
}
