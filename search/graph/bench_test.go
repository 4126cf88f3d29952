package graph

import (
	"context"
	"testing"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// BenchmarkGraphs solves the BERT-base encoder layer (sequence 128) and
// ResNet-50 on edge_ai and datacenter, layerwise and joint, and reports the
// layerwise/joint latency and DRAM-byte ratios (go test -bench Graphs
// -benchtime 1x ./search/graph/).
func BenchmarkGraphs(b *testing.B) {
	for _, file := range []string{"bert_layer.json", "resnet50/resnet50.json"} {
		g, err := model.LoadFile(testdata + "/" + file)
		if err != nil {
			b.Fatal(err)
		}
		for _, cn := range []string{"edge_ai", "datacenter"} {
			cfg, err := kpu.Preset(cn)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(g.Name+"/"+cn, func(b *testing.B) {
				for b.Loop() {
					benchOne(b, g, cfg)
				}
			})
		}
	}
}

func benchOne(b *testing.B, g *model.Graph, cfg *kpu.Config) {
	ctx := context.Background()
	cache := &Cache{}
	lw, err := Solve(ctx, g, cfg, Options{Mode: ModeLayerwise, Objective: constraints.Latency, Cache: cache})
	if err != nil {
		b.Fatal(err)
	}
	jt, err := Solve(ctx, g, cfg, Options{Mode: ModeOptimal, Objective: constraints.Latency, Cache: cache})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(lw.Predicted.LatencyCycles)/float64(jt.Predicted.LatencyCycles), "lat-ratio")
	b.ReportMetric(float64(lw.Predicted.DRAMBytes)/float64(jt.Predicted.DRAMBytes), "dram-ratio")
	b.ReportMetric(float64(jt.Predicted.LatencyCycles), "joint-cycles")
	b.ReportMetric(float64(lw.Predicted.LatencyCycles), "layerwise-cycles")
	b.ReportMetric(jt.Seconds, "joint-s")
	b.ReportMetric(lw.Seconds, "layerwise-s")
	b.ReportMetric(jt.Gap, "joint-gap")
	b.ReportMetric(float64(len(jt.Resident)), "resident")
}
