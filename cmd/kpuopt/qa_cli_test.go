package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// qaMachine writes the tiny test machine (testdata/configs/tiny.json) with
// the given fields replaced into dir and returns its path.
func qaMachine(t *testing.T, dir, name string, set map[string]any) string {
	t.Helper()
	data, err := os.ReadFile("../../testdata/configs/tiny.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		cfg[k] = v
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// qaOutcome is what a command run shows a user: the exit code, whether
// stderr is one line, and whether it holds every expected fragment.
type qaOutcome struct {
	Code    int
	OneLine bool
	Missing []string
}

func qaRun(t *testing.T, want []string, args ...string) qaOutcome {
	t.Helper()
	_, errs, code := runConfigs(t, args...)
	o := qaOutcome{Code: code, OneLine: strings.Count(strings.TrimRight(errs, "\n"), "\n") == 0}
	for _, w := range want {
		if !strings.Contains(errs, w) {
			o.Missing = append(o.Missing, w)
		}
	}
	if len(o.Missing) > 0 {
		t.Logf("stderr: %s", errs)
	}
	return o
}

// TestQADRAMTooSmall: a graph whose tensors cannot be held in the machine's
// DRAM used to be "solved" (exit 0) by solve and solve-graph; it must exit
// 1 naming DRAM and the shortfall, before any search.
func TestQADRAMTooSmall(t *testing.T) {
	dir := t.TempDir()
	oneKiB := qaMachine(t, dir, "dram1k.json", map[string]any{"dram_channel_bytes": 1024})
	// matmul.json: A 2 MiB, B 2 MiB, C 4 MiB: each fits a 4 MiB channel, all
	// three together do not
	fourMiB := qaMachine(t, dir, "dram4m.json", map[string]any{"dram_channel_bytes": 4 << 20})
	mm := "../../testdata/matmul.json"
	mlp := "../../testdata/mlp.json"
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"solve one tensor", []string{"solve", mm, "--config", oneKiB}, []string{"DRAM", `tensor "A"`, "short by 2096128 B"}},
		{"solve all tensors", []string{"solve", mm, "--config", fourMiB}, []string{"DRAM", "need 8388608 B", "short by 4194304 B"}},
		{"solve-graph", []string{"solve-graph", mlp, "--config", oneKiB}, []string{"DRAM", `tensor "W1"`, "short by 801792 B"}},
		{"solve-graph sum", []string{"solve-graph", mm, "--config", fourMiB, "--mode", "optimal"}, []string{"DRAM", "short by 4194304 B"}},
		{"lower", []string{"lower", mlp, "--config", oneKiB}, []string{"DRAM", "short by"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := qaRun(t, tt.want, tt.args...)
			if diff := cmp.Diff(qaOutcome{Code: exitFailed, OneLine: true}, got); diff != "" {
				t.Errorf("%v (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

// TestQAMappingValues: a --mapping with impossible values is bad input
// (exit 2; it was exit 1, as if the machine had been too small).
func TestQAMappingValues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zero.json")
	if err := os.WriteFile(path, []byte(`{"l3":{"m":0}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	got := qaRun(t, []string{"--mapping", "l3.m = 0"}, "solve", "../../testdata/matmul.json", "--mapping", path)
	if diff := cmp.Diff(qaOutcome{Code: exitBadInput, OneLine: true}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestQAUnwritableOutput: an output path that cannot be written fails at
// once (exit 1, one line naming the path), before any search: it used to
// be found only after the whole run, and a directory gave an unclear
// "rename ... file exists".
func TestQAUnwritableOutput(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	mm := "../../testdata/matmul.json"
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"solve -o dir", []string{"solve", mm, "-o", dir}, []string{"-o: cannot write " + dir, "is a directory"}},
		{"solve -o missing dir", []string{"solve", mm, "-o", filepath.Join(dir, "nope", "x.json")}, []string{"-o", "no such file or directory"}},
		{"solve --program under a file", []string{"solve", mm, "--program", filepath.Join(file, "p.json")}, []string{"--program", "is not a directory"}},
		{"solve-graph -o dir", []string{"solve-graph", mm, "-o", dir}, []string{"is a directory"}},
		{"lower -o dir", []string{"lower", mm, "-o", dir}, []string{"is a directory"}},
		{"bench -o dir", []string{"bench", "--shapes", "8x8x8", "-o", dir}, []string{"is a directory"}},
		{"import -o dir", []string{"import", "../../testdata/onnx/mlp.onnx", "-o", dir}, []string{"is a directory"}},
		{"alloc -o dir", []string{"alloc", "../../testdata/alloc/readme.csv", "-o", dir}, []string{"is a directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := qaRun(t, tt.want, tt.args...)
			if diff := cmp.Diff(qaOutcome{Code: exitFailed, OneLine: true}, got); diff != "" {
				t.Errorf("%v (-want +got):\n%s", tt.args, diff)
			}
		})
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"file"}, names); diff != "" {
		t.Errorf("files left behind in %s (-want +got):\n%s", dir, diff)
	}
}

// TestQABenchSuiteName: an unknown --suite lists every suite; the message
// named only "gemm" though "graphs" is one too.
func TestQABenchSuiteName(t *testing.T) {
	got := qaRun(t, []string{`unknown suite "bogus"`, "gemm", `"graphs"`}, "bench", "--suite", "bogus")
	if diff := cmp.Diff(qaOutcome{Code: exitBadInput, OneLine: true}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestQAArgCountErrors: a wrong argument count names the command and its
// usage (cobra's bare "accepts 1 arg(s), received 0" named neither).
func TestQAArgCountErrors(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"solve"}, []string{"kpuopt solve: accepts 1 arg(s), received 0", "usage: kpuopt solve GRAPH"}},
		{[]string{"graph", "info", "a", "b"}, []string{"kpuopt graph info: accepts 1 arg(s), received 2", "usage: kpuopt graph info FILE"}},
		{[]string{"alloc"}, []string{"kpuopt alloc:", "usage: kpuopt alloc FILE.csv"}},
	}
	for _, tt := range tests {
		got := qaRun(t, tt.want, tt.args...)
		if diff := cmp.Diff(qaOutcome{Code: exitBadInput, OneLine: true}, got); diff != "" {
			t.Errorf("%v (-want +got):\n%s", tt.args, diff)
		}
	}
}

// TestQAOutputFileMode: output files are written through a temporary file
// and a rename; they came out private (0600, the temporary file's mode). A
// new file gets 0644, a replaced file keeps its mode.
func TestQAOutputFileMode(t *testing.T) {
	dir := t.TempDir()
	kept := filepath.Join(dir, "kept.json")
	if err := os.WriteFile(kept, []byte("old"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(kept, 0o640); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		file string
		want os.FileMode
	}{
		{"solve -o new", []string{"solve", "testdata/solve/tiny.json", "--config", "minimal", "-o", filepath.Join(dir, "s.json")}, "s.json", 0o644},
		{"solve --program new", []string{"solve", "testdata/solve/tiny.json", "--config", "minimal", "--program", filepath.Join(dir, "p.json")}, "p.json", 0o644},
		{"import -o new", []string{"import", "../../testdata/onnx/mlp.onnx", "-o", filepath.Join(dir, "g.json")}, "g.json", 0o644},
		{"solve -o existing", []string{"solve", "testdata/solve/tiny.json", "--config", "minimal", "-o", kept}, "kept.json", 0o640},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, errs, code := runConfigs(t, tt.args...); code != exitOK {
				t.Fatalf("exit %d: %s", code, errs)
			}
			fi, err := os.Stat(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want.String(), fi.Mode().Perm().String()); diff != "" {
				t.Errorf("mode (-want +got):\n%s", diff)
			}
		})
	}
}
