package graph

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/model"
)

// TestReplayPatterns: with nothing resident the pattern replay is
// constraints.Replay exactly; each resident operand removes its DMA traffic
// and never makes the stream slower.
func TestReplayPatterns(t *testing.T) {
	cfg := preset(t, "edge_ai")
	p := constraints.Problem{Name: "g", Batch: 2, M: 100, N: 70, K: 90, DType: model.Float32}
	m := model.Mapping{
		L3: model.Tile{M: 64, N: 48, K: 32}, L2: model.Tile{M: 16, N: 16, K: 32}, L3Order: "kmn", L2Order: "mnk",
		Split: model.Split{M: 2, N: 1, K: 1}, L3Buffers: model.Buffers{A: 2, B: 2, C: 2}, L2Buffers: model.Buffers{A: 2, B: 2, C: 2},
	}
	pats := []Pattern{0, ResA, ResB, ResC, ResA | ResB | ResC}
	got, err := replayPatterns(context.Background(), p, m, cfg, pats)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := constraints.Replay(context.Background(), p, m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tr.Bytes, got[0].bytes); diff != "" || tr.Cycles != got[0].cycles {
		t.Errorf("no residency: %d cycles, replay %d; bytes (-replay +got):\n%s", got[0].cycles, tr.Cycles, diff)
	}
	// order kmn over trips (m 2, n 2, k 3): A is loaded once, B once per m
	// tile (twice), and C, with k outermost, goes out and back as partial sums
	e := p.ElemBytes()
	aBytes, bBytes := p.Batch*p.M*p.K*e, 2*p.Batch*p.K*p.N*e
	wantDRAM := map[Pattern]int64{
		ResA: tr.Bytes.DRAM() - aBytes,
		ResB: tr.Bytes.DRAM() - bBytes,
		ResC: aBytes + bBytes,
	}
	for i, pat := range pats[1:] {
		o := got[i+1]
		if o.cycles > got[0].cycles {
			t.Errorf("%s resident: %d cycles, more than %d without", pat, o.cycles, got[0].cycles)
		}
		if w, ok := wantDRAM[pat]; ok && o.bytes.DRAM() != w {
			t.Errorf("%s resident: %d DRAM bytes, want %d", pat, o.bytes.DRAM(), w)
		}
	}
	if all := got[len(got)-1]; all.bytes.DRAM() != 0 {
		t.Errorf("everything resident: %d DRAM bytes, want 0", all.bytes.DRAM())
	}
}
