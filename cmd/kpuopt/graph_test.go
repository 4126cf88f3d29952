package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func runGraph(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return out.String(), errb.String(), code
}

const graphData = "../../testdata"

func TestGraphInfoGolden(t *testing.T) {
	tests := []struct {
		golden string
		args   []string
	}{
		{"graph_info_mlp.txt", []string{"graph", "info", graphData + "/mlp.json"}},
		{"graph_info_resnet_block.txt", []string{"graph", "info", graphData + "/resnet_block.json"}},
		{"graph_info_transformer.json", []string{"graph", "info", "--format", "json", graphData + "/transformer_encoder.json"}},
		{"graph_check_matmul.txt", []string{"graph", "check", graphData + "/matmul_shorthand.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			out, errs, code := runGraph(t, tt.args...)
			if code != exitOK || errs != "" {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			checkGolden(t, tt.golden, []byte(out))
		})
	}
}

func TestGraphInfoMACs(t *testing.T) {
	for _, f := range []string{"kpusim_matmul.json", "matmul.json", "matmul_shorthand.json"} {
		out, errs, code := runGraph(t, "graph", "info", "--format", "json", filepath.Join(graphData, f))
		if code != exitOK {
			t.Fatalf("%s: exit %d: %s", f, code, errs)
		}
		var doc struct {
			MACs      int64 `json:"macs"`
			Operators []struct {
				MACs int64 `json:"macs"`
			} `json:"operators"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if doc.MACs != 536870912 || len(doc.Operators) != 1 || doc.Operators[0].MACs != 536870912 {
			t.Errorf("%s: macs = %d, operators %+v; want 536870912", f, doc.MACs, doc.Operators)
		}
	}
}

func TestGraphCheckMalformed(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(graphData, "graphs", "bad_*.json"))
	if err != nil || len(files) < 20 {
		t.Fatalf("found %d malformed graphs (%v), want >= 20", len(files), err)
	}
	for _, f := range files {
		for _, sub := range []string{"check", "info"} {
			out, errs, code := runGraph(t, "graph", sub, f)
			if code != exitBadInput {
				t.Errorf("graph %s %s: exit %d, want %d", sub, f, code, exitBadInput)
			}
			if out != "" {
				t.Errorf("graph %s %s: stdout %q, want nothing", sub, f, out)
			}
			if strings.Count(errs, "\n") != 1 || !strings.HasPrefix(errs, "kpuopt: "+f+": ") {
				t.Errorf("graph %s %s: stderr %q, want one line naming the file", sub, f, errs)
			}
		}
	}
}

func TestGraphUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"graph", "check", "no/such/file.json"}, "no such file"},
		{[]string{"graph", "info", "--format", "yaml", graphData + "/mlp.json"}, `--format "yaml"`},
		{[]string{"graph", "info"}, "accepts 1 arg"},
		{[]string{"graph", "check", "a.json", "b.json"}, "accepts 1 arg"},
	}
	for _, tt := range tests {
		out, errs, code := runGraph(t, tt.args...)
		if code != exitBadInput || out != "" || !strings.Contains(errs, tt.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q", tt.args, code, out, errs, tt.want)
		}
	}
	if diff := cmp.Diff(1, strings.Count(func() string { _, e, _ := runGraph(t, "graph", "info", "x"); return e }(), "\n")); diff != "" {
		t.Errorf("error lines (-want +got):\n%s", diff)
	}
}
