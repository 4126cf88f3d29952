package constraints

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

func TestStripeCuts(t *testing.T) {
	r := func(s, e int64) L3Range { return L3Range{Start: s, End: e} }
	tests := []struct {
		name     string
		n        int64
		k        int
		accesses []L3Range
		want     []int64
		wantErr  string
	}{
		{"fits one tile", 900, 2, nil, []int64{0}, ""},
		{"no accesses: tile-sized stripes", 2500, 3, nil, []int64{0, 1000, 2000}, ""},
		{"cut moves back to an access start", 1800, 2, []L3Range{r(900, 1100)}, []int64{0, 900}, ""},
		{"touching accesses leave the shared end", 1800, 2, []L3Range{r(0, 500), r(500, 1000), r(1000, 1500)}, []int64{0, 1000}, ""},
		{"overlapping accesses merge", 1800, 3, []L3Range{r(600, 950), r(900, 1200)}, []int64{0, 600, 1600}, ""},
		{"rows of 300 B", 1800, 3, []L3Range{r(0, 300), r(300, 600), r(600, 900), r(900, 1200), r(1200, 1500), r(1500, 1800)}, []int64{0, 900}, ""},
		{"too many stripes", 2500, 2, nil, nil, "more than 2 stripes"},
		{"an access longer than a tile", 3000, 4, []L3Range{r(500, 1700)}, nil, "span more than one L3 tile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := StripeCuts(tt.n, 1000, tt.k, tt.accesses)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("cuts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHomeRange(t *testing.T) {
	cfg := &kpu.Config{L3Tiles: 8, L3TileBytes: 1000}
	tests := []struct {
		bytes, off int64
		want       L3Range
	}{
		{900, 50, L3Range{50, 950}},
		{1000, 0, L3Range{0, 1000}},
		{1001, 2000, L3Range{2000, 5000}}, // 2 tiles of bytes + 1 spare
		{3000, 1000, L3Range{1000, 5000}},
	}
	for _, tt := range tests {
		got := HomeRange(model.ResidentTensor{Bytes: tt.bytes, L3Offset: tt.off}, cfg)
		if got != tt.want {
			t.Errorf("HomeRange(%d B at %d) = %v, want %v", tt.bytes, tt.off, got, tt.want)
		}
	}
}
