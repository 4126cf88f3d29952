package model

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestMalformedGraphs loads every testdata/graphs/bad_*.json and compares the
// error messages with testdata/graphs/errors.golden (go test -update rewrites
// it). Every case must fail with ErrInvalid, ErrUnknownOp or ErrUnsupportedOp.
func TestMalformedGraphs(t *testing.T) {
	dir := filepath.Join("..", "testdata", "graphs")
	files, err := filepath.Glob(filepath.Join(dir, "bad_*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("found %d malformed cases, want at least 20", len(files))
	}
	sort.Strings(files)
	var got strings.Builder
	for _, f := range files {
		_, err := LoadFile(f)
		if err == nil {
			t.Errorf("%s: loaded without error", f)
			continue
		}
		if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnknownOp) && !errors.Is(err, ErrUnsupportedOp) {
			t.Errorf("%s: error %v is not ErrInvalid, ErrUnknownOp or ErrUnsupportedOp", f, err)
		}
		msg := strings.ReplaceAll(err.Error(), filepath.ToSlash(dir)+"/", "")
		if strings.Contains(msg, "\n") {
			t.Errorf("%s: message spans lines: %q", f, msg)
		}
		got.WriteString(msg + "\n")
	}
	golden := filepath.Join(dir, "errors.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./model -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got.String()); diff != "" {
		t.Errorf("error messages (-golden +got):\n%s", diff)
	}
}
