package constraints

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

func TestMoveHomesIntoTiles(t *testing.T) {
	cfg := &kpu.Config{L3Tiles: 2, L3TileBytes: 1024}
	rt := func(name string, off, bytes int64, first, last int) model.ResidentTensor {
		return model.ResidentTensor{Tensor: name, Bytes: bytes, First: first, Last: last, L3Offset: off}
	}
	tests := []struct {
		name    string
		in      []model.ResidentTensor
		want    []int64 // L3 offsets after the move
		wantBad int
	}{
		{"inside a tile stays", []model.ResidentTensor{rt("a", 100, 200, 0, 3)}, []int64{100}, -1},
		{"crossing moves to 0", []model.ResidentTensor{rt("a", 900, 200, 0, 3)}, []int64{0}, -1},
		{"skips a live tensor, rounded to 64 B",
			[]model.ResidentTensor{rt("a", 0, 100, 0, 5), rt("b", 1000, 200, 1, 2)}, []int64{0, 128}, -1},
		{"a dead tensor does not block",
			[]model.ResidentTensor{rt("a", 0, 100, 0, 0), rt("b", 1000, 200, 1, 2)}, []int64{0, 0}, -1},
		{"next tile when the first is full",
			[]model.ResidentTensor{rt("a", 0, 1000, 0, 5), rt("b", 1000, 200, 1, 2)}, []int64{0, 1024}, -1},
		{"earlier First is placed first",
			[]model.ResidentTensor{rt("late", 1000, 100, 2, 4), rt("early", 1010, 100, 1, 4)}, []int64{128, 0}, -1},
		{"no room",
			[]model.ResidentTensor{rt("a", 0, 1024, 0, 5), rt("b", 1024, 1000, 0, 5), rt("c", 1000, 100, 1, 2)}, []int64{0, 1024, 1000}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := append([]model.ResidentTensor(nil), tc.in...)
			bad := MoveHomesIntoTiles(rs, cfg)
			var got []int64
			for _, r := range rs {
				got = append(got, r.L3Offset)
			}
			if bad != tc.wantBad {
				t.Errorf("MoveHomesIntoTiles = %d, want %d", bad, tc.wantBad)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("offsets (-want +got):\n%s", d)
			}
		})
	}
}
