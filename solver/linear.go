package solver

import (
	"fmt"
	"math"
	"math/bits"
)

// Term is one weighted literal of a Linear expression: Weight if Lit is
// true, 0 otherwise.
type Term struct {
	Lit    Lit
	Weight int64
}

// Linear is the expression Const + sum of the Terms' weights whose literals
// are true. Weights may be negative.
type Linear struct {
	Terms []Term
	Const int64
}

// Add returns l + o (the terms are concatenated, not merged).
func (l Linear) Add(o Linear) (Linear, error) {
	c, ok := addChecked(l.Const, o.Const)
	if !ok {
		return Linear{}, fmt.Errorf("linear sum: constant %d + %d overflows int64", l.Const, o.Const)
	}
	ts := make([]Term, 0, len(l.Terms)+len(o.Terms))
	ts = append(append(ts, l.Terms...), o.Terms...)
	return Linear{Terms: ts, Const: c}, nil
}

// Scale returns k * l.
func (l Linear) Scale(k int64) (Linear, error) {
	c, ok := mulChecked(l.Const, k)
	if !ok {
		return Linear{}, fmt.Errorf("linear scale: constant %d * %d overflows int64", l.Const, k)
	}
	ts := make([]Term, len(l.Terms))
	for i, t := range l.Terms {
		w, ok := mulChecked(t.Weight, k)
		if !ok {
			return Linear{}, fmt.Errorf("linear scale: weight %d * %d overflows int64", t.Weight, k)
		}
		ts[i] = Term{Lit: t.Lit, Weight: w}
	}
	return Linear{Terms: ts, Const: c}, nil
}

// Linear evaluates l in s.
func (s *Solution) Linear(l Linear) int64 {
	v := l.Const
	for _, t := range l.Terms {
		if s.Value(t.Lit) {
			v += t.Weight
		}
	}
	return v
}

// maxTableCells bounds the size of the value table built by Table.
const maxTableCells = 1 << 22

// Table returns a Linear expression equal to f(x0, x1, ...) for every
// assignment of the integers xs. f is tabulated over all candidate
// combinations (their product must stay under 4M cells) and the table is
// decomposed by multi-dimensional differences over the order literals: the
// term for index tuple (i0, i1, ...) has the literal ge0[i0] and ge1[i1] and
// ... and the weight of the mixed difference of f there. Products of
// candidate values and per-candidate costs need no multiplier circuit this
// way.
func (m *Model) Table(xs []*Int, f func(vals []int64) int64) (Linear, error) {
	if len(xs) == 0 {
		return Linear{Const: f(nil)}, nil
	}
	cells := 1
	for _, x := range xs {
		if x.m != m {
			return Linear{}, fmt.Errorf("table: integer %q belongs to another model", x.name)
		}
		if cells > maxTableCells/len(x.vals) {
			return Linear{}, fmt.Errorf("table over %d integers: more than %d cells", len(xs), maxTableCells)
		}
		cells *= len(x.vals)
	}
	// Row-major tensor of f; the last integer varies fastest.
	t := make([]int64, cells)
	idx := make([]int, len(xs))
	vals := make([]int64, len(xs))
	for c := range t {
		for d, x := range xs {
			vals[d] = x.vals[idx[d]]
		}
		t[c] = f(vals)
		for d := len(xs) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < len(xs[d].vals) {
				break
			}
			idx[d] = 0
		}
	}
	// Backward differences along each axis, in place.
	stride := 1
	for d := len(xs) - 1; d >= 0; d-- {
		n := len(xs[d].vals)
		for c := cells - 1; c >= 0; c-- {
			if (c/stride)%n == 0 {
				continue
			}
			v, ok := subChecked(t[c], t[c-stride])
			if !ok {
				return Linear{}, fmt.Errorf("table: difference of %d and %d overflows int64", t[c], t[c-stride])
			}
			t[c] = v
		}
		stride *= n
	}
	l := Linear{Const: t[0]}
	for d := range idx {
		idx[d] = 0
	}
	lits := make([]Lit, 0, len(xs))
	for c := range t {
		if c > 0 && t[c] != 0 {
			lits = lits[:0]
			for d, x := range xs {
				if idx[d] > 0 {
					lits = append(lits, x.ge[idx[d]])
				}
			}
			l.Terms = append(l.Terms, Term{Lit: m.c.Ands(lits...), Weight: t[c]})
		}
		for d := len(xs) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < len(xs[d].vals) {
				break
			}
			idx[d] = 0
		}
	}
	return l, nil
}

func addChecked(a, b int64) (int64, bool) {
	s := a + b
	if (a > 0 && b > 0 && s < 0) || (a < 0 && b < 0 && s >= 0) {
		return 0, false
	}
	return s, true
}

func subChecked(a, b int64) (int64, bool) {
	if b == math.MinInt64 {
		if a >= 0 {
			return 0, false
		}
		return a - b, true
	}
	return addChecked(a, -b)
}

func mulChecked(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	neg := (a < 0) != (b < 0)
	ua, ub := absU(a), absU(b)
	hi, lo := bits.Mul64(ua, ub)
	if hi != 0 {
		return 0, false
	}
	if neg {
		if lo > 1<<63 {
			return 0, false
		}
		return int64(-lo), true
	}
	if lo > math.MaxInt64 {
		return 0, false
	}
	return int64(lo), true
}

func absU(a int64) uint64 {
	if a < 0 {
		return uint64(-a)
	}
	return uint64(a)
}
