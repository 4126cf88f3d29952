package kpu

import (
	"context"
	"testing"

	"github.com/stillwater-sc/kpuopt/model"
)

// benchProgram is a double-buffered tiled matmul on edge_ai: 2048^3 in 64^3
// tiles gives about 230k commands.
func benchProgram(b *testing.B, n, tile int64) (*Program, *Config) {
	cfg := mustPreset(b, "edge_ai")
	s := tiledSpec{name: "bench", M: n, N: n, K: n, TM: tile, TN: tile, TK: tile, dtype: model.Float32, double: true}
	return buildTiledMatmul(b, cfg, s), cfg
}

func benchSimulate(b *testing.B, opts SimOptions) {
	p, cfg := benchProgram(b, 2048, 64)
	b.ResetTimer()
	for b.Loop() {
		if _, err := Simulate(context.Background(), p, cfg, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(p.Commands))*float64(b.N)/b.Elapsed().Seconds(), "commands/s")
}

// BenchmarkTimingOnly: structural checks + timing (no hazard tracking).
func BenchmarkTimingOnly(b *testing.B) { benchSimulate(b, SimOptions{SkipHazardChecks: true}) }

// BenchmarkTimingChecked: timing plus the race and uninitialized-read checks.
func BenchmarkTimingChecked(b *testing.B) { benchSimulate(b, SimOptions{}) }

// BenchmarkFunctional512: functional execution of a 512^3 fp32 tiled matmul.
func BenchmarkFunctional512(b *testing.B) {
	p, cfg := benchProgram(b, 512, 64)
	s := tiledSpec{M: 512, N: 512, K: 512, dtype: model.Float32}
	inputs, _ := matmulInputs(s, 1)
	b.ResetTimer()
	for b.Loop() {
		if _, err := Simulate(context.Background(), p, cfg, SimOptions{Functional: true, Inputs: inputs}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(p.Commands)), "commands")
}
