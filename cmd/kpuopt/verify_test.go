package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/lowering"
	"github.com/stillwater-sc/kpuopt/model"
)

// gemmProgram lowers a small MATMUL graph with a mapping that loads A and B
// in several groups (double buffered) and reloads partial sums.
func gemmProgram(t *testing.T) *kpu.Program {
	t.Helper()
	g, err := model.Parse([]byte(`{"name":"mm","tensors":{"A":{"shape":[24,20],"dtype":"float32"},"B":{"shape":[20,18],"dtype":"float32"},"C":{"shape":[24,18],"dtype":"float32"}},
"operators":[{"name":"mm","type":"MATMUL","inputs":["A","B"],"outputs":["C"]}]}`), "mm.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := kpu.Preset("minimal")
	if err != nil {
		t.Fatal(err)
	}
	m := model.Mapping{L3: model.Tile{M: 16, N: 12, K: 12}, L2: model.Tile{M: 8, N: 8, K: 8}, L3Order: "mnk", L2Order: "mnk",
		Split: model.Split{M: 1, N: 1, K: 1}, L3Buffers: model.Buffers{A: 2, B: 2, C: 1}, L2Buffers: model.Buffers{A: 2, B: 2, C: 1}}
	prog, err := lowering.Lower(context.Background(), g, lowering.Schedule{"mm": m}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	prog.Config = kpu.ConfigRef{Name: "minimal"}
	return prog
}

func writeProgram(t *testing.T, p *kpu.Program) string {
	t.Helper()
	b, err := kpu.MarshalProgram(p)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "prog.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVerifyGood(t *testing.T) {
	path := writeProgram(t, gemmProgram(t))
	out, errs, code := runConfigs(t, "verify", path)
	if code != exitOK || errs != "" {
		t.Fatalf("exit %d, stderr %q, stdout %s", code, errs, out)
	}
	checkGolden(t, "verify_gemm.txt", []byte(out))
	out, errs, code = runConfigs(t, "verify", path, "--format", "json", "--functional-limit", "100")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep["verified"] != true || rep["functional"] != false || !strings.Contains(rep["functional_note"].(string), "exceed the functional limit of 100") {
		t.Errorf("timing-only report: %v", rep)
	}
}

// TestVerifyMutants: every mutant of a correct program fails `verify`.
func TestVerifyMutants(t *testing.T) {
	firstLoad := func(p *kpu.Program, skip int) int {
		for i, c := range p.Commands {
			if c.Op == kpu.OpLoad {
				if skip == 0 {
					return i
				}
				skip--
			}
		}
		t.Fatal("no DMA load")
		return -1
	}
	tests := []struct {
		name   string
		mutate func(p *kpu.Program)
		msg    string
	}{
		{"drop a DMA load and every reference to it", func(p *kpu.Program) {
			i := firstLoad(p, 1)
			id := p.Commands[i].ID
			p.Commands = append(p.Commands[:i], p.Commands[i+1:]...)
			for k := range p.Commands {
				var deps []int
				for _, d := range p.Commands[k].Deps {
					if d != id {
						deps = append(deps, d)
					}
				}
				p.Commands[k].Deps = deps
			}
		}, "that no earlier command wrote"},
		{"shift one DMA destination address", func(p *kpu.Program) {
			p.Commands[firstLoad(p, 0)].Dst.Addr += 4
		}, "verification"},
		{"drop all deps", func(p *kpu.Program) {
			for k := range p.Commands {
				p.Commands[k].Deps = nil
			}
		}, "race"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := gemmProgram(t)
			tt.mutate(p)
			out, errs, code := runConfigs(t, "verify", writeProgram(t, p))
			if code != exitFailed {
				t.Fatalf("exit %d, want %d (stderr %q, stdout %s)", code, exitFailed, errs, out)
			}
			if strings.Count(errs, "\n") != 1 || !strings.Contains(errs, tt.msg) {
				t.Errorf("stderr %q: want one line containing %q", errs, tt.msg)
			}
			if !strings.Contains(out, "verified  false") {
				t.Errorf("stdout lacks the verdict:\n%s", out)
			}
		})
	}
}

func TestVerifyErrors(t *testing.T) {
	good := writeProgram(t, gemmProgram(t))
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"missing file", []string{"verify", "nope.json"}, "nope.json"},
		{"bad format", []string{"verify", good, "--format", "xml"}, "--format"},
		{"zero limit", []string{"verify", good, "--functional-limit", "0"}, "--functional-limit 0"},
		{"unknown config", []string{"verify", good, "--config", "huge"}, "huge"},
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
