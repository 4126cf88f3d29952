package solver

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// randomLinear builds a Linear over ls with random weights in [-wmax, wmax],
// some negated and repeated literals and some constant terms.
func randomLinear(r *rand.Rand, m *Model, ls []Lit, nterms int, wmax int64) Linear {
	l := Linear{Const: r.Int64N(21) - 10}
	for i := 0; i < nterms; i++ {
		lit := ls[r.IntN(len(ls))]
		switch r.IntN(8) {
		case 0:
			lit = lit.Not()
		case 1:
			lit = m.True()
		case 2:
			lit = m.False()
		}
		l.Terms = append(l.Terms, Term{Lit: lit, Weight: r.Int64N(2*wmax+1) - wmax})
	}
	return l
}

func evalMask(m *Model, l Linear, ls []Lit, mask int) int64 {
	v := l.Const
	for _, t := range l.Terms {
		on := false
		switch {
		case t.Lit == m.True():
			on = true
		case t.Lit == m.False():
			on = false
		default:
			for i, x := range ls {
				if t.Lit == x {
					on = mask>>i&1 == 1
				} else if t.Lit == x.Not() {
					on = mask>>i&1 == 0
				}
			}
		}
		if on {
			v += t.Weight
		}
	}
	return v
}

func TestSumBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name   string
		n      int
		nterms int
		wmax   int64
		unit   bool
	}{
		{"small weights", 5, 7, 5, false},
		{"large weights", 6, 8, 1000, false},
		{"unit weights", 7, 7, 1, true},
		{"equal weights 12", 6, 6, 12, true},
		{"many terms", 8, 14, 40, false},
	}
	for _, tc := range tests {
		for rep := 0; rep < 4; rep++ {
			m := NewModel()
			ls := m.NewBools(tc.n)
			var l Linear
			if tc.unit {
				for i := 0; i < tc.nterms; i++ {
					l.Terms = append(l.Terms, Term{Lit: ls[i%tc.n], Weight: tc.wmax})
				}
				l.Const = 3
			} else {
				l = randomLinear(r, m, ls, tc.nterms, tc.wmax)
			}
			s, err := m.NewSum(l)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
			for mask := 0; mask < 1<<tc.n; mask++ {
				v := evalMask(m, l, ls, mask)
				lo, hi = min(lo, v), max(hi, v)
			}
			if s.Min() > lo || s.Max() < hi {
				t.Errorf("%s: range [%d,%d] does not cover [%d,%d]", tc.name, s.Min(), s.Max(), lo, hi)
			}
			bounds := []int64{lo - 1, lo, hi, hi + 1, lo + (hi-lo)/3, lo + (hi-lo)/2, r.Int64N(hi-lo+1) + lo}
			for _, b := range bounds {
				for _, ge := range []bool{false, true} {
					m2 := NewModel()
					ls2 := m2.NewBools(tc.n)
					l2 := remap(m, m2, l, ls, ls2)
					s2, err := m2.NewSum(l2)
					if err != nil {
						t.Fatal(err)
					}
					if ge {
						m2.Assert(s2.Ge(b))
					} else {
						m2.Assert(s2.Le(b))
					}
					got := enumerate(t, m2, nil, ls2)
					var want []string
					for mask := 0; mask < 1<<tc.n; mask++ {
						v := evalMask(m, l, ls, mask)
						if (ge && v >= b) || (!ge && v <= b) {
							want = append(want, bitsKey(mask, tc.n))
						}
					}
					slicesSort(want)
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("%s rep %d: ge=%v b=%d: (-want +got):\n%s", tc.name, rep, ge, b, diff)
					}
				}
			}
		}
	}
}

// remap rewrites l from model a's literals to model b's.
func remap(a, b *Model, l Linear, from, to []Lit) Linear {
	out := Linear{Const: l.Const}
	for _, t := range l.Terms {
		lit := t.Lit
		switch {
		case lit == a.True():
			lit = b.True()
		case lit == a.False():
			lit = b.False()
		default:
			for i, x := range from {
				if lit == x {
					lit = to[i]
				} else if lit == x.Not() {
					lit = to[i].Not()
				}
			}
		}
		out.Terms = append(out.Terms, Term{Lit: lit, Weight: t.Weight})
	}
	return out
}

func TestSumValueMatches(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	m := NewModel()
	ls := m.NewBools(6)
	l := randomLinear(r, m, ls, 10, 100)
	s, err := m.NewSum(l)
	if err != nil {
		t.Fatal(err)
	}
	for mask := 0; mask < 1<<6; mask++ {
		var as []Lit
		for i, x := range ls {
			if mask>>i&1 == 1 {
				as = append(as, x)
			} else {
				as = append(as, x.Not())
			}
		}
		if _, err := m.Solve(t.Context(), as...); err != nil {
			t.Fatal(err)
		}
		sol, err := m.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		want := evalMask(m, l, ls, mask)
		if got := sol.Sum(s); got != want {
			t.Errorf("mask %b: Sum = %d, want %d", mask, got, want)
		}
		if got := sol.Linear(l); got != want {
			t.Errorf("mask %b: Linear = %d, want %d", mask, got, want)
		}
	}
}

func TestSumOverflow(t *testing.T) {
	m := NewModel()
	a, b := m.NewBool(), m.NewBool()
	tests := []struct {
		name string
		l    Linear
	}{
		{"total weight", Linear{Terms: []Term{{a, math.MaxInt64}, {b, 1}}}},
		{"const plus weight", Linear{Const: math.MaxInt64, Terms: []Term{{a, 1}}}},
		{"merged weight", Linear{Terms: []Term{{a, math.MaxInt64}, {a, math.MaxInt64}}}},
	}
	for _, tc := range tests {
		if _, err := m.NewSum(tc.l); err == nil {
			t.Errorf("%s: want overflow error", tc.name)
		}
	}
}
