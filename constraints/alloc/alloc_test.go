package alloc

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadCSVErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "in.csv: empty file"},
		{"missing column", "id,lower,upper\na,0,1\n", `in.csv:1: missing column "size"`},
		{"unknown column", "id,lower,upper,size,colour\n", `in.csv:1: column 5: unknown column "colour"`},
		{"repeated column", "id,lower,upper,size,size\n", `in.csv:1: column "size" appears twice`},
		{"duplicate id", "id,lower,upper,size\na,0,1,1\nb,0,1,1\na,2,3,1\n", `in.csv:4: id: "a" duplicates the buffer on line 2`},
		{"negative size", "id,lower,upper,size\na,0,1,-4\n", "in.csv:2: size: -4 is less than 0"},
		{"upper equals lower", "id,lower,upper,size\na,0,1,1\nb,5,5,1\n", "in.csv:3: upper: 5 must be greater than lower 5"},
		{"upper below lower", "id,lower,upper,size\nb,5,2,1\n", "in.csv:2: upper: 2 must be greater than lower 5"},
		{"non-numeric size", "id,lower,upper,size\na,0,1,4k\n", `in.csv:2: size: "4k" is not an integer`},
		{"non-numeric lower", "id,lower,upper,size\na,x,1,4\n", `in.csv:2: lower: "x" is not an integer`},
		{"empty id", "id,lower,upper,size\n,0,1,4\n", "in.csv:2: id: empty"},
		{"field count", "id,lower,upper,size\na,0,1\n", "in.csv:2: 3 fields, but the header has 4"},
		{"zero alignment", "id,lower,upper,size,alignment\na,0,1,4,0\n", "in.csv:2: alignment: 0 is less than 1"},
		{"negative offset", "id,lower,upper,size,offset\na,0,1,4,-1\n", "in.csv:2: offset: -1 is less than 0"},
		{"bad quoting", "id,lower,upper,size\n\"a,0,1,4\n", "in.csv:2:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(tt.in), "in.csv")
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCSVRoundTrip(t *testing.T) {
	in := "ID, Lower ,upper,size,alignment\r\nb1,0,3,4,1\nb2,3,9,4,2\n\n b3 ,0,9,4,4\n"
	f, err := ReadCSV(strings.NewReader(in), "in.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := Problem{Buffers: []Buffer{
		{ID: "b1", Lower: 0, Upper: 3, Size: 4, Alignment: 1},
		{ID: "b2", Lower: 3, Upper: 9, Size: 4, Alignment: 2},
		{ID: "b3", Lower: 0, Upper: 9, Size: 4, Alignment: 4},
	}}
	if diff := cmp.Diff(want, f.Problem); diff != "" {
		t.Fatalf("read (-want +got):\n%s", diff)
	}
	if f.Offsets != nil {
		t.Errorf("offsets %v from a file without an offset column", f.Offsets)
	}
	var out bytes.Buffer
	if err := WriteCSV(&out, &f.Problem, []int64{8, 4, 0}); err != nil {
		t.Fatal(err)
	}
	wantOut := "id,lower,upper,size,alignment,offset\nb1,0,3,4,1,8\nb2,3,9,4,2,4\nb3,0,9,4,4,0\n"
	if diff := cmp.Diff(wantOut, out.String()); diff != "" {
		t.Errorf("write (-want +got):\n%s", diff)
	}
	back, err := ReadCSV(&out, "out.csv")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(f.Problem, back.Problem); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{8, 4, 0}, back.Offsets); diff != "" {
		t.Errorf("offsets (-want +got):\n%s", diff)
	}
	// Without alignment and without offsets: the four MiniMalloc columns only.
	out.Reset()
	p := Problem{Buffers: []Buffer{{ID: "x", Lower: 1, Upper: 2, Size: 3}}}
	if err := WriteCSV(&out, &p, nil); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "id,lower,upper,size\nx,1,2,3\n" {
		t.Errorf("plain write: %q", got)
	}
	if err := WriteCSV(&out, &p, []int64{1, 2}); err == nil {
		t.Errorf("offset count mismatch: no error")
	}
}

func TestCheck(t *testing.T) {
	p := &Problem{Buffers: []Buffer{
		{ID: "a", Lower: 0, Upper: 4, Size: 4},
		{ID: "b", Lower: 2, Upper: 6, Size: 4, Alignment: 4},
		{ID: "c", Lower: 4, Upper: 8, Size: 4}, // not live with a
		{ID: "z", Lower: 0, Upper: 8, Size: 0}, // size 0 overlaps nothing
	}}
	tests := []struct {
		name     string
		offsets  []int64
		capacity int64
		want     string // "" = legal
		pair     [2]int
	}{
		{"legal", []int64{0, 4, 0, 3}, 8, "", [2]int{}},
		{"legal unbounded", []int64{0, 4, 0, 100}, 0, "", [2]int{}},
		{"overlap", []int64{0, 0, 4, 0}, 0, `buffers "a" [0,4) and "b" [0,4) are live together`, [2]int{0, 1}},
		{"overlap later pair", []int64{0, 4, 6, 0}, 0, `buffers "b" [4,8) and "c" [6,10)`, [2]int{1, 2}},
		{"capacity", []int64{0, 4, 0, 0}, 7, `buffer "b": end 8 exceeds capacity 7`, [2]int{1, -1}},
		{"alignment", []int64{0, 6, 0, 0}, 0, `buffer "b": offset 6 is not a multiple of its alignment 4`, [2]int{1, -1}},
		{"negative", []int64{-4, 4, 0, 0}, 0, `buffer "a": offset -4 is negative`, [2]int{0, -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Check(tt.offsets, tt.capacity)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				return
			}
			var c *Conflict
			if !errors.As(err, &c) {
				t.Fatalf("error %v, want a *Conflict", err)
			}
			if !strings.Contains(c.Error(), tt.want) || [2]int{c.A, c.B} != tt.pair {
				t.Errorf("conflict %q on %d,%d; want %q on %v", c, c.A, c.B, tt.want, tt.pair)
			}
		})
	}
	if err := p.Check([]int64{0}, 0); err == nil {
		t.Errorf("short offsets: no error")
	}
}

func TestPeakLoad(t *testing.T) {
	tests := []struct {
		name     string
		bufs     []Buffer
		load, at int64
	}{
		{"none", nil, 0, 0},
		{"half-open ends do not overlap", []Buffer{{ID: "a", Lower: 0, Upper: 2, Size: 5}, {ID: "b", Lower: 2, Upper: 4, Size: 7}}, 7, 2},
		{"overlap", []Buffer{{ID: "a", Lower: 0, Upper: 3, Size: 5}, {ID: "b", Lower: 2, Upper: 4, Size: 7}, {ID: "c", Lower: 3, Upper: 5, Size: 1}}, 12, 2},
		{"negative times", []Buffer{{ID: "a", Lower: -5, Upper: -1, Size: 2}, {ID: "b", Lower: -3, Upper: 0, Size: 2}}, 4, -3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Problem{Buffers: tt.bufs}
			load, at := p.PeakLoad()
			if load != tt.load || at != tt.at {
				t.Errorf("PeakLoad = %d at %d, want %d at %d", load, at, tt.load, tt.at)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Problem
		want string
	}{
		{"ok", Problem{Buffers: []Buffer{{ID: "a", Lower: 0, Upper: 1, Size: 1}}, Capacity: 3}, ""},
		{"negative capacity", Problem{Capacity: -1}, "capacity -1 is negative"},
		{"empty id", Problem{Buffers: []Buffer{{Lower: 0, Upper: 1}}}, "id is empty"},
		{"lifetime", Problem{Buffers: []Buffer{{ID: "a", Lower: 2, Upper: 1}}}, `buffer 0 (id "a"): upper 1 must be greater than lower 2`},
		{"duplicate", Problem{Buffers: []Buffer{{ID: "a", Lower: 0, Upper: 1}, {ID: "a", Lower: 0, Upper: 1}}}, `buffer 1: id "a" duplicates buffer 0`},
		{"alignment", Problem{Buffers: []Buffer{{ID: "a", Lower: 0, Upper: 1, Alignment: -2}}}, "alignment -2 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.want == "" {
				if err != nil {
					t.Errorf("unexpected %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}
