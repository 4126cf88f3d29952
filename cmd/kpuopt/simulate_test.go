package main

import (
	"encoding/json"
	"strings"
	"testing"
)

const programs = "../../testdata/programs/"

func TestSimulateGolden(t *testing.T) {
	tests := []struct {
		golden string
		args   []string
	}{
		{"simulate_single_tile.txt", []string{"simulate", programs + "matmul_single_tile.json"}},
		{"simulate_epilogue_functional.txt", []string{"simulate", programs + "vector_epilogue.json", "--functional"}},
		{"simulate_double_buffered.json", []string{"simulate", programs + "matmul_tiled_double_buffered.json", "--format", "json", "--functional", "--seed", "3"}},
		{"simulate_single_tile_edge_ai.txt", []string{"simulate", programs + "matmul_single_tile.json", "--config", "edge_ai"}},
		{"simulate_transpose_trace.txt", []string{"simulate", programs + "transpose_block_mover.json", "--trace"}},
		{"simulate_vector_ops_trace.json", []string{"simulate", programs + "vector_ops.json", "--trace", "--functional", "--format", "json"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			out, errs, code := runConfigs(t, tt.args...)
			if code != exitOK || errs != "" {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			checkGolden(t, tt.golden, []byte(out))
		})
	}
}

func TestSimulateJSONKeys(t *testing.T) {
	out, errs, code := runConfigs(t, "simulate", programs+"matmul_single_tile.json", "--format", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"latency_cycles", "dram_bytes", "energy_pj", "engines", "levels"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON output lacks %q", k)
		}
	}
}

func TestSimulateErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"race", []string{"simulate", programs + "matmul_bad_missing_dep.json"}, exitFailed,
			"command 20: race: fabric 0 reads L1 buffer 1"},
		{"bank overflow", []string{"simulate", programs + "matmul_bad_bank_overflow.json", "--functional"}, exitFailed,
			"exceeds L2 bank 0 capacity of 65536 bytes"},
		{"missing file", []string{"simulate", programs + "nope.json"}, exitBadInput, "nope.json"},
		{"unknown config", []string{"simulate", programs + "matmul_single_tile.json", "--config", "huge"}, exitBadInput, "huge"},
		{"bad format", []string{"simulate", programs + "matmul_single_tile.json", "--format", "xml"}, exitBadInput, "--format \"xml\""},
		{"config too small", []string{"simulate", programs + "matmul_tiled_double_buffered.json", "--config", "minimal"}, exitFailed,
			"engine dma 1 does not exist"},
		{"no argument", []string{"simulate"}, exitBadInput, "accepts 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := runConfigs(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.code, errs)
			}
			if out != "" {
				t.Errorf("stdout %q, want empty", out)
			}
			if strings.Count(errs, "\n") != 1 || !strings.Contains(errs, tt.msg) {
				t.Errorf("stderr %q: want one line containing %q", errs, tt.msg)
			}
		})
	}
}
