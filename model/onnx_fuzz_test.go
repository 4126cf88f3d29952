package model

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseONNX: no input makes the ONNX importer panic, and whatever it
// imports writes and re-reads as a kpuopt graph. Seeds are the committed
// models under testdata/onnx/ and the test models with symbolic dims. Run
// longer with go test ./model -run '^$' -fuzz FuzzParseONNX -fuzztime 60s.
func FuzzParseONNX(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(onnxDir, "*.onnx"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := ParseONNX(data, "fuzz.onnx", ONNXOptions{Dims: map[string]int64{}})
		if err != nil {
			return
		}
		for _, op := range g.Operators {
			g.Work(op)
		}
		out, err := Marshal(g)
		if err != nil {
			t.Fatalf("Marshal of an imported graph: %v", err)
		}
		if _, err := Parse(out, "fuzz-rewrite"); err != nil {
			t.Fatalf("re-reading an imported graph: %v\n%s", err, out)
		}
	})
}
