package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stillwater-sc/kpuopt/kpu"
)

func runLowerArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func TestLowerCommand(t *testing.T) {
	prog := filepath.Join(t.TempDir(), "mlp.program.json")
	code, out, errs := runLowerArgs(t, "lower", "../../testdata/mlp.json", "--config", "minimal", "--search", "greedy", "--verify", "-o", prog)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"fc1", "softmax", "predicted", "simulated", "verified"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	checkGolden(t, "lower_mlp_minimal.txt", []byte(out))
	p, err := kpu.LoadProgram(prog)
	if err != nil {
		t.Fatalf("program file: %v", err)
	}
	if len(p.Commands) == 0 || p.Graph == nil {
		t.Errorf("program has %d commands, graph %v", len(p.Commands), p.Graph != nil)
	}
	code, out, _ = runLowerArgs(t, "lower", "../../testdata/mlp.json", "--config", "minimal", "--search", "greedy", "--format", "json")
	if code != 0 || !strings.Contains(out, `"schedule"`) || !strings.Contains(out, `"simulated"`) {
		t.Errorf("json: exit %d\n%s", code, out)
	}
	for _, bad := range [][]string{
		{"lower", "../../testdata/mlp.json", "--search", "nope"},
		{"lower", "../../testdata/mlp.json", "--format", "csv"},
		{"lower", "../../testdata/no_such.json"},
	} {
		if code, _, errs := runLowerArgs(t, bad...); code != 2 || errs == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 with a message", bad, code, errs)
		}
	}
}
