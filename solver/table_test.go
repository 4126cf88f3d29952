package solver

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTable(t *testing.T) {
	tests := []struct {
		name    string
		domains [][]int64
		f       func(v []int64) int64
	}{
		{"constant", nil, func(v []int64) int64 { return 42 }},
		{"one int, per-candidate cost", [][]int64{{1, 4, 16, 64}}, func(v []int64) int64 { return 1000 / v[0] }},
		{"product", [][]int64{{16, 32, 48}, {1, 7, 64, 128}}, func(v []int64) int64 { return v[0] * v[1] }},
		{"ceil division", [][]int64{{16, 32, 48}, {3, 5, 100}}, func(v []int64) int64 { return (100 + v[0] - 1) / v[0] * ((77 + v[1] - 1) / v[1]) }},
		{"three-way volume", [][]int64{{1, 2, 5}, {3, 4}, {2, 9, 10}}, func(v []int64) int64 { return v[0]*v[1]*v[2] - 3*v[1] }},
		{"negative values", [][]int64{{-4, 0, 3}, {-1, 2}}, func(v []int64) int64 { return v[0]*v[1] - 7 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewModel()
			var xs []*Int
			for i, d := range tc.domains {
				x, err := m.NewInt(string(rune('a'+i)), d)
				if err != nil {
					t.Fatal(err)
				}
				xs = append(xs, x)
			}
			l, err := m.Table(xs, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			s, err := m.NewSum(l)
			if err != nil {
				t.Fatal(err)
			}
			var got, want []int64
			product(tc.domains, func(vals []int64) {
				var as []Lit
				for i, x := range xs {
					as = append(as, x.Eq(vals[i]))
				}
				st, err := m.Solve(t.Context(), as...)
				if err != nil || st != Sat {
					t.Fatalf("solve %v: %v %v", vals, st, err)
				}
				sol, err := m.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, sol.Sum(s))
				want = append(want, tc.f(vals))
			})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("table values (-want +got):\n%s", diff)
			}
		})
	}
}

func TestForbidMonotone(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	randDom := func(n int) []int64 {
		d := make([]int64, n)
		for i := range d {
			d[i] = 1 + r.Int64N(64)
		}
		return sortedUnique(d)
	}
	type tcase struct {
		name    string
		domains [][]int64
		bad     func(v []int64) bool
	}
	tests := []tcase{
		{"single", [][]int64{{1, 2, 3, 4}}, func(v []int64) bool { return v[0] > 2 }},
		{"nothing fits", [][]int64{{5, 6}, {1, 2}}, func(v []int64) bool { return true }},
		{"everything fits", [][]int64{{5, 6}, {1, 2}}, func(v []int64) bool { return false }},
		{"area", [][]int64{{8, 16, 32, 64}, {8, 16, 32, 64}}, func(v []int64) bool { return v[0]*v[1] > 512 }},
		{"footprint", [][]int64{{16, 32, 48, 64}, {16, 32, 48, 64}, {1, 16, 64, 128}},
			func(v []int64) bool { return 2*(v[0]*v[2]+v[2]*v[1])+v[0]*v[1] > 8192 }},
	}
	for i := 0; i < 4; i++ {
		doms := [][]int64{randDom(5), randDom(4), randDom(6)}
		capa := 2000 + r.Int64N(40000)
		tests = append(tests, tcase{"random footprint", doms, func(v []int64) bool {
			return v[0]*v[1]+v[1]*v[2]+v[0]*v[2] > capa
		}})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewModel()
			var xs []*Int
			for i, d := range tc.domains {
				x, err := m.NewInt(string(rune('a'+i)), d)
				if err != nil {
					t.Fatal(err)
				}
				xs = append(xs, x)
			}
			n, err := m.ForbidMonotone(xs, tc.bad)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			corners := 0
			product(tc.domains, func(vals []int64) {
				if !tc.bad(vals) {
					want = append(want, key(vals))
					return
				}
				// minimal iff decreasing any coordinate to its previous candidate is feasible
				minimal := true
				for d, dom := range tc.domains {
					j := indexOf(dom, vals[d])
					if j == 0 {
						continue
					}
					w := append([]int64(nil), vals...)
					w[d] = dom[j-1]
					if tc.bad(w) {
						minimal = false
					}
				}
				if minimal {
					corners++
				}
			})
			slicesSort(want)
			got := enumerate(t, m, xs, nil)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("feasible set (-want +got):\n%s", diff)
			}
			if n != corners {
				t.Errorf("clauses = %d, want %d minimal corners", n, corners)
			}
		})
	}
}

func indexOf(d []int64, v int64) int {
	for i, x := range d {
		if x == v {
			return i
		}
	}
	return -1
}
