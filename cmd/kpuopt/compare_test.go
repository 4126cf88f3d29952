package main

import (
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
)

func TestCompareCSV(t *testing.T) {
	out, errs, code := runConfigs(t, "compare", "testdata/compare_mm.json", "--config", "minimal", "--format", "csv", "--exhaustive", "never", "--time-limit", "5s")
	if code != exitOK || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 || recs[0][0] != "engine" || recs[0][8] != "slowdown" {
		t.Fatalf("CSV:\n%s", out)
	}
	engines := []string{"optimal", "kpusim", "greedy"}
	for i, r := range recs[1:] {
		if r[0] != engines[i] || r[9] != "true" {
			t.Errorf("row %d = %v: want engine %s, verified", i, r, engines[i])
		}
		if r[2] != r[3] || r[6] != r[7] {
			t.Errorf("row %v: predicted and simulated latency/bytes differ", r)
		}
	}
	if recs[1][8] != "1.0000" {
		t.Errorf("optimal slowdown %s, want 1.0000", recs[1][8])
	}
}

func TestCompareJSON(t *testing.T) {
	out, errs, code := runConfigs(t, "compare", "testdata/compare_mm.json", "--config", "minimal", "--format", "json", "--exhaustive", "always", "--time-limit", "1s")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	var res struct {
		Schedules []struct {
			Engine    string             `json:"engine"`
			Simulated map[string]float64 `json:"simulated"`
			Slowdown  float64            `json:"slowdown"`
			Verified  bool               `json:"verified"`
		} `json:"schedules"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Schedules) != 4 || res.Schedules[3].Engine != "exhaustive" {
		t.Fatalf("schedules: %+v", res.Schedules)
	}
	for _, s := range res.Schedules {
		if !s.Verified || s.Simulated["latency_cycles"] <= 0 || s.Slowdown < 1 {
			t.Errorf("schedule %+v: want verified, simulated latency, slowdown >= 1 against optimal", s)
		}
	}
}

func TestCompareErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"no config", []string{"compare", "testdata/compare_mm.json"}, "--config is required"},
		{"bad objective", []string{"compare", "testdata/compare_mm.json", "--config", "minimal", "--objective", "speed"}, "unknown objective"},
		{"bad exhaustive", []string{"compare", "testdata/compare_mm.json", "--config", "minimal", "--exhaustive", "maybe"}, "--exhaustive"},
		{"missing graph", []string{"compare", "testdata/no_such_graph.json", "--config", "minimal"}, "no_such_graph.json"},
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
