package solver

import (
	"fmt"
	"slices"
	"sort"
)

// Int is an integer variable ranging over a finite, sorted set of candidate
// values, in the order encoding: ge[i] is the literal "x >= vals[i]"
// (ge[0] is the constant true), and ladder clauses ge[i+1] -> ge[i] keep
// the literals consistent. Every candidate is a possible value.
type Int struct {
	m    *Model
	name string
	vals []int64
	ge   []Lit
}

// NewInt returns an integer variable over the given candidate values
// (sorted and deduplicated here). name is used in error messages only.
func (m *Model) NewInt(name string, candidates []int64) (*Int, error) {
	if len(candidates) == 0 {
		return nil, fmt.Errorf("integer %q: no candidate values", name)
	}
	vals := slices.Clone(candidates)
	slices.Sort(vals)
	vals = slices.Compact(vals)
	x := &Int{m: m, name: name, vals: vals, ge: make([]Lit, len(vals))}
	x.ge[0] = m.c.T
	for i := 1; i < len(vals); i++ {
		x.ge[i] = m.c.Lit()
		if i > 1 {
			m.AddImplication(x.ge[i], x.ge[i-1])
		}
	}
	return x, nil
}

// Name returns the name given at creation.
func (x *Int) Name() string { return x.name }

// Values returns the sorted candidate values (do not modify).
func (x *Int) Values() []int64 { return x.vals }

// Len returns the number of candidate values.
func (x *Int) Len() int { return len(x.vals) }

// GeIndex returns the literal "x >= Values()[i]"; True for i <= 0, False for
// i >= Len().
func (x *Int) GeIndex(i int) Lit {
	switch {
	case i <= 0:
		return x.m.c.T
	case i >= len(x.ge):
		return x.m.c.F
	}
	return x.ge[i]
}

// IsIndex returns the literal "x == Values()[i]" (False out of range).
func (x *Int) IsIndex(i int) Lit {
	if i < 0 || i >= len(x.vals) {
		return x.m.c.F
	}
	return x.m.c.And(x.GeIndex(i), x.GeIndex(i+1).Not())
}

// Ge returns the literal "x >= v".
func (x *Int) Ge(v int64) Lit {
	return x.GeIndex(sort.Search(len(x.vals), func(i int) bool { return x.vals[i] >= v }))
}

// Gt returns the literal "x > v".
func (x *Int) Gt(v int64) Lit {
	return x.GeIndex(sort.Search(len(x.vals), func(i int) bool { return x.vals[i] > v }))
}

// Le returns the literal "x <= v".
func (x *Int) Le(v int64) Lit { return x.Gt(v).Not() }

// Lt returns the literal "x < v".
func (x *Int) Lt(v int64) Lit { return x.Ge(v).Not() }

// Eq returns the literal "x == v" (False when v is not a candidate).
func (x *Int) Eq(v int64) Lit {
	i, ok := slices.BinarySearch(x.vals, v)
	if !ok {
		return x.m.c.F
	}
	return x.IsIndex(i)
}

// Index returns the index of x's value in s.
func (s *Solution) Index(x *Int) int {
	i := 0
	for i+1 < len(x.ge) && s.Value(x.ge[i+1]) {
		i++
	}
	return i
}

// Int returns the value of x in s.
func (s *Solution) Int(x *Int) int64 { return x.vals[s.Index(x)] }
