package search

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// BenchmarkSATvsOptimal times the SAT engine against the enumerating branch
// and bound on the shapes of issue 4, each solve capped at 20 s. Metrics:
// proven (1 if optimal), the value relative to the "optimal" engine's, the
// exact evaluations. Run with -benchtime 1x.
func BenchmarkSATvsOptimal(b *testing.B) {
	dims := [][3]int64{{1024, 1024, 1024}, {4096, 4096, 4096}, {128, 768, 3072}, {1, 4096, 4096}, {3136, 64, 576}, {49, 2048, 512}}
	for _, cn := range []string{"edge_ai", "datacenter"} {
		cfg, err := kpu.Preset(cn)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range dims {
			p := constraints.Problem{Name: "bench", Batch: 1, M: d[0], N: d[1], K: d[2], DType: model.Float32}
			for _, eng := range []string{"optimal", "sat"} {
				b.Run(fmt.Sprintf("%s/%dx%dx%d/%s", cn, d[0], d[1], d[2], eng), func(b *testing.B) {
					for b.Loop() {
						ctx, cancel := context.WithTimeout(b.Context(), 20*time.Second)
						r, err := Solve(ctx, eng, p, cfg, Options{})
						cancel()
						if err != nil {
							b.Fatal(err)
						}
						proven := 0.0
						if r.Status == StatusOptimal {
							proven = 1
						}
						b.ReportMetric(proven, "proven")
						b.ReportMetric(r.Value, "cycles")
						b.ReportMetric(float64(r.Evaluated), "evals")
					}
				})
			}
		}
	}
}
