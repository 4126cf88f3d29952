package search

import (
	"context"
	"testing"
	"time"

	"github.com/stillwater-sc/kpuopt/kpu"
)

// BenchmarkSuite runs the gemm suite (the same cases as `kpuopt bench`) on
// edge_ai and datacenter, one sub-benchmark per case, and reports the solve
// time of the optimal search and the kpusim/optimal, greedy/optimal and
// optimal/lower-bound ratios. Run once per case:
//
//	go test ./search -run '^$' -bench Suite -benchtime=1x
func BenchmarkSuite(b *testing.B) {
	for _, cn := range []string{"edge_ai", "datacenter"} {
		cfg := preset(b, cn)
		for _, sh := range GEMMSuite.Shapes {
			one := Suite{Name: GEMMSuite.Name, Shapes: []SuiteShape{sh}}
			b.Run(cn+"/"+sh.String(), func(b *testing.B) {
				var rep *SuiteReport
				for i := 0; i < b.N; i++ {
					var err error
					rep, err = RunSuite(context.Background(), one, []*kpu.Config{cfg}, SuiteOptions{TimeLimit: 2 * time.Second})
					if err != nil {
						b.Fatal(err)
					}
				}
				r := rep.Rows[0]
				b.ReportMetric(r.Seconds, "solve_s")
				b.ReportMetric(r.Gap, "gap")
				b.ReportMetric(r.KPUSim.Ratio, "kpusim/opt")
				b.ReportMetric(r.Greedy.Ratio, "greedy/opt")
				b.ReportMetric(r.BoundRatio, "opt/bound")
			})
		}
	}
}
