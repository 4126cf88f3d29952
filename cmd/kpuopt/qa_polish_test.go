package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stillwater-sc/kpuopt/model"
)

// TestLowerTimeLimit: --time-limit bounds the whole of `lower`; when it
// expires (or on Ctrl-C) lower exits 1 with one line naming the limit and
// leaves no output file.
func TestLowerTimeLimit(t *testing.T) {
	mlp := "../../testdata/mlp.json"
	tests := []struct {
		name      string
		args      []string
		cancelled bool // the context is cancelled before the run (Ctrl-C)
		code      int
		want      []string // stderr fragments
		written   bool     // -o file exists afterwards
	}{
		{"within the limit", []string{"--search", "greedy", "--time-limit", "30s"}, false, exitOK, nil, true},
		{"expired", []string{"--time-limit", "1ns"}, false, exitFailed,
			[]string{"lower ../../testdata/mlp.json: stopped by the time limit of 1ns (--time-limit) while searching", "not written", "deadline exceeded"}, false},
		{"expired with verify", []string{"--time-limit", "1ns", "--verify"}, false, exitFailed, []string{"time limit of 1ns"}, false},
		{"interrupted", []string{"--search", "greedy"}, true, exitFailed, []string{"interrupted while searching", "not written"}, false},
		{"zero limit", []string{"--time-limit", "0s"}, false, exitBadInput, []string{"--time-limit 0s: want a positive duration"}, false},
		{"negative limit", []string{"--time-limit", "-1s"}, false, exitBadInput, []string{"--time-limit -1s"}, false},
		{"unparsable limit", []string{"--time-limit", "soon"}, false, exitBadInput, []string{"time-limit"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prog := filepath.Join(t.TempDir(), "p.json")
			args := append([]string{"lower", mlp, "--config", "minimal", "-o", prog}, tt.args...)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelled {
				cancel()
			}
			var out, errb bytes.Buffer
			code := run(ctx, args, &streams{In: strings.NewReader(""), Out: &out, Err: &errb})
			errs := errb.String()
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.code, errs)
			}
			if n := strings.Count(errs, "\n"); n > 1 {
				t.Errorf("stderr has %d lines, want at most one: %q", n, errs)
			}
			for _, w := range tt.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr %q lacks %q", errs, w)
				}
			}
			if _, err := os.Stat(prog); (err == nil) != tt.written {
				t.Errorf("-o file exists: %v, want %v", err == nil, tt.written)
			}
			if entries, _ := os.ReadDir(filepath.Dir(prog)); len(entries) > 1 || (len(entries) == 1 && !tt.written) {
				t.Errorf("leftover files: %v", entries)
			}
		})
	}
}

// TestLowerOpLimit: unless --op-time-limit is given, the per-operator
// searches share half of --time-limit, at most 2 s each.
func TestLowerOpLimit(t *testing.T) {
	g, err := model.LoadFile("../../testdata/mlp.json") // 3 GEMM-like operators
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		o     lowerOptions
		limit time.Duration
	}{
		{"shared", lowerOptions{timeLimit: 6 * time.Second, opTimeLimit: 2 * time.Second}, time.Second},
		{"capped by the default", lowerOptions{timeLimit: 30 * time.Second, opTimeLimit: 2 * time.Second}, 2 * time.Second},
		{"given", lowerOptions{timeLimit: 6 * time.Second, opTimeLimit: 5 * time.Second, opTimeSet: true}, 5 * time.Second},
		{"given as none", lowerOptions{timeLimit: 6 * time.Second, opTimeSet: true}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.o.opLimit(g); got != tt.limit {
				t.Errorf("opLimit = %v, want %v", got, tt.limit)
			}
		})
	}
}

func TestCell(t *testing.T) {
	tests := []struct{ in, want string }{
		{"fc1", "fc1"},
		{"layer 1/conv", "layer 1/conv"},
		{"größe", "größe"},
		{"a\nb", `"a\nb"`},
		{"a\tb", `"a\tb"`},
		{"a\rb", `"a\rb"`},
		{"\x1b[31mred", `"\x1b[31mred"`},
		{"bad\xffutf8", `"bad\xffutf8"`},
		{`"quoted"`, `"\"quoted\""`},
		{"", ""},
	}
	for _, tt := range tests {
		if got := cell(tt.in); got != tt.want {
			t.Errorf("cell(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if got, want := cellList([]string{"a", "b\nc"}, ", "), `a, "b\nc"`; got != want {
		t.Errorf("cellList = %s, want %s", got, want)
	}
}

// weirdGraph writes an MLP layer whose operator and tensor names hold a
// newline, a tab and an escape character.
func weirdGraph(t *testing.T) string {
	t.Helper()
	const g = `{"name": "odd\nnames", "tensors": {
		"x\ty": {"shape": [16, 32], "dtype": "float32"},
		"W": {"shape": [32, 16], "dtype": "float32"},
		"h\n1": {"shape": [16, 16], "dtype": "float32"},
		"out\u001b": {"shape": [16, 16], "dtype": "float32"}},
	"operators": [
		{"name": "fc\n1", "type": "MATMUL", "inputs": ["x\ty", "W"], "outputs": ["h\n1"]},
		{"name": "relu\t1", "type": "RELU", "inputs": ["h\n1"], "outputs": ["out\u001b"]}]}`
	path := filepath.Join(t.TempDir(), "odd.json")
	if err := os.WriteFile(path, []byte(g), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTableNamesEscaped: names holding control characters are printed
// quoted in tables (every row one line, no raw tab or escape), while JSON
// keeps the raw names.
func TestTableNamesEscaped(t *testing.T) {
	path := weirdGraph(t)
	tests := []struct {
		name  string
		args  []string
		lines int      // lines of output
		want  []string // quoted names that must appear
	}{
		{"graph info", []string{"graph", "info", path}, 8, []string{`"odd\nnames"`, `"x\ty"`, `"fc\n1"`, `"h\n1"`, `"relu\t1"`, `"out\x1b"`}},
		{"lower", []string{"lower", path, "--config", "minimal", "--search", "greedy"}, 6, []string{`"fc\n1"`, `"relu\t1"`}},
		{"solve", []string{"solve", path, "--config", "minimal", "--search", "greedy"}, 7, []string{`"odd\nnames"`, `"fc\n1"`, `"relu\t1"`}},
		{"solve-graph", []string{"solve-graph", path, "--config", "minimal", "--mode", "layerwise", "--seed-time", "100ms"}, 7, []string{`"odd\nnames"`, `"fc\n1"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := runConfigs(t, tt.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			if strings.ContainsAny(out, "\t\x1b\r") {
				t.Errorf("output holds a raw control character:\n%s", out)
			}
			if n := strings.Count(strings.TrimRight(out, "\n"), "\n") + 1; n != tt.lines {
				t.Errorf("%d lines, want %d:\n%s", n, tt.lines, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %s:\n%s", w, out)
				}
			}
		})
	}
	// JSON keeps the raw names
	out, errs, code := runConfigs(t, "lower", path, "--config", "minimal", "--search", "greedy", "--format", "json")
	if code != 0 {
		t.Fatalf("lower json: exit %d: %s", code, errs)
	}
	var rep struct {
		Schedule struct {
			Graph string `json:"graph"`
			Ops   []struct {
				Name string `json:"name"`
			} `json:"ops"`
		} `json:"schedule"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("lower json: %v\n%s", err, out)
	}
	var names []string
	for _, op := range rep.Schedule.Ops {
		names = append(names, op.Name)
	}
	if diff := cmp.Diff([]string{"fc\n1", "relu\t1"}, names); diff != "" {
		t.Errorf("json op names (-want +got):\n%s", diff)
	}
	if rep.Schedule.Graph != "odd\nnames" {
		t.Errorf("json graph name %q, want the raw name", rep.Schedule.Graph)
	}
}

// TestProgramFileErrors: program files with overflowing address arithmetic
// or an invalid embedded graph are bad input (exit 2), reported on one line
// that names the file once, the command and the field.
func TestProgramFileErrors(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile("../../testdata/programs/matmul_single_tile.json")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	overflow := write("overflow.json", strings.Replace(string(good), `"strides":[128,4]`, `"strides":[9223372036854775807,4]`, 1))
	badGraph := write("badgraph.json", `{"name":"p","config":"minimal","graph":{"name":"g","tensors":{"x":{"shape":[2],"dtype":"float32"}},
		"operators":[{"name":"r","type":"RELU","inputs":["x"],"outputs":["y"]}]},"commands":[]}`)
	tests := []struct {
		name string
		args []string
		file string
		want []string
	}{
		{"simulate overflow", []string{"simulate", overflow}, overflow, []string{"command 0: field src.strides[0]: stride 9223372036854775807 times 15", "overflows int64"}},
		{"verify overflow", []string{"verify", overflow}, overflow, []string{"command 0: field src.strides[0]", "overflows int64"}},
		{"simulate bad graph", []string{"simulate", badGraph}, badGraph, []string{badGraph + `: program graph: operator "r" (RELU)`}},
		{"verify bad graph", []string{"verify", badGraph}, badGraph, []string{badGraph + ": program graph: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs, code := runConfigs(t, tt.args...)
			if code != exitBadInput {
				t.Fatalf("exit %d, want %d; stderr: %s", code, exitBadInput, errs)
			}
			if n := strings.Count(errs, "\n"); n != 1 {
				t.Errorf("stderr has %d lines, want one: %q", n, errs)
			}
			if n := strings.Count(errs, tt.file); n != 1 {
				t.Errorf("stderr names the file %d times, want once: %s", n, errs)
			}
			for _, w := range tt.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr %q lacks %q", errs, w)
				}
			}
		})
	}
}
