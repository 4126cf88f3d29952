package model

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadFileMatmul(t *testing.T) {
	tests := []struct {
		file string
		want GEMMShape
	}{
		{"kpusim_matmul.json", GEMMShape{Batch: 1, M: 1024, N: 1024, K: 512, DType: Float32}},
		{"matmul.json", GEMMShape{Batch: 1, M: 1024, N: 1024, K: 512, DType: Float32}},
		{"matmul_shorthand.json", GEMMShape{Batch: 1, M: 1024, N: 1024, K: 512, DType: Float32}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			g, err := LoadFile(filepath.Join("..", "testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			s, ok, err := g.GEMM(g.Operators[0])
			if err != nil || !ok {
				t.Fatalf("GEMM: ok=%v err=%v", ok, err)
			}
			if diff := cmp.Diff(tc.want, s); diff != "" {
				t.Errorf("GEMM shape (-want +got):\n%s", diff)
			}
			if got := g.TotalWork().MACs; got != 536870912 {
				t.Errorf("MACs = %d, want 536870912", got)
			}
		})
	}
}

func TestParseOpTypeErrors(t *testing.T) {
	if _, err := ParseOpType("CONCAT"); !errors.Is(err, ErrUnsupportedOp) {
		t.Errorf("CONCAT: err = %v, want ErrUnsupportedOp", err)
	}
	if _, err := ParseOpType("FROB"); !errors.Is(err, ErrUnknownOp) {
		t.Errorf("FROB: err = %v, want ErrUnknownOp", err)
	}
	for alias, want := range opAliases {
		got, err := ParseOpType(alias)
		if err != nil || got != want {
			t.Errorf("ParseOpType(%q) = %q, %v; want %q", alias, got, err, want)
		}
	}
}

func TestLoadFileNetworks(t *testing.T) {
	tests := []struct {
		file string
		ops  int
		macs int64
	}{
		{"mlp.json", 6, 32 * (784*256 + 256*128 + 128*10)},
		{"resnet_block.json", 5, 2 * 56 * 56 * 64 * 64 * 9},
		{"transformer_encoder.json", 23, 4*128*256*256 + 2*4*128*128*64 + 2*128*256*1024},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			g, err := LoadFile(filepath.Join("..", "testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Operators) != tc.ops {
				t.Errorf("%d operators, want %d", len(g.Operators), tc.ops)
			}
			if got := g.TotalWork().MACs; got != tc.macs {
				t.Errorf("MACs = %d, want %d", got, tc.macs)
			}
		})
	}
}
