package solver

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// enumerate lists every solution of m projected on the given integers and
// booleans (as sorted strings), adding blocking clauses as it goes.
func enumerate(t *testing.T, m *Model, xs []*Int, bs []Lit) []string {
	t.Helper()
	var out []string
	for n := 0; ; n++ {
		if n > 5000 {
			t.Fatalf("enumerate: more than 5000 solutions")
		}
		st, err := m.Solve(context.Background())
		if err != nil {
			t.Fatalf("solve: %v", err)
		}
		if st == Unsat {
			break
		}
		sol, err := m.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var key []string
		var block []Lit
		for _, x := range xs {
			i := sol.Index(x)
			key = append(key, fmt.Sprint(x.Values()[i]))
			block = append(block, x.IsIndex(i).Not())
		}
		for _, b := range bs {
			if sol.Value(b) {
				key = append(key, "1")
				block = append(block, b.Not())
			} else {
				key = append(key, "0")
				block = append(block, b)
			}
		}
		out = append(out, strings.Join(key, ","))
		m.AddClause(block...)
		if len(block) == 0 {
			break
		}
	}
	slices.Sort(out)
	return out
}

// product calls f on every combination of values (the last varies fastest).
func product(domains [][]int64, f func(vals []int64)) {
	vals := make([]int64, len(domains))
	var rec func(d int)
	rec = func(d int) {
		if d == len(domains) {
			f(vals)
			return
		}
		for _, v := range domains[d] {
			vals[d] = v
			rec(d + 1)
		}
	}
	rec(0)
}

func key(vals []int64) string {
	s := make([]string, len(vals))
	for i, v := range vals {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ",")
}

func bitsKey(mask, n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprint((mask >> i) & 1)
	}
	return strings.Join(s, ",")
}

func sortedUnique(vs []int64) []int64 {
	vs = slices.Clone(vs)
	slices.Sort(vs)
	return slices.Compact(vs)
}

func slicesSort(s []string) { slices.Sort(s) }
