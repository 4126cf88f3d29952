package placer

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkPerfect solves generated perfect packings (buffers cut from a
// 1024 x 1024 grid, 100% load at every time) at exactly their capacity:
//
//	go test -run ^$ -bench Perfect -benchtime 1x ./search/placer
//
// Each instance gets 30 s; the target is 5 s. An instance not solved in
// time is reported as an error and the others still run.
func BenchmarkPerfect(b *testing.B) {
	for _, n := range []int{150, 300, 450} {
		for seed := uint64(1); seed <= 4; seed++ {
			p, _, err := GeneratePerfect(seed, n, 1024, 64)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("n=%d/seed=%d", n, seed), func(b *testing.B) {
				var nodes int64
				for i := 0; i < b.N; i++ {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					sol, err := Place(ctx, p, Options{Capacity: p.Capacity})
					cancel()
					if err != nil {
						b.Fatal(err)
					}
					if sol.Status != Solved {
						b.Errorf("status %s after %v (%d nodes)", sol.Status, sol.Elapsed, sol.Nodes)
					}
					nodes = sol.Nodes
				}
				b.ReportMetric(float64(nodes), "nodes")
			})
		}
	}
}

// BenchmarkPerfectShort proves the same instances infeasible one byte short.
func BenchmarkPerfectShort(b *testing.B) {
	for _, n := range []int{150, 300, 450} {
		p, _, err := GeneratePerfect(1, n, 1024, 64)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				sol, err := Place(context.Background(), p, Options{Capacity: p.Capacity - 1})
				if err != nil || sol.Status != Infeasible {
					b.Fatalf("status %s, err %v", sol.Status, err)
				}
			}
		})
	}
}
