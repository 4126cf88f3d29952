package solver

import (
	"fmt"
	"math"
	"slices"

	"github.com/go-air/gini/logic"
)

// Sum is a Linear expression compiled into the circuit so that it can be
// compared with constants: Le(b) and Ge(b) return indicator literals
// equivalent to "sum <= b" and "sum >= b", to be asserted or assumed.
//
// After normalization the sum reads Const + Unit * S, where S is a sum of
// positive integer weights over distinct variables. S is a bit vector built
// from full and half adders (column compression), or a sorting network when
// all weights are equal (which lets unit propagation reason about the count
// exactly).
type Sum struct {
	m     *Model
	lin   Linear // normalized: distinct variables, positive weights (multiples of unit)
	unit  int64  // gcd of the weights (1 if there are none)
	max   int64  // largest value of S = sum of weights / unit
	bits  []Lit  // S in binary, least significant first (adder form)
	card  *logic.CardSort
	cache map[int64]Lit
}

// NewSum compiles l. It fails when the extreme values of l overflow int64.
func (m *Model) NewSum(l Linear) (*Sum, error) {
	coef := map[Lit]int64{} // keyed by positive literal
	cst := l.Const
	var ok bool
	for _, t := range l.Terms {
		switch t.Lit {
		case m.c.T:
			if cst, ok = addChecked(cst, t.Weight); !ok {
				return nil, fmt.Errorf("sum: constant overflows int64 at weight %d", t.Weight)
			}
			continue
		case m.c.F:
			continue
		}
		if t.Lit.IsPos() {
			if coef[t.Lit], ok = addChecked(coef[t.Lit], t.Weight); !ok {
				return nil, fmt.Errorf("sum: weight of literal %v overflows int64", t.Lit)
			}
			continue
		}
		// w * not(v) = w - w * v
		p := t.Lit.Not()
		if cst, ok = addChecked(cst, t.Weight); !ok {
			return nil, fmt.Errorf("sum: constant overflows int64 at weight %d", t.Weight)
		}
		if coef[p], ok = subChecked(coef[p], t.Weight); !ok {
			return nil, fmt.Errorf("sum: weight of literal %v overflows int64", p)
		}
	}
	lits := make([]Lit, 0, len(coef))
	for p, w := range coef {
		if w != 0 {
			lits = append(lits, p)
		}
	}
	slices.Sort(lits)
	norm := Linear{Terms: make([]Term, 0, len(lits))}
	var unit, total int64
	for _, p := range lits {
		w := coef[p]
		if w < 0 {
			// w * v = w + (-w) * not(v)
			if cst, ok = addChecked(cst, w); !ok || w == math.MinInt64 {
				return nil, fmt.Errorf("sum: constant overflows int64 at weight %d", w)
			}
			p, w = p.Not(), -w
		}
		if total, ok = addChecked(total, w); !ok {
			return nil, fmt.Errorf("sum: total weight overflows int64 after %d terms", len(norm.Terms))
		}
		unit = gcd(unit, w)
		norm.Terms = append(norm.Terms, Term{Lit: p, Weight: w})
	}
	if _, ok = addChecked(cst, total); !ok {
		return nil, fmt.Errorf("sum: largest value %d + %d overflows int64", cst, total)
	}
	if unit == 0 {
		unit = 1
	}
	norm.Const = cst
	s := &Sum{m: m, lin: norm, unit: unit, max: total / unit, cache: map[int64]Lit{}}
	allUnit := true
	for _, t := range norm.Terms {
		allUnit = allUnit && t.Weight == unit
	}
	if allUnit && len(norm.Terms) > 0 {
		ls := make([]Lit, len(norm.Terms))
		for i, t := range norm.Terms {
			ls[i] = t.Lit
		}
		s.card = m.c.CardSort(ls)
	} else {
		s.bits = m.adderBits(norm.Terms, unit)
	}
	return s, nil
}

// adderBits builds the binary value of sum(w_i/unit * l_i) by column
// compression.
func (m *Model) adderBits(ts []Term, unit int64) []Lit {
	var cols [][]Lit
	for _, t := range ts {
		w := t.Weight / unit
		for j := 0; w != 0; j++ {
			if w&1 != 0 {
				for len(cols) <= j {
					cols = append(cols, nil)
				}
				cols[j] = append(cols[j], t.Lit)
			}
			w >>= 1
		}
	}
	var out []Lit
	for j := 0; j < len(cols); j++ {
		q := cols[j]
		for len(q) >= 2 {
			var s, c Lit
			if len(q) >= 3 {
				a, b, d := q[0], q[1], q[2]
				q = q[3:]
				ab := m.c.Xor(a, b)
				s = m.c.Xor(ab, d)
				c = m.c.Or(m.c.And(a, b), m.c.And(ab, d))
			} else {
				a, b := q[0], q[1]
				q = q[2:]
				s = m.c.Xor(a, b)
				c = m.c.And(a, b)
			}
			q = append(q, s)
			if c != m.c.F {
				if j+1 == len(cols) {
					cols = append(cols, nil)
				}
				cols[j+1] = append(cols[j+1], c)
			}
		}
		if len(q) == 1 {
			out = append(out, q[0])
		} else {
			out = append(out, m.c.F)
		}
	}
	return out
}

// Min returns the smallest value the expression can take (all terms off).
func (s *Sum) Min() int64 { return s.lin.Const }

// Max returns the largest value the expression can take (all terms on).
func (s *Sum) Max() int64 { return s.lin.Const + s.max*s.unit }

// Linear returns the normalized expression (distinct variables, positive
// weights); it evaluates to the same value as the Linear given to NewSum.
func (s *Sum) Linear() Linear { return s.lin }

// Le returns a literal equivalent to "sum <= b".
func (s *Sum) Le(b int64) Lit {
	m := s.m
	if b < s.lin.Const {
		return m.c.F
	}
	d, ok := subChecked(b, s.lin.Const)
	if !ok { // b - Const beyond int64: b is above Max
		return m.c.T
	}
	k := d / s.unit // S*unit <= d  <=>  S <= floor(d/unit)
	if k >= s.max {
		return m.c.T
	}
	if l, ok := s.cache[k]; ok {
		return l
	}
	var le Lit
	if s.card != nil {
		le = s.card.Leq(int(k))
	} else {
		le = m.c.T
		for j, bit := range s.bits {
			if j < 63 && (k>>j)&1 == 1 {
				le = m.c.Or(bit.Not(), le)
			} else {
				le = m.c.And(bit.Not(), le)
			}
		}
	}
	s.cache[k] = le
	return le
}

// Ge returns a literal equivalent to "sum >= b".
func (s *Sum) Ge(b int64) Lit {
	if b == math.MinInt64 {
		return s.m.c.T
	}
	return s.Le(b - 1).Not()
}

// Sum evaluates s in the solution.
func (sol *Solution) Sum(s *Sum) int64 { return sol.Linear(s.lin) }

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
