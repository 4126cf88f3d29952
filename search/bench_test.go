package search

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/model"
)

// benchShapes are issue 4's benchmark GEMMs (M, N, K), fp32.
var benchShapes = [][3]int64{{1024, 1024, 1024}, {4096, 4096, 4096}, {128, 768, 3072}, {1, 4096, 4096}, {3136, 64, 576}, {49, 2048, 512}}

// BenchmarkOptimal times the optimal search (time limit 10 s) on the
// benchmark GEMMs and reports its gap, the kpusim/optimal and
// optimal/lower-bound latency ratios. Run with -benchtime=1x:
//
//	go test ./search -run '^$' -bench Optimal -benchtime=1x
func BenchmarkOptimal(b *testing.B) {
	for _, cn := range []string{"edge_ai", "datacenter"} {
		cfg := preset(b, cn)
		for _, d := range benchShapes {
			p := constraints.Problem{Name: "bench", Batch: 1, M: d[0], N: d[1], K: d[2], DType: model.Float32}
			b.Run(fmt.Sprintf("%s/%dx%dx%d", cn, d[0], d[1], d[2]), func(b *testing.B) {
				var r *Result
				for i := 0; i < b.N; i++ {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					var err error
					r, err = Solve(ctx, "optimal", p, cfg, Options{})
					cancel()
					if err != nil {
						b.Fatal(err)
					}
				}
				ks, err := Solve(context.Background(), "kpusim", p, cfg, Options{})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(r.Gap, "gap")
				b.ReportMetric(ks.Value/r.Value, "kpusim/opt")
				b.ReportMetric(r.Value/float64(r.ProblemBound.LatencyCycles), "opt/bound")
				b.ReportMetric(float64(r.Evaluated), "replays")
				b.Logf("%s %v: %s in %v, latency %.0f, kpusim %.0f, bound %d (%s), gap %.3f, mapping %+v",
					cn, d, r.Status, r.Elapsed.Round(time.Millisecond), r.Value, ks.Value, r.ProblemBound.LatencyCycles, r.ProblemBound.LatencyBy, r.Gap, r.Mapping)
			})
		}
	}
}

// BenchmarkReplay measures the exact evaluation of one large mapping.
func BenchmarkReplay(b *testing.B) {
	cfg := preset(b, "edge_ai")
	p := constraints.Problem{Name: "bench", Batch: 1, M: 1024, N: 1024, K: 1024, DType: model.Float32}
	m, err := greedyMapping(p, cfg, constraints.Latency)
	if err != nil {
		b.Fatal(err)
	}
	var cmds int
	for i := 0; i < b.N; i++ {
		tr, err := constraints.Replay(context.Background(), p, m, cfg)
		if err != nil {
			b.Fatal(err)
		}
		cmds = tr.Commands
	}
	b.ReportMetric(float64(cmds)*float64(b.N)/b.Elapsed().Seconds(), "cmds/s")
}
