package lowering

import (
	"context"
	"testing"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
	sgraph "github.com/stillwater-sc/kpuopt/search/graph"
)

// TestGraphBoundBelowSimulated: the graph lower bound never exceeds the
// simulated latency and DRAM bytes of a schedule, for the shipped graphs on
// every preset, joint (with residency and fusion) and layerwise, each
// lowered to one program and run on the simulator. The large graphs (BERT
// layer, ResNet-50) and the ResNet block are in
// BenchmarkGraphBoundBelowSimulated.
func TestGraphBoundBelowSimulated(t *testing.T) {
	boundCases(t, []string{"mlp.json"}, []string{"minimal", "edge_ai", "embodied_ai", "datacenter"})
	boundCases(t, []string{"transformer_encoder.json"}, []string{"edge_ai", "datacenter"})
}

// BenchmarkGraphBoundBelowSimulated is TestGraphBoundBelowSimulated on the
// large graphs (minutes): go test -run - -bench GraphBound -benchtime 1x.
func BenchmarkGraphBoundBelowSimulated(b *testing.B) {
	for i := 0; i < b.N; i++ {
		boundCases(b, []string{"resnet_block.json"}, []string{"minimal", "edge_ai", "embodied_ai", "datacenter"})
		boundCases(b, []string{"bert_layer.json", "resnet50/resnet50.json"}, []string{"edge_ai", "datacenter"})
	}
}

func boundCases(t testing.TB, graphs, machines []string) {
	t.Helper()
	ctx := context.Background()
	for _, file := range graphs {
		g, err := model.LoadFile("../testdata/" + file)
		if err != nil {
			t.Fatal(err)
		}
		for _, mach := range machines {
			cfg, err := kpu.Preset(mach)
			if err != nil {
				t.Fatal(err)
			}
			for _, mode := range []string{sgraph.ModeOptimal, sgraph.ModeLayerwise} {
				gs, err := sgraph.Solve(ctx, g, cfg, sgraph.Options{Mode: mode, Seeds: []string{"greedy"}, Check: CheckSchedule(g, cfg)})
				if err != nil {
					t.Fatalf("%s %s %s: solve: %v", file, mach, mode, err)
				}
				prog, err := LowerGraphSchedule(ctx, g, gs, cfg)
				if err != nil {
					t.Fatalf("%s %s %s: lower: %v", file, mach, mode, err)
				}
				res, err := kpu.Simulate(ctx, prog, cfg, kpu.SimOptions{})
				if err != nil {
					t.Fatalf("%s %s %s: simulate: %v", file, mach, mode, err)
				}
				if gs.Bound.LatencyCycles > res.LatencyCycles || gs.Bound.DRAMBytes > res.DRAMBytes {
					t.Errorf("%s %s %s: bound %d cycles %d B above the simulated %d cycles %d B",
						file, mach, mode, gs.Bound.LatencyCycles, gs.Bound.DRAMBytes, res.LatencyCycles, res.DRAMBytes)
				}
				if testing.Verbose() {
					t.Logf("%s %s %s: bound %d, simulated %d cycles (gap %.1f %%), %d resident", file, mach, mode,
						gs.Bound.LatencyCycles, res.LatencyCycles, 100*(1-float64(gs.Bound.LatencyCycles)/float64(res.LatencyCycles)), len(gs.Resident))
				}
			}
		}
	}
}
