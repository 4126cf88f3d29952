package solver

import (
	"fmt"
	"sort"
)

// maxMonotonePrefixes bounds the enumeration of ForbidMonotone.
const maxMonotonePrefixes = 1 << 22

// ForbidMonotone forbids every combination of values of xs for which
// infeasible returns true. infeasible must be monotone: if it holds for some
// values it holds for any componentwise larger values (a capacity that only
// fills up as tiles grow). One clause is added per minimal infeasible corner
// c, namely (x0 < c0 or x1 < c1 or ...), so the solver never sees the
// infeasible region's interior. The corners are found by a binary search on
// the last integer for each combination of the others. It returns the
// number of clauses added.
func (m *Model) ForbidMonotone(xs []*Int, infeasible func(vals []int64) bool) (int, error) {
	if len(xs) == 0 {
		if infeasible(nil) {
			m.AddClause()
			return 1, nil
		}
		return 0, nil
	}
	prefixes := 1
	for _, x := range xs[:len(xs)-1] {
		if x.m != m {
			return 0, fmt.Errorf("forbid monotone: integer %q belongs to another model", x.name)
		}
		if prefixes > maxMonotonePrefixes/len(x.vals) {
			return 0, fmt.Errorf("forbid monotone over %d integers: more than %d combinations", len(xs), maxMonotonePrefixes)
		}
		prefixes *= len(x.vals)
	}
	k := len(xs) - 1
	last := xs[k]
	if last.m != m {
		return 0, fmt.Errorf("forbid monotone: integer %q belongs to another model", last.name)
	}
	// thr[p] = smallest index of the last integer that is infeasible
	// together with prefix p (row-major, last prefix integer fastest),
	// len(last.vals) if none.
	thr := make([]int, prefixes)
	idx := make([]int, len(xs))
	vals := make([]int64, len(xs))
	for p := range thr {
		for d := 0; d < k; d++ {
			vals[d] = xs[d].vals[idx[d]]
		}
		thr[p] = sort.Search(len(last.vals), func(i int) bool {
			vals[k] = last.vals[i]
			return infeasible(vals)
		})
		for d := k - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < len(xs[d].vals) {
				break
			}
			idx[d] = 0
		}
	}
	added := 0
	for d := range idx {
		idx[d] = 0
	}
	clause := make([]Lit, 0, len(xs))
	for p, t := range thr {
		if t < len(last.vals) {
			minimal := true
			stride := 1
			for d := k - 1; d >= 0 && minimal; d-- {
				if idx[d] > 0 && thr[p-stride] <= t {
					minimal = false
				}
				stride *= len(xs[d].vals)
			}
			if minimal {
				clause = clause[:0]
				for d := 0; d < k; d++ {
					clause = append(clause, xs[d].GeIndex(idx[d]).Not())
				}
				clause = append(clause, last.GeIndex(t).Not())
				m.AddClause(clause...)
				added++
			}
		}
		for d := k - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < len(xs[d].vals) {
				break
			}
			idx[d] = 0
		}
	}
	return added, nil
}
