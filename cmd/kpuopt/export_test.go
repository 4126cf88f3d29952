package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tinySchedule is a copy of `solve testdata/solve/tiny.json --config minimal
// --format json` (the export input; kept apart from solve's golden files).
const tinySchedule = "testdata/export/tiny_schedule.json"

func TestExportGolden(t *testing.T) {
	tests := []struct {
		golden string
		args   []string
	}{
		{"export/tiny_tilings.json", []string{"export", tinySchedule, "--to", "tilings"}},
		{"export/tiny_timeloop.yaml", []string{"export", tinySchedule, "--to", "timeloop"}},
		{"export/tiny_proj_dfx.json", []string{"export", tinySchedule, "--to", "dfx", "--op", "proj"}},
		{"export/tiny_fc_tilings_edge_ai.json", []string{"export", tinySchedule, "--to", "tilings", "--op", "fc", "--config", "edge_ai"}},
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

// TestExportDFXMatchesSchedule exports a larger schedule and checks the DFX
// kernel against the schedule's own figures: one operation per command of
// the lowered stream, dependencies only on earlier operations, and the DRAM
// bytes of the data moves equal to the predicted DRAM traffic.
func TestExportDFXMatchesSchedule(t *testing.T) {
	dir := t.TempDir()
	sched := filepath.Join(dir, "mm.json")
	if _, errs, code := runConfigs(t, "solve", "../../testdata/matmul.json", "--config", "edge_ai", "--search", "greedy", "--format", "json", "-o", sched); code != exitOK {
		t.Fatalf("solve: exit %d, stderr %q", code, errs)
	}
	var sf struct {
		Ops []struct {
			Commands  int `json:"commands"`
			Predicted struct {
				DRAMBytes int64 `json:"dram_bytes"`
			} `json:"predicted"`
		} `json:"ops"`
	}
	data, err := os.ReadFile(sched)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &sf); err != nil || len(sf.Ops) != 1 {
		t.Fatalf("schedule: %v, %d ops", err, len(sf.Ops))
	}
	out := filepath.Join(dir, "mm.dfx.json")
	if _, errs, code := runConfigs(t, "export", sched, "--to", "dfx", "-o", out); code != exitOK {
		t.Fatalf("export: exit %d, stderr %q", code, errs)
	}
	if data, err = os.ReadFile(out); err != nil {
		t.Fatal(err)
	}
	var prog struct {
		Operations []struct {
			OpID      int64   `json:"op_id"`
			DependsOn []int64 `json:"depends_on"`
			Type      string  `json:"type"`
		} `json:"operations"`
		Hints struct {
			DRAM int64 `json:"estimated_dram_bytes"`
		} `json:"hints"`
	}
	if err := json.Unmarshal(data, &prog); err != nil {
		t.Fatal(err)
	}
	if len(prog.Operations) != sf.Ops[0].Commands {
		t.Errorf("%d operations, the schedule has %d commands", len(prog.Operations), sf.Ops[0].Commands)
	}
	if prog.Hints.DRAM != sf.Ops[0].Predicted.DRAMBytes {
		t.Errorf("DFX DRAM bytes %d, predicted %d", prog.Hints.DRAM, sf.Ops[0].Predicted.DRAMBytes)
	}
	for i, op := range prog.Operations {
		if op.OpID != int64(i) {
			t.Fatalf("operation %d has op_id %d", i, op.OpID)
		}
		for _, d := range op.DependsOn {
			if d < 0 || d >= op.OpID {
				t.Fatalf("operation %d depends on %d: not an earlier operation", op.OpID, d)
			}
		}
	}
}

func TestExportErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, err := os.ReadFile(tinySchedule)
	if err != nil {
		t.Fatal(err)
	}
	badTile := write("bad_tile.json", strings.Replace(string(good), `"l2": {
          "m": 7,
          "n": 5,
          "k": 12`, `"l2": {
          "m": 9,
          "n": 5,
          "k": 12`, 1))
	badOrder := write("bad_order.json", strings.Replace(string(good), `"l3_order": "mnk"`, `"l3_order": "mmk"`, 1))
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"no format", []string{"export", tinySchedule}, `--to ""`},
		{"bad format", []string{"export", tinySchedule, "--to", "onnx"}, "want tilings, timeloop or dfx"},
		{"missing file", []string{"export", filepath.Join(dir, "none.json"), "--to", "tilings"}, "no such file"},
		{"not json", []string{"export", write("x.json", "mapping: yes"), "--to", "tilings"}, "not a schedule"},
		{"a graph", []string{"export", "testdata/solve/tiny.json", "--to", "tilings"}, `no "ops" list`},
		{"empty ops", []string{"export", write("e.json", `{"config":"minimal","ops":[]}`), "--to", "tilings"}, "nothing to export"},
		{"no mapping", []string{"export", write("nm.json", `{"config":"minimal","ops":[{"name":"a","shape":{"batch":1,"m":2,"n":2,"k":2,"dtype":"float32"}}]}`), "--to", "tilings"}, `missing "mapping"`},
		{"l2 tile over l3", []string{"export", badTile, "--to", "timeloop"}, "mapping.l2.m = 9: want 1 to 7"},
		{"bad order", []string{"export", badOrder, "--to", "tilings"}, `mapping.l3_order "mmk"`},
		{"unknown op", []string{"export", tinySchedule, "--to", "tilings", "--op", "nope"}, `--op "nope": no such operator (have fc, proj)`},
		{"dfx needs op", []string{"export", tinySchedule, "--to", "dfx"}, "choose it with --op (one of fc, proj)"},
		{"dfx too big", []string{"export", tinySchedule, "--to", "dfx", "--op", "fc", "--max-ops", "3"}, "more than 3 operations"},
		{"unknown config", []string{"export", tinySchedule, "--to", "tilings", "--config", "nosuchmachine"}, "nosuchmachine"},
		{"no config", []string{"export", write("nc.json", `{"ops":[{"name":"a","shape":{"batch":1,"m":2,"n":2,"k":2,"dtype":"float32"},"mapping":{}}]}`), "--to", "tilings"}, "mapping.l3.m = 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs, code := runConfigs(t, tt.args...)
			if code != exitBadInput || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, tt.msg) {
				t.Errorf("exit %d, stderr %q: want exit %d and one line containing %q", code, errs, exitBadInput, tt.msg)
			}
		})
	}
}

func TestExportToFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.yaml")
	out, errs, code := runConfigs(t, "export", tinySchedule, "--to", "timeloop", "--op", "fc", "-o", path)
	if code != exitOK || out != "" || errs != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "kpuopt mapping of fc") || strings.Contains(string(data), "proj") {
		t.Errorf("file holds:\n%s", data)
	}
}
