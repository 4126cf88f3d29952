package search

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/model"
)

func TestE2Prof(t *testing.T) {
	cn := os.Getenv("E2CFG")
	if cn == "" {
		cn = "edge_ai"
	}
	cfg := preset(t, cn)
	var d [3]int64
	d[0], d[1], d[2] = 1024, 1024, 512
	if v := os.Getenv("E2DIMS"); v != "" {
		fmt.Sscanf(v, "%d,%d,%d", &d[0], &d[1], &d[2])
	}
	p := constraints.Problem{Name: "t", Batch: 1, M: d[0], N: d[1], K: d[2], DType: model.Float32}
	start := time.Now()
	opts := Options{Objective: constraints.Latency, Progress: func(pr Progress) { t.Logf("progress %+v", pr) }}
	_ = start
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
	defer cancel()
	r, err := Optimal(ctx, p, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s %g bound %g gap %.4f eval %d considered %d %v map %+v", r.Status, r.Value, r.Bound, r.Gap, r.Evaluated, r.Considered, r.Elapsed, r.Mapping)
	tr, _ := constraints.Replay(context.Background(), p, r.Mapping, cfg)
	est, _ := constraints.Quick(p, r.Mapping, cfg)
	t.Logf("cmds %d cycles %d lower %d est %+v", tr.Commands, tr.Cycles, est.LowerCycles, est)
}

func TestE2Count(t *testing.T) {
	cfg := preset(t, "edge_ai")
	p := constraints.Problem{Name: "t", Batch: 1, M: 1024, N: 1024, K: 512, DType: model.Float32}
	sp := constraints.NewSpace(p, cfg)
	in := newIncumbent()
	in.value = 1117548
	res := &Result{ProblemBound: constraints.LowerBound(p, cfg)}
	var n, shapes, pass1, pass2 int
	var lbs []float64
	start := time.Now()
	err := optimalShapes(context.Background(), sp, constraints.Latency, in, res, func(s constraints.Shape) {
		shapes++
		se, err := constraints.PrepareShape(p, s, cfg)
		if err != nil {
			return
		}
		if float64(se.MinLowerCycles()) >= in.value {
			return
		}
		pass1++
		if !shapeCanBeat(se, in.value) {
			return
		}
		pass2++
		if se.FitsSingle() != nil {
			return
		}
		for o3 := 0; o3 < 6; o3++ {
			for o2 := 0; o2 < 6; o2++ {
				est := se.Estimate(o3, o2)
				if v := float64(est.LowerCycles); v < in.value {
					n++
					lbs = append(lbs, v)
				}
			}
		}
	})
	t.Logf("err %v shapes %d pass1 %d pass2 %d cands %d in %v", err, shapes, pass1, pass2, n, time.Since(start))
}
