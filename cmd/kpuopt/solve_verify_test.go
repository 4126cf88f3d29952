package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/verify"
)

func TestSolveVerifyJSON(t *testing.T) {
	prog := filepath.Join(t.TempDir(), "out", "..", "prog.json")
	out, errs, code := runConfigs(t, "solve", "testdata/compare_mm.json", "--config", "minimal", "--search", "kpusim",
		"--verify", "--program", prog, "--format", "json")
	if code != exitOK || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	var rep struct {
		Predicted   map[string]float64 `json:"predicted"`
		Simulated   map[string]float64 `json:"simulated"`
		Verified    *bool              `json:"verified"`
		Functional  *bool              `json:"functional"`
		ProgramFile string             `json:"program_file"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Verified == nil || !*rep.Verified || rep.Functional == nil || !*rep.Functional || rep.ProgramFile != prog {
		t.Fatalf("report: %s", out)
	}
	for _, k := range []string{"latency_cycles", "dram_bytes", "energy_pj"} {
		if rep.Simulated[k] <= 0 || rep.Simulated[k] != rep.Predicted[k] {
			t.Errorf("simulated %s = %v, predicted %v", k, rep.Simulated[k], rep.Predicted[k])
		}
	}
	p, err := kpu.LoadProgram(prog)
	if err != nil {
		t.Fatal(err)
	}
	vr, err := verify.Program(context.Background(), p, nil, verify.Options{Seed: 9})
	if err != nil || !vr.Verified {
		t.Fatalf("written program does not verify: %v %+v", err, vr)
	}
}

func TestSolveTrace(t *testing.T) {
	out, errs, code := runConfigs(t, "solve", "testdata/compare_mm.json", "--config", "minimal", "--search", "kpusim", "--trace", "--verify")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	flat := strings.Join(lines, "\n")
	for _, want := range []string{"verified true numerics checked", "cycle end engine op tile src dst id", "\n0 108 dma 0 load matmul:A[0,0] dram[0]@0x0 l3[0]@0x0 0\n", "fabric 0 matmul matmul:C[0,0] l1[0]@0x0,l1[2]@0x0"} {
		if !strings.Contains(flat, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// a graph with vector operators is scheduled, lowered and verified whole
	for _, engine := range []string{"kpusim", "layerwise"} {
		out, errs, code = runConfigs(t, "solve", "../../testdata/mlp.json", "--config", "minimal", "--search", engine, "--verify", "--format", "json")
		if code != exitOK {
			t.Fatalf("graph with vector ops, --search %s: exit %d, stderr %q", engine, code, errs)
		}
		var rep struct {
			Verified  bool           `json:"verified"`
			Predicted map[string]any `json:"predicted"`
			Simulated map[string]any `json:"simulated"`
			Ops       []struct {
				Name    string         `json:"name"`
				Mapping map[string]any `json:"mapping"`
			} `json:"ops"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if !rep.Verified || len(rep.Ops) != 6 || rep.Simulated == nil {
			t.Errorf("--search %s: verified %v, %d ops, simulated %v: want verified, all 6 operators, simulated figures", engine, rep.Verified, len(rep.Ops), rep.Simulated)
		}
		for _, op := range rep.Ops {
			if len(op.Mapping) == 0 {
				t.Errorf("--search %s: operator %s has no mapping", engine, op.Name)
			}
		}
	}
}
