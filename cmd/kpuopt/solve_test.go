package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fixedClock makes solve_seconds stable: every reading advances 1 ms.
func fixedClock(t *testing.T) {
	t.Helper()
	var tick time.Duration
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	old := solveClock
	solveClock = func() time.Time { tick += time.Millisecond; return base.Add(tick) }
	t.Cleanup(func() { solveClock = old })
}

func TestSolveGolden(t *testing.T) {
	tests := []struct {
		golden string
		args   []string
	}{
		{"solve/matmul_greedy.json", []string{"solve", "../../testdata/matmul.json", "--search", "greedy", "--format", "json"}},
		{"solve/matmul_kpusim_datacenter.txt", []string{"solve", "../../testdata/matmul.json", "--search", "kpusim", "--config", "datacenter"}},
		{"solve/tiny_optimal.json", []string{"solve", "testdata/solve/tiny.json", "--config", "minimal", "--format", "json"}},
		{"solve/tiny_optimal_traffic.txt", []string{"solve", "testdata/solve/tiny.json", "--config", "edge_ai", "--objective", "traffic"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			fixedClock(t)
			out, errs, code := runConfigs(t, tt.args...)
			if code != exitOK || errs != "" {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			checkGolden(t, tt.golden, []byte(out))
		})
	}
}

func TestSolveJSONKeys(t *testing.T) {
	out, errs, code := runConfigs(t, "solve", "testdata/solve/tiny.json", "--config", "minimal", "--format", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"status", "objective", "config", "solve_seconds", "predicted", "lower_bound", "gap", "ops"} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing key %q", k)
		}
	}
	for _, k := range []string{"latency_cycles", "energy_pj", "dram_bytes"} {
		if _, ok := m["predicted"].(map[string]any)[k]; !ok {
			t.Errorf("missing predicted.%s", k)
		}
	}
	for _, k := range []string{"latency_cycles", "dram_bytes"} {
		if _, ok := m["lower_bound"].(map[string]any)[k]; !ok {
			t.Errorf("missing lower_bound.%s", k)
		}
	}
	op := m["ops"].([]any)[0].(map[string]any)
	for _, k := range []string{"name", "type", "mapping"} {
		if _, ok := op[k]; !ok {
			t.Errorf("missing ops[0].%s", k)
		}
	}
	if m["status"] != "optimal" {
		t.Errorf("status %v, want optimal", m["status"])
	}
}

// TestSolveMappingRoundTrip: --mapping reproduces the figures of a solve from
// its own output (a single mapping and the {"ops": [...]} form), and -o writes
// the file.
func TestSolveMappingRoundTrip(t *testing.T) {
	dir := t.TempDir()
	res := filepath.Join(dir, "res.json")
	if _, errs, code := runConfigs(t, "solve", "../../testdata/matmul.json", "--search", "greedy", "--format", "json", "-o", res); code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	data, err := os.ReadFile(res)
	if err != nil {
		t.Fatal(err)
	}
	var rep solveReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	one, _ := json.Marshal(rep.Ops[0].Mapping)
	single := filepath.Join(dir, "one.json")
	os.WriteFile(single, one, 0o644)
	for _, mf := range []string{single, res} {
		out, errs, code := runConfigs(t, "solve", "../../testdata/matmul.json", "--mapping", mf, "--format", "json")
		if code != exitOK {
			t.Fatalf("--mapping %s: exit %d: %s", mf, code, errs)
		}
		var got solveReport
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		if got.Predicted != rep.Predicted || got.Status != "evaluated" {
			t.Errorf("--mapping %s: predicted %+v status %s, want %+v evaluated", mf, got.Predicted, got.Status, rep.Predicted)
		}
	}
}

func TestSolveErrors(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.json")
	// an L2 tile whose C2 block (64 x 512 fp32 = 128 KiB) exceeds a 64 KiB bank
	os.WriteFile(big, []byte(`{"l3":{"m":64,"n":1024,"k":16},"l2":{"m":64,"n":512,"k":16},"l3_order":"mnk","l2_order":"mnk",
		"split":{"m":1,"n":2,"k":1},"l3_buffers":{"a":1,"b":1,"c":1},"l2_buffers":{"a":1,"b":1,"c":1}}`), 0o644)
	tiny := filepath.Join(dir, "tiny.json")
	os.WriteFile(tiny, []byte(`{"name":"small","compute_tiles":1,"array_rows":8,"array_cols":8,"l3_tiles":1,"l3_tile_bytes":65536,
		"l2_banks":4,"l2_bank_bytes":32768,"l1_buffers":64,"l1_buffer_bytes":2,"dram_channels":1,"dram_channel_bytes":268435456,
		"dram_channel_gbps":50,"dma_engines":1,"block_movers":1,"streamers":4,"clock_ghz":0.5}`), 0o644)
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"infeasible mapping", []string{"solve", "../../testdata/matmul.json", "--mapping", big}, exitFailed, "short by 65536 B"},
		{"infeasible machine", []string{"solve", "testdata/solve/tiny.json", "--config", tiny}, exitFailed, "L1"},
		{"bad objective", []string{"solve", "../../testdata/matmul.json", "--objective", "speed"}, exitBadInput, "unknown objective"},
		{"bad engine", []string{"solve", "../../testdata/matmul.json", "--search", "magic"}, exitBadInput, "unknown search engine"},
		{"bad format", []string{"solve", "../../testdata/matmul.json", "--format", "xml"}, exitBadInput, "--format"},
		{"missing graph", []string{"solve", filepath.Join(dir, "none.json")}, exitBadInput, "none.json"},
		{"bad mapping file", []string{"solve", "../../testdata/matmul.json", "--mapping", tiny}, exitBadInput, "--mapping"},
		{"no args", []string{"solve"}, exitBadInput, "arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs, code := runConfigs(t, tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.msg) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
				t.Errorf("exit %d, stderr %q; want exit %d and one line containing %q", code, errs, tt.code, tt.msg)
			}
		})
	}
}

// TestSolveProvenGapIsZero: a proven optimum of one GEMM reports a gap of 0
// under every objective, EDP included (one operator keeps its own proven
// bound rather than the product of the latency and energy bounds).
func TestSolveProvenGapIsZero(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mm.json")
	g := `{"name": "mm", "tensors": {"A": {"shape": [64, 40], "dtype": "float32"}, "B": {"shape": [40, 48], "dtype": "float32"},
	  "C": {"shape": [64, 48], "dtype": "float32"}}, "operators": [{"name": "mm", "type": "MATMUL", "inputs": ["A", "B"], "outputs": ["C"]}]}`
	if err := os.WriteFile(path, []byte(g), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []string{"latency", "energy", "edp", "traffic"} {
		out, errs, code := runConfigs(t, "solve", path, "--config", "minimal", "--objective", obj, "--format", "json")
		if code != exitOK {
			t.Fatalf("%s: exit %d: %s", obj, code, errs)
		}
		var m struct {
			Status string  `json:"status"`
			Gap    float64 `json:"gap"`
		}
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatal(err)
		}
		if m.Status != "optimal" || m.Gap != 0 {
			t.Errorf("%s: status %s gap %v, want optimal with gap 0", obj, m.Status, m.Gap)
		}
	}
}
