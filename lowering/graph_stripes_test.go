package lowering

import (
	"context"
	"testing"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
	sgraph "github.com/stillwater-sc/kpuopt/search/graph"
	"github.com/stillwater-sc/kpuopt/verify"
)

// smallTiles is preset name with its L3 cut into tiles of tileBytes (the
// same capacity), so that the test graphs' tensors exceed one L3 tile.
func smallTiles(t testing.TB, name string, tileBytes int64) *kpu.Config {
	t.Helper()
	cfg, err := kpu.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	total := cfg.L3Bytes()
	cfg.L3TileBytes = tileBytes
	cfg.L3Tiles = int(total / tileBytes)
	cfg.Name += "-small-l3-tiles"
	return cfg
}

// TestStripedHomes: joint schedules whose resident tensors exceed one L3
// tile (striped homes, docs/graph-schedules.md §6) lower to one program
// that passes every simulator check, computes the reference numbers, and
// takes exactly the predicted cycles and DRAM bytes; no access to a home
// crosses an L3 tile.
func TestStripedHomes(t *testing.T) {
	tests := []struct {
		graph string
		cfg   *kpu.Config
	}{
		{"resnet_block.json", smallTiles(t, "datacenter", 256<<10)},
		{"transformer_encoder.json", smallTiles(t, "embodied_ai", 64<<10)},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.graph+"/"+tt.cfg.Name, func(t *testing.T) {
			g, err := model.LoadFile("../testdata/" + tt.graph)
			if err != nil {
				t.Fatal(err)
			}
			gs, err := sgraph.Solve(ctx, g, tt.cfg, sgraph.Options{Seeds: []string{"greedy"}, Check: CheckSchedule(g, tt.cfg)})
			if err != nil {
				t.Fatalf("solve: %v", err)
			}
			striped := 0
			for _, r := range gs.Resident {
				if constraints.StripedHomeTiles(r.Bytes, tt.cfg) > 0 {
					striped++
				}
			}
			if striped == 0 {
				t.Fatalf("no striped home among %d resident tensors: the test does not exercise them", len(gs.Resident))
			}
			prog, err := LowerGraphSchedule(ctx, g, gs, tt.cfg)
			if err != nil {
				t.Fatalf("lower: %v", err)
			}
			rep, err := verify.Program(ctx, prog, tt.cfg, verify.Options{Seed: 7})
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if !rep.Verified || !rep.Functional {
				t.Fatalf("not verified (functional %v): %v", rep.Functional, rep.Reasons)
			}
			if sim := rep.Simulated; sim.LatencyCycles != gs.Predicted.LatencyCycles || sim.DRAMBytes != gs.Predicted.DRAMBytes {
				t.Errorf("simulated %d cycles %d DRAM B, predicted %d cycles %d B", sim.LatencyCycles, sim.DRAMBytes, gs.Predicted.LatencyCycles, gs.Predicted.DRAMBytes)
			}
			t.Logf("%d resident, %d striped; %d cycles", len(gs.Resident), striped, gs.Predicted.LatencyCycles)
		})
	}
}

// TestStripeHomesRejects: a striped home whose accesses leave no cut
// within its tiles is a *HomeError naming it.
func TestStripeHomesRejects(t *testing.T) {
	cfg := &kpu.Config{L3Tiles: 4, L3TileBytes: 1024}
	b := &Builder{cfg: cfg, prog: &kpu.Program{}}
	// one access over the whole 1500-byte tensor from the home at tile 1
	b.prog.Commands = []kpu.Command{{Op: kpu.OpMove, DType: model.Float32,
		Src: &kpu.Access{Level: kpu.L3, Unit: 1, Addr: 0, Shape: []int64{375}, DType: model.Float32}}}
	h := &residentHomes{cfg: cfg, spans: []model.ResidentTensor{{Tensor: "big", Bytes: 1500, First: 0, Last: 0, L3Offset: 1024}}}
	err := b.stripeHomes(h, [][2]int{{0, 1}})
	he, ok := err.(*HomeError)
	if !ok || len(he.Tensors) != 1 || he.Tensors[0] != "big" {
		t.Fatalf("err = %v, want a *HomeError naming big", err)
	}
}
