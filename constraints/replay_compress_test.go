package constraints

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// randomCase draws a problem and a mapping: any order pair, buffer counts,
// splits (K included), edge tiles, batches and narrow outputs.
func randomCase(r *rand.Rand, cfg *kpu.Config) (Problem, model.Mapping) {
	dim := func() int64 { return 1 + r.Int64N(160) }
	p := Problem{Name: "rand", Batch: 1 + r.Int64N(3), M: dim(), N: dim(), K: dim(), DType: model.Float32}
	switch r.IntN(4) {
	case 0:
		p.DType, p.OutDType = model.Int8, model.Int8
	case 1:
		p.OutDType = model.Float16
	}
	tile := func(d int64) int64 {
		if r.IntN(3) == 0 {
			return d
		}
		return max(d/8, 1) + r.Int64N(max(d/3, 1))
	}
	small := func(d int64) int64 { return max(d/16, 1) + r.Int64N(max(d/6, 1)) }
	l3 := model.Tile{M: tile(p.M), N: tile(p.N), K: small(p.K)}
	split := model.Split{M: 1, N: 1, K: 1}
	if cfg.ComputeTiles > 1 {
		switch r.IntN(4) {
		case 0:
			split.M = 2
		case 1:
			split.N = 2
		case 2:
			split.K = 2
		}
	}
	part := func(t int64, s int) int64 { return ceilDiv(t, int64(s)) }
	l2 := model.Tile{M: tile(part(l3.M, split.M)), N: tile(part(l3.N, split.N)), K: tile(part(l3.K, split.K))}
	buf := func() model.Buffers {
		return model.Buffers{A: 1 + r.IntN(2), B: 1 + r.IntN(2), C: 1 + r.IntN(2)}
	}
	m := model.Mapping{L3: l3, L2: l2, L3Order: l3Order(r), L2Order: model.Orders[r.IntN(6)],
		Split: split, L3Buffers: buf(), L2Buffers: buf()}
	return p, m
}

// testCompress compresses every stream the test draws.
var testCompress = compressLimits{minSteps: 4, minCommands: 1}

// l3Order draws an L3 order, half of the time one with k innermost (the
// streams that compress).
func l3Order(r *rand.Rand) string {
	if r.IntN(2) == 0 {
		return model.Orders[r.IntN(2)]
	}
	return model.Orders[r.IntN(6)]
}

// TestReplayCompressedExact checks that the compressed replay gives exactly
// the full replay's (replayFull, the uncompressed implementation) trace (latency, busy times, bytes, MACs, commands) and,
// under a cutoff, the same verdict, on random mappings of every preset.
func TestReplayCompressedExact(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(4, 2026))
	var legal, compressed int
	for _, name := range kpu.PresetNames {
		cfg, err := kpu.Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for try := 0; try < 4000 && n < 35; try++ {
			p, m := randomCase(r, cfg)
			if Check(p, m, cfg) != nil {
				continue
			}
			n++
			legal++
			label := fmt.Sprintf("%s %+v %+v", name, p, m)
			full, err := replayFull(ctx, p, m, cfg, 0)
			if err != nil {
				t.Fatalf("%s: full replay: %v", label, err)
			}
			got, skipped, err := replayCompressed(ctx, p, m, cfg, 0, &testCompress)
			if err != nil {
				t.Fatalf("%s: compressed replay: %v", label, err)
			}
			if skipped > 0 {
				compressed++
			}
			if d := cmp.Diff(full, got); d != "" {
				t.Errorf("%s: compressed replay differs (-full +compressed):\n%s", label, d)
			}
			// the cutoff: the same verdict as the full replay at limits
			// around the latency
			for _, limit := range []int64{full.Cycles * 9 / 10, full.Cycles, full.Cycles + 1} {
				if limit <= 0 {
					continue
				}
				want, werr := replayFull(ctx, p, m, cfg, limit)
				have, _, herr := replayCompressed(ctx, p, m, cfg, limit, &testCompress)
				if errors.Is(werr, ErrExceeds) != errors.Is(herr, ErrExceeds) || (werr == nil) != (herr == nil) {
					t.Errorf("%s limit %d: full replay %v, compressed %v", label, limit, werr, herr)
					continue
				}
				if d := cmp.Diff(want, have); d != "" {
					t.Errorf("%s limit %d: traces differ:\n%s", label, limit, d)
				}
			}
		}
	}
	t.Logf("%d legal mappings, %d compressed", legal, compressed)
	if legal < 120 || compressed < legal/5 {
		t.Errorf("%d legal mappings, %d compressed: the test does not exercise compression", legal, compressed)
	}
}

// BenchmarkReplayCompressed times the full and the compressed replay of the
// mapping the search proves optimal for edge_ai, 4096^3 fp32 (53,248 L3
// steps, 695,552 commands):
//
//	go test ./constraints -run '^$' -bench ReplayCompressed
func BenchmarkReplayCompressed(b *testing.B) {
	cfg, err := kpu.Preset("edge_ai")
	if err != nil {
		b.Fatal(err)
	}
	p := Problem{Name: "bench", Batch: 1, M: 4096, N: 4096, K: 4096, DType: model.Float32}
	m := model.Mapping{L3: model.Tile{M: 128, N: 160, K: 64}, L2: model.Tile{M: 64, N: 160, K: 64},
		L3Order: "nmk", L2Order: "mnk", Split: model.Split{M: 2, N: 1, K: 1},
		L3Buffers: model.Buffers{A: 2, B: 2, C: 1}, L2Buffers: model.Buffers{A: 2, B: 2, C: 2}}
	for _, c := range []struct {
		name string
		lim  *compressLimits
	}{{"full", nil}, {"compressed", &defaultCompress}} {
		b.Run(c.name, func(b *testing.B) {
			var skipped int64
			for i := 0; i < b.N; i++ {
				var err error
				if _, skipped, err = replayCompressed(context.Background(), p, m, cfg, 0, c.lim); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(skipped), "steps-skipped")
		})
	}
}
