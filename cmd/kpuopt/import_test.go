package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stillwater-sc/kpuopt/model"
)

const onnxData = "../../testdata/onnx"

// sameGraph loads two graph files and compares them (ignoring where they
// were read from).
func sameGraph(t *testing.T, gotPath, wantPath string) {
	t.Helper()
	got, err := model.LoadFile(gotPath)
	if err != nil {
		t.Fatalf("reading the written graph: %v", err)
	}
	want, err := model.LoadFile(wantPath)
	if err != nil {
		t.Fatal(err)
	}
	got.Source, want.Source = "", ""
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("graph differs from %s (-want +got):\n%s", wantPath, d)
	}
}

func TestImport(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name       string
		args       []string
		out        string // -o file, "" for stdout
		twin       string
		wantStderr string
	}{
		{name: "mlp to file", args: []string{"import", onnxData + "/mlp.onnx", "-o", filepath.Join(dir, "mlp.json")},
			out: filepath.Join(dir, "mlp.json"), twin: "mlp.json",
			wantStderr: `imported ../../testdata/onnx/mlp.onnx -> ` + filepath.Join(dir, "mlp.json") + `: graph "mlp", 4 operators (1 ADD, 1 LINEAR, 1 MATMUL, 1 RELU), 9 tensors (5 inputs), 3072 MACs, 288 vector ops` + "\n"},
		{name: "conv block to stdout", args: []string{"import", onnxData + "/conv_block.onnx"}, twin: "conv_block.json",
			wantStderr: `imported ../../testdata/onnx/conv_block.onnx -> stdout: graph "conv_block", 5 operators (1 AVGPOOL, 1 CONV2D, 1 MAXPOOL, 1 RELU, 1 RESHAPE), 8 tensors (3 inputs), 55296 MACs, 6656 vector ops` + "\n"},
		{name: "symbolic batch", args: []string{"import", onnxData + "/mlp_dynamic.onnx", "--dim", "batch=3", "-o", filepath.Join(dir, "dyn.json")},
			out: filepath.Join(dir, "dyn.json"), twin: "mlp_dynamic.json",
			wantStderr: `imported ../../testdata/onnx/mlp_dynamic.onnx -> ` + filepath.Join(dir, "dyn.json") + `: graph "mlp_dynamic", 2 operators (1 LINEAR, 1 SIGMOID), 5 tensors (3 inputs), 1536 MACs, 192 vector ops` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := runGraph(t, tc.args...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errs)
			}
			if d := cmp.Diff(tc.wantStderr, errs); d != "" {
				t.Errorf("stderr (-want +got):\n%s", d)
			}
			file := tc.out
			if file == "" {
				file = filepath.Join(t.TempDir(), "stdout.json")
				if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			} else if out != "" {
				t.Errorf("stdout should be empty with -o, got %q", out)
			}
			sameGraph(t, file, filepath.Join(onnxData, tc.twin))
		})
	}
}

func TestImportErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.onnx")
	if err := os.WriteFile(garbage, []byte{0x08, 0x08, 0x3a, 0xff, 0xff, 0xff}, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing dim", []string{"import", onnxData + "/mlp_dynamic.onnx"}, exitBadInput,
			`graph input "x": dim 0 is the symbolic "batch": give it a value (kpuopt import --dim batch=N`},
		{"bad dim syntax", []string{"import", onnxData + "/mlp_dynamic.onnx", "--dim", "batch"}, exitBadInput, `--dim "batch": want NAME=VALUE`},
		{"bad dim value", []string{"import", onnxData + "/mlp_dynamic.onnx", "--dim", "batch=0"}, exitBadInput, `the value must be an integer >= 1`},
		{"unknown dim", []string{"import", onnxData + "/mlp.onnx", "--dim", "seq=4"}, exitBadInput, `dim override "seq" does not name a symbolic dimension`},
		{"no such file", []string{"import", filepath.Join(dir, "nope.onnx")}, exitBadInput, "no such file"},
		{"malformed", []string{"import", garbage}, exitBadInput, garbage + ": cannot import ONNX model: malformed ONNX protobuf"},
		{"no argument", []string{"import"}, exitBadInput, "accepts 1 arg"},
		{"unwritable output", []string{"import", onnxData + "/mlp.onnx", "-o", filepath.Join(dir, "no/such/dir/g.json")}, exitFailed, "write "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := runGraph(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tc.code, errs)
			}
			if !strings.Contains(errs, tc.want) || strings.Count(errs, "\n") != 1 {
				t.Fatalf("stderr %q: want one line containing %q", errs, tc.want)
			}
			if out != "" {
				t.Errorf("stdout should be empty, got %q", out)
			}
		})
	}
}

// TestGraphCommandsReadONNX: graph check/info take .onnx files through
// model.LoadFile.
func TestGraphCommandsReadONNX(t *testing.T) {
	out, errs, code := runGraph(t, "graph", "check", onnxData+"/attention.onnx")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := `../../testdata/onnx/attention.onnx: ok: graph "attention", 8 operators, 13 tensors, 8192 MACs` + "\n"
	if d := cmp.Diff(want, out); d != "" {
		t.Errorf("graph check (-want +got):\n%s", d)
	}
}
