package solver

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIntRelations(t *testing.T) {
	dom := []int64{7, -3, 12, 0, 7, 40}
	vals := sortedUnique(dom)
	tests := []struct {
		name string
		lit  func(x *Int) Lit
		keep func(v int64) bool
	}{
		{"ge 7", func(x *Int) Lit { return x.Ge(7) }, func(v int64) bool { return v >= 7 }},
		{"ge 8", func(x *Int) Lit { return x.Ge(8) }, func(v int64) bool { return v >= 8 }},
		{"ge min", func(x *Int) Lit { return x.Ge(-100) }, func(v int64) bool { return true }},
		{"ge above", func(x *Int) Lit { return x.Ge(41) }, func(v int64) bool { return false }},
		{"gt 7", func(x *Int) Lit { return x.Gt(7) }, func(v int64) bool { return v > 7 }},
		{"le 0", func(x *Int) Lit { return x.Le(0) }, func(v int64) bool { return v <= 0 }},
		{"le 5", func(x *Int) Lit { return x.Le(5) }, func(v int64) bool { return v <= 5 }},
		{"lt 12", func(x *Int) Lit { return x.Lt(12) }, func(v int64) bool { return v < 12 }},
		{"eq 12", func(x *Int) Lit { return x.Eq(12) }, func(v int64) bool { return v == 12 }},
		{"eq 40", func(x *Int) Lit { return x.Eq(40) }, func(v int64) bool { return v == 40 }},
		{"eq -3", func(x *Int) Lit { return x.Eq(-3) }, func(v int64) bool { return v == -3 }},
		{"eq missing", func(x *Int) Lit { return x.Eq(5) }, func(v int64) bool { return false }},
		{"not eq 0", func(x *Int) Lit { return x.Eq(0).Not() }, func(v int64) bool { return v != 0 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewModel()
			x, err := m.NewInt("x", dom)
			if err != nil {
				t.Fatal(err)
			}
			m.Assert(tc.lit(x))
			got := enumerate(t, m, []*Int{x}, nil)
			var want []string
			for _, v := range vals {
				if tc.keep(v) {
					want = append(want, key([]int64{v}))
				}
			}
			slicesSort(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("solutions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIntErrors(t *testing.T) {
	m := NewModel()
	if _, err := m.NewInt("empty", nil); err == nil {
		t.Error("NewInt with no candidates: want error")
	}
	x, err := m.NewInt("one", []int64{5})
	if err != nil {
		t.Fatal(err)
	}
	if got := enumerate(t, m, []*Int{x}, nil); !cmp.Equal(got, []string{"5"}) {
		t.Errorf("single-value integer: got %v", got)
	}
}

func TestCardinality(t *testing.T) {
	tests := []struct {
		name string
		n    int
		add  func(m *Model, ls []Lit)
		keep func(count int) bool
	}{
		{"at most one of 4", 4, func(m *Model, ls []Lit) { m.AtMostOne(ls...) }, func(c int) bool { return c <= 1 }},
		{"at most one of 9", 9, func(m *Model, ls []Lit) { m.AtMostOne(ls...) }, func(c int) bool { return c <= 1 }},
		{"exactly one of 8", 8, func(m *Model, ls []Lit) { m.ExactlyOne(ls...) }, func(c int) bool { return c == 1 }},
		{"at most 3 of 7", 7, func(m *Model, ls []Lit) { m.AtMost(3, ls...) }, func(c int) bool { return c <= 3 }},
		{"at least 5 of 6", 6, func(m *Model, ls []Lit) { m.AtLeast(5, ls...) }, func(c int) bool { return c >= 5 }},
		{"at least 0 of 3", 3, func(m *Model, ls []Lit) { m.AtLeast(0, ls...) }, func(c int) bool { return true }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewModel()
			ls := m.NewBools(tc.n)
			tc.add(m, ls)
			got := enumerate(t, m, nil, ls)
			var want []string
			for mask := 0; mask < 1<<tc.n; mask++ {
				c := 0
				for i := 0; i < tc.n; i++ {
					c += (mask >> i) & 1
				}
				if tc.keep(c) {
					want = append(want, bitsKey(mask, tc.n))
				}
			}
			slicesSort(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("solutions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValueMatchesSnapshot(t *testing.T) {
	m := NewModel()
	x, err := m.NewInt("x", []int64{1, 2, 4, 8, 16, 32})
	if err != nil {
		t.Fatal(err)
	}
	y, err := m.NewInt("y", []int64{3, 5, 7})
	if err != nil {
		t.Fatal(err)
	}
	b := m.NewBool()
	free := m.NewBool() // in no clause
	m.AddImplication(b, x.Ge(8))
	m.AddClause(x.Le(4), y.Eq(5))
	for _, as := range [][]Lit{{b}, {b.Not(), x.Eq(2)}, {y.Eq(7)}, {x.Ge(16), y.Le(5)}} {
		st, err := m.Solve(t.Context(), as...)
		if err != nil || st != Sat {
			t.Fatalf("solve %v: %v %v", as, st, err)
		}
		sol, err := m.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range []Lit{b, b.Not(), free, free.Not(), m.True(), m.False()} {
			if got, want := m.Value(l), sol.Value(l); got != want {
				t.Errorf("assumptions %v: Value(%v) = %v, snapshot %v", as, l, got, want)
			}
		}
		for _, v := range []*Int{x, y} {
			if got, want := m.IntValue(v), sol.Int(v); got != want {
				t.Errorf("assumptions %v: IntValue(%s) = %d, snapshot %d", as, v.Name(), got, want)
			}
			if got, want := m.IntIndex(v), sol.Index(v); got != want {
				t.Errorf("assumptions %v: IntIndex(%s) = %d, snapshot %d", as, v.Name(), got, want)
			}
		}
	}
}
