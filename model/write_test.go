package model

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var graphFiles = []string{
	"matmul.json", "matmul_shorthand.json", "kpusim_matmul.json", "mlp.json",
	"resnet_block.json", "transformer_encoder.json",
}

// TestRoundTrip: Marshal then Parse gives the same graph, and Marshal is a
// fixed point (writing the re-read graph gives the same bytes).
func TestRoundTrip(t *testing.T) {
	for _, name := range graphFiles {
		t.Run(name, func(t *testing.T) {
			g, err := LoadFile(filepath.Join("..", "testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			data, err := Marshal(g)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(data, "roundtrip")
			if err != nil {
				t.Fatalf("re-read: %v\n%s", err, data)
			}
			if diff := cmp.Diff(g, back, cmpopts.IgnoreFields(Graph{}, "Source")); diff != "" {
				t.Errorf("round trip (-orig +reread):\n%s", diff)
			}
			again, err := Marshal(back)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(data), string(again)); diff != "" {
				t.Errorf("second write differs:\n%s", diff)
			}
		})
	}
}

func TestWriteFile(t *testing.T) {
	g, err := LoadFile(filepath.Join("..", "testdata", "mlp.json"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "out.json")
	if err := WriteFile(path, g); err != nil {
		t.Fatal(err)
	}
	back, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(g, back, cmpopts.IgnoreFields(Graph{}, "Source")); diff != "" {
		t.Errorf("(-orig +reread):\n%s", diff)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only out.json (no temp files left)", len(entries))
	}
}
