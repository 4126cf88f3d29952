package solver

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/go-air/gini"
	"github.com/go-air/gini/logic"
	"github.com/go-air/gini/z"
)

// Lit is a literal of a Model: a boolean variable or its negation. The zero
// Lit is not a valid literal.
type Lit = z.Lit

// Status is the outcome of Solve or Minimize.
type Status int

const (
	// Unknown: no answer (the context ended first).
	Unknown Status = iota
	// Sat: a model exists (for Minimize: a solution was found but its
	// optimality is not proven).
	Sat
	// Unsat: no model exists under the clauses and assumptions.
	Unsat
	// Optimal: Minimize proved that no better value exists.
	Optimal
)

func (s Status) String() string {
	switch s {
	case Sat:
		return "sat"
	case Unsat:
		return "unsat"
	case Optimal:
		return "optimal"
	default:
		return "unknown"
	}
}

// Model is a SAT problem under construction: a gini solver and a logic
// circuit sharing one variable space.
type Model struct {
	c     *logic.C
	g     *gini.Gini
	mark  []int8
	roots []Lit
	// empty is set when a clause became empty after removing false
	// constants: the model is unsatisfiable whatever is added later.
	empty   bool
	last    Status
	why     []Lit
	clauses int
	solves  int
}

// NewModel returns an empty model.
func NewModel() *Model {
	return &Model{c: logic.NewC(), g: gini.New()}
}

// True returns the constant true literal.
func (m *Model) True() Lit { return m.c.T }

// False returns the constant false literal.
func (m *Model) False() Lit { return m.c.F }

// NewBool returns a fresh unconstrained boolean variable.
func (m *Model) NewBool() Lit { return m.c.Lit() }

// NewBools returns n fresh boolean variables.
func (m *Model) NewBools(n int) []Lit {
	ls := make([]Lit, n)
	for i := range ls {
		ls[i] = m.c.Lit()
	}
	return ls
}

// Vars returns the number of variables created so far (inputs and gates).
func (m *Model) Vars() int { return m.c.Len() - 1 }

// Clauses returns the number of clauses added through AddClause and the
// helpers built on it (Tseitin clauses of gates are not counted).
func (m *Model) Clauses() int { return m.clauses }

// Solves returns the number of calls to the underlying SAT solver.
func (m *Model) Solves() int { return m.solves }

// And returns a literal equivalent to the conjunction of ls (True if empty).
func (m *Model) And(ls ...Lit) Lit { return m.c.Ands(ls...) }

// Or returns a literal equivalent to the disjunction of ls (False if empty).
func (m *Model) Or(ls ...Lit) Lit { return m.c.Ors(ls...) }

// Xor returns a literal equivalent to a xor b.
func (m *Model) Xor(a, b Lit) Lit { return m.c.Xor(a, b) }

// Choice returns a literal equivalent to "if i then t else e".
func (m *Model) Choice(i, t, e Lit) Lit { return m.c.Choice(i, t, e) }

// AddClause adds the clause (ls[0] or ls[1] or ...). Constant literals are
// simplified away; an empty clause makes the model unsatisfiable.
func (m *Model) AddClause(ls ...Lit) {
	n := 0
	for _, l := range ls {
		switch l {
		case m.c.T:
			return
		case m.c.F:
			continue
		}
		n++
	}
	m.clauses++
	if n == 0 {
		m.empty = true
		return
	}
	for _, l := range ls {
		if l == m.c.F {
			continue
		}
		m.g.Add(l)
		m.roots = append(m.roots, l)
	}
	m.g.Add(0)
}

// Assert adds the unit clause (l).
func (m *Model) Assert(l Lit) { m.AddClause(l) }

// AddImplication adds the clause (a implies b).
func (m *Model) AddImplication(a, b Lit) { m.AddClause(a.Not(), b) }

// flush encodes every gate reachable from the literals used so far.
func (m *Model) flush(extra []Lit) {
	roots := append(m.roots, extra...)
	var vars []Lit
	for _, l := range roots {
		if l.Var() != m.c.T.Var() {
			vars = append(vars, l)
		}
	}
	m.mark, _ = m.c.CnfSince(m.g, m.mark, vars...)
	m.roots = m.roots[:0]
}

// Solve decides the clauses added so far under the given assumptions, which
// hold for this call only. It returns Sat, Unsat, or Unknown together with
// the context's error when ctx ends first. After Sat, Value and IntValue
// read inputs in place and Snapshot copies the whole model; after Unsat, Why
// gives the failed assumptions.
func (m *Model) Solve(ctx context.Context, assumptions ...Lit) (Status, error) {
	m.last = Unknown
	m.why = m.why[:0]
	if err := ctx.Err(); err != nil {
		return Unknown, fmt.Errorf("solve: %w", err)
	}
	if m.empty {
		m.last = Unsat
		return Unsat, nil
	}
	var as []Lit
	for _, a := range assumptions {
		switch a {
		case m.c.T:
			continue
		case m.c.F:
			m.last = Unsat
			m.why = append(m.why, a)
			return Unsat, nil
		}
		as = append(as, a)
	}
	m.flush(as)
	m.g.Assume(as...)
	m.solves++
	var r int
	if ctx.Done() == nil {
		r = m.g.Solve()
	} else {
		r = m.solveCtx(ctx)
	}
	switch r {
	case 1:
		m.last = Sat
	case -1:
		m.last = Unsat
		m.why = m.g.Why(m.why)
	default:
		return Unknown, fmt.Errorf("solve: %w", context.Cause(ctx))
	}
	return m.last, nil
}

// solveCtx runs gini in its background goroutine and polls for the result,
// stopping it when ctx ends.
func (m *Model) solveCtx(ctx context.Context) int {
	gs := m.g.GoSolve()
	wait := 50 * time.Microsecond
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		if r, done := gs.Test(); done {
			return r
		}
		select {
		case <-ctx.Done():
			return gs.Stop()
		case <-t.C:
		}
		if wait < 5*time.Millisecond {
			wait *= 2
		}
		t.Reset(wait)
	}
}

// Why returns the assumptions of the last Solve that together made it
// Unsat (a subset, not necessarily minimal). It is empty when the clauses
// alone are unsatisfiable or the last Solve was not Unsat.
func (m *Model) Why() []Lit {
	if m.last != Unsat {
		return nil
	}
	return append([]Lit(nil), m.why...)
}

// Snapshot returns the model found by the last Solve, which must have
// returned Sat. Every literal of the circuit, including gates never sent to
// the solver, gets the value implied by the solver's assignment of the
// inputs.
func (m *Model) Snapshot() (*Solution, error) {
	if m.last != Sat {
		return nil, fmt.Errorf("snapshot: last solve was %s, not sat", m.last)
	}
	n := m.c.Len()
	vs := make([]bool, n)
	maxv := int(m.g.MaxVar())
	for v := 2; v < n && v <= maxv; v++ {
		vs[v] = m.g.Value(z.Var(v).Pos())
	}
	m.c.Eval(vs)
	return &Solution{vals: vs}, nil
}

// Value returns the value of l in the model found by the last Solve, which
// must have returned Sat. Unlike Snapshot it costs nothing, but it is exact
// only for inputs (NewBool, the order literals of an Int) and for gates
// reachable from the clauses and assumptions of that Solve; other gates read
// as false.
func (m *Model) Value(l Lit) bool {
	if l.Var() == m.c.T.Var() {
		return l == m.c.T
	}
	if l.Var() > m.g.MaxVar() {
		return !l.IsPos()
	}
	return m.g.Value(l)
}

// IntValue returns the value of x in the model found by the last Solve
// (which must have returned Sat), without a Snapshot.
func (m *Model) IntValue(x *Int) int64 { return x.vals[m.IntIndex(x)] }

// IntIndex returns the index of x's value in x.Values(), like IntValue.
func (m *Model) IntIndex(x *Int) int {
	return sort.Search(len(x.ge)-1, func(i int) bool { return !m.Value(x.ge[i+1]) })
}
