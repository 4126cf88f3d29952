package main

import (
	"encoding/csv"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCompareWholeGraph compares graphs with vector operators as a whole:
// every schedule lowers to one program, verifies, and is simulated exactly
// as predicted; the joint schedule is never slower than layerwise.
func TestCompareWholeGraph(t *testing.T) {
	for _, tc := range []struct{ graph, config string }{
		{"../../testdata/mlp.json", "minimal"},
		{"../../testdata/mlp.json", "edge_ai"},
	} {
		t.Run(tc.graph+"/"+tc.config, func(t *testing.T) {
			out, errs, code := runConfigs(t, "compare", tc.graph, "--config", tc.config, "--format", "csv", "--time-limit", "2s")
			if code != exitOK {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			var engines []string
			for _, r := range recs[1:] {
				engines = append(engines, r[0])
				if r[9] != "true" {
					t.Errorf("%s: not verified", r[0])
				}
				if r[2] != r[3] || r[6] != r[7] {
					t.Errorf("%s: predicted %s cycles / %s B, simulated %s / %s", r[0], r[2], r[6], r[3], r[7])
				}
			}
			if diff := cmp.Diff(compareGraphEngines, engines); diff != "" {
				t.Fatalf("engines (-want +got):\n%s", diff)
			}
			joint, err1 := strconv.ParseInt(recs[1][3], 10, 64)
			layer, err2 := strconv.ParseInt(recs[2][3], 10, 64)
			if err1 != nil || err2 != nil || joint > layer {
				t.Errorf("joint %s cycles vs layerwise %s: want joint <= layerwise", recs[1][3], recs[2][3])
			}
		})
	}
}

// TestExportWholeGraphSchedule: the JSON of a whole-graph solve exports the
// tilings of its GEMM-like operators (vector operators have none).
func TestExportWholeGraphSchedule(t *testing.T) {
	sched := t.TempDir() + "/s.json"
	if _, errs, code := runConfigs(t, "solve", "../../testdata/mlp.json", "--config", "minimal", "--format", "json", "-o", sched); code != exitOK {
		t.Fatalf("solve: exit %d, stderr %q", code, errs)
	}
	out, errs, code := runConfigs(t, "export", sched, "--to", "tilings")
	if code != exitOK {
		t.Fatalf("export: exit %d, stderr %q", code, errs)
	}
	for _, op := range []string{`"op": "fc1"`, `"op": "fc2"`, `"op": "fc3"`} {
		if !strings.Contains(out, op) {
			t.Errorf("tilings lack %s:\n%s", op, out)
		}
	}
	if strings.Contains(out, `"op": "softmax"`) {
		t.Errorf("tilings list the vector operator softmax:\n%s", out)
	}
}
