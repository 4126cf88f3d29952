package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stillwater-sc/kpuopt/constraints/alloc"
	"github.com/stillwater-sc/kpuopt/search/placer"
)

// runAllocCmd runs kpuopt in-process with stdin and returns stdout, stderr and the exit code.
func runAllocCmd(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &streams{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	return out.String(), errb.String(), code
}

const allocData = "../../testdata/alloc/"

func TestAllocGolden(t *testing.T) {
	tests := []struct {
		golden string
		args   []string
		stderr string // the summary line must contain it
	}{
		{"alloc/readme_fit.csv", []string{"alloc", allocData + "readme.csv", "--capacity", "12"}, "peak 12, capacity 12, proven to fit"},
		{"alloc/readme_min.csv", []string{"alloc", allocData + "readme.csv"}, "peak 12, capacity none, proven optimal"},
		{"alloc/aligned_min.csv", []string{"alloc", allocData + "aligned.csv"}, "peak 5, capacity none, proven optimal"},
		{"alloc/aligned3_min9.csv", []string{"alloc", allocData + "aligned3.csv", "--capacity", "9", "--minimize-peak"}, "peak 6, capacity 9, proven optimal"},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			out, errs, code := runAllocCmd(t, "", tt.args...)
			if code != exitOK {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			if !strings.Contains(errs, tt.stderr) || strings.Count(errs, "\n") != 1 {
				t.Errorf("stderr %q, want one summary line containing %q", errs, tt.stderr)
			}
			checkGolden(t, tt.golden, []byte(out))
			// The output is a legal placement of the input.
			f, err := alloc.ReadCSV(strings.NewReader(out), "stdout")
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Problem.Check(f.Offsets, 0); err != nil {
				t.Errorf("output placement illegal: %v", err)
			}
		})
	}
}

func TestAllocOutputFileAndStdin(t *testing.T) {
	in, err := os.ReadFile(allocData + "readme.csv")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "out.csv")
	out, errs, code := runAllocCmd(t, string(in), "alloc", "-", "--capacity", "12", "-o", path)
	if code != exitOK || out != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "alloc/readme_fit.csv", got)
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("%d files in the output directory, want only out.csv (no temp files left)", len(entries))
	}
}

func TestAllocFailures(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dup := write("dup.csv", "id,lower,upper,size\na,0,1,1\na,1,2,1\n")
	neg := write("neg.csv", "id,lower,upper,size\na,0,1,-1\n")
	empty := write("life.csv", "id,lower,upper,size\na,0,1,1\nb,4,4,1\n")
	nan := write("nan.csv", "id,lower,upper,size\na,0,one,1\n")
	cols := write("cols.csv", "id,start,end,size\n")
	nosize := write("nosize.csv", "id,lower,upper\na,0,1\n")
	// A perfect packing: fits exactly; undecided under a tiny time limit when
	// the greedy pass cannot place it.
	p, _, err := placer.GeneratePerfect(2, 450, 1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := alloc.WriteCSV(&buf, p, nil); err != nil {
		t.Fatal(err)
	}
	hard := write("hard.csv", buf.String())
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"load bound", []string{"alloc", allocData + "readme.csv", "--capacity", "11"}, exitFailed, "infeasible"},
		{"search proof", []string{"alloc", allocData + "aligned.csv", "--capacity", "4"}, exitFailed, "infeasible: the 2 buffers cannot be placed in 4 bytes (proven by branch-and-bound)"},
		{"one byte short", []string{"alloc", hard, "--capacity", "1023"}, exitFailed, "infeasible"},
		{"time limit", []string{"alloc", hard, "--capacity", "1024", "--time-limit", "1ns"}, exitFailed, "time limit"},
		{"duplicate id", []string{"alloc", dup}, exitBadInput, "dup.csv:3: id: \"a\" duplicates the buffer on line 2"},
		{"negative size", []string{"alloc", neg}, exitBadInput, "neg.csv:2: size: -1 is less than 0"},
		{"empty lifetime", []string{"alloc", empty}, exitBadInput, "life.csv:3: upper: 4 must be greater than lower 4"},
		{"non-numeric", []string{"alloc", nan}, exitBadInput, `nan.csv:2: upper: "one" is not an integer`},
		{"unknown column", []string{"alloc", cols}, exitBadInput, `cols.csv:1: column 2: unknown column "start"`},
		{"missing column", []string{"alloc", nosize}, exitBadInput, `nosize.csv:1: missing column "size"`},
		{"no such file", []string{"alloc", filepath.Join(dir, "none.csv")}, exitBadInput, "none.csv"},
		{"zero capacity", []string{"alloc", allocData + "readme.csv", "--capacity", "0"}, exitBadInput, "--capacity 0: must be a positive number of bytes"},
		{"bad time limit", []string{"alloc", allocData + "readme.csv", "--time-limit", "soon"}, exitBadInput, "time-limit"},
		{"no file", []string{"alloc"}, exitBadInput, "accepts 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := runAllocCmd(t, "", tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tt.code, errs)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			last := errs[strings.LastIndex(strings.TrimSuffix(errs, "\n"), "\n")+1:]
			if !strings.HasPrefix(last, "kpuopt: ") || !strings.Contains(last, tt.want) {
				t.Errorf("last stderr line %q, want it to contain %q", last, tt.want)
			}
		})
	}
}
