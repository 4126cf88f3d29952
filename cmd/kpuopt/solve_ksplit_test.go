package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSolveKSplitGraph: a deep, narrow GEMM whose optimum splits K across
// the compute tiles solves, lowers and verifies both alone (per-operator
// path) and with a fused activation (whole-graph path, whose replay then
// meets the vector adds of the reduction).
func TestSolveKSplitGraph(t *testing.T) {
	dir := t.TempDir()
	graphs := map[string]string{
		"gemm.json": `{"name": "k", "tensors": {"X": {"shape": [8, 4096], "dtype": "float32"}, "W": {"shape": [4096, 8], "dtype": "float32"},
		  "Y": {"shape": [8, 8], "dtype": "float32"}}, "operators": [{"name": "mm", "type": "MATMUL", "inputs": ["X", "W"], "outputs": ["Y"]}]}`,
		"fused.json": `{"name": "k", "tensors": {"X": {"shape": [8, 4096], "dtype": "float32"}, "W": {"shape": [4096, 8], "dtype": "float32"},
		  "Y": {"shape": [8, 8], "dtype": "float32"}, "Z": {"shape": [8, 8], "dtype": "float32"}},
		  "operators": [{"name": "mm", "type": "MATMUL", "inputs": ["X", "W"], "outputs": ["Y"]}, {"name": "act", "type": "RELU", "inputs": ["Y"], "outputs": ["Z"]}]}`,
	}
	for name, g := range graphs {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(g), 0o644); err != nil {
			t.Fatal(err)
		}
		out, errs, code := runConfigs(t, "solve", path, "--config", "edge_ai", "--verify")
		if code != exitOK {
			t.Fatalf("%s: exit %d: %s", name, code, errs)
		}
		if !strings.Contains(out, "1x1x2") {
			t.Errorf("%s: no K split (1x1x2) in the schedule:\n%s", name, out)
		}
		if !strings.Contains(out, "verified   true") {
			t.Errorf("%s: not verified:\n%s", name, out)
		}
	}
}
