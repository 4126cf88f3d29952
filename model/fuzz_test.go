package model

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: no input makes Parse panic; whatever parses also writes and
// re-reads. Seeds are every graph under testdata/. Run longer with
// go test ./model -fuzz FuzzParse -fuzztime 30s.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"../testdata/*.json", "../testdata/graphs/*.json"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			if len(data) < 4096 {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(data, "fuzz")
		if err != nil {
			return
		}
		for _, op := range g.Operators {
			g.Work(op)
		}
		out, err := Marshal(g)
		if err != nil {
			t.Fatalf("Marshal of a valid graph: %v", err)
		}
		if _, err := Parse(out, "fuzz-rewrite"); err != nil {
			t.Fatalf("re-reading a written graph: %v\n%s", err, out)
		}
	})
}
