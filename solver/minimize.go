package solver

import (
	"context"
	"errors"
	"fmt"
)

// Strategy chooses the next bound Minimize tries.
type Strategy int

const (
	// Descend tries best value - 1: many cheap satisfiable solves, one
	// unsatisfiable solve at the end. The default: with adder-encoded sums
	// the unsatisfiable solves dominate, and bisection makes many of them
	// (measured 5-17x slower on the package benchmarks).
	Descend Strategy = iota
	// Bisect tries the middle of [proven lower bound, best value - 1].
	Bisect
)

// MinimizeOptions tune Minimize. The zero value descends from the first
// solution down to the objective's own minimum.
type MinimizeOptions struct {
	Strategy Strategy
	// LowerBound, when HasLowerBound, is a value the objective is known
	// never to go below (a relaxation's optimum, say). A bound above a
	// feasible value is an error.
	LowerBound    int64
	HasLowerBound bool
	// Assumptions hold for every solve of this call only.
	Assumptions []Lit
	// Progress, when set, is called after every solve with the current
	// best value and proven bound.
	Progress func(Result)
}

// Result is the outcome of Minimize.
type Result struct {
	// Status: Optimal (Value == Bound), Sat (a solution, the context ended
	// before the proof), Unsat (no solution at all) or Unknown (the context
	// ended before any solution).
	Status Status
	// Value is the objective of Solution (meaningful for Optimal and Sat).
	Value int64
	// Bound is the proven lower bound: no solution has an objective below
	// it (equal to Value when Optimal).
	Bound    int64
	Solution *Solution
	// Solves counts the SAT calls made.
	Solves int
}

// Gap returns (Value - Bound) / Value, or 0 when Value is 0 or the result
// has no solution.
func (r Result) Gap() float64 {
	if (r.Status != Sat && r.Status != Optimal) || r.Value == 0 {
		return 0
	}
	return float64(r.Value-r.Bound) / float64(r.Value)
}

// Minimize finds an assignment minimizing obj, by incremental bound search:
// a first solve gives a solution, then solves under the assumption
// "obj <= b" either improve the solution (the new value may drop well below
// b) or prove "obj > b", which is then added as a clause when no options
// assumptions are in force. The search ends when the proven bound meets the
// best value, or when ctx ends: then the best solution so far is returned
// with status Sat and a nil error.
func (m *Model) Minimize(ctx context.Context, obj *Sum, opt MinimizeOptions) (Result, error) {
	if obj.m != m {
		return Result{}, errors.New("minimize: objective belongs to another model")
	}
	lo := obj.Min()
	userBound := opt.HasLowerBound && opt.LowerBound > lo
	if userBound {
		lo = opt.LowerBound
	}
	res := Result{Status: Unknown, Bound: lo}
	report := func() {
		if opt.Progress != nil {
			opt.Progress(res)
		}
	}
	solve := func(extra ...Lit) (Status, error) {
		as := append(append([]Lit(nil), opt.Assumptions...), extra...)
		st, err := m.Solve(ctx, as...)
		res.Solves++
		if err != nil && ctx.Err() != nil {
			return Unknown, nil
		}
		return st, err
	}
	take := func() error {
		sol, err := m.Snapshot()
		if err != nil {
			return fmt.Errorf("minimize: %w", err)
		}
		v := sol.Sum(obj)
		if v < res.Bound {
			if userBound && v < opt.LowerBound {
				return fmt.Errorf("minimize: lower bound %d is above the feasible value %d", opt.LowerBound, v)
			}
			return fmt.Errorf("minimize: internal error: value %d below proven bound %d", v, res.Bound)
		}
		res.Status, res.Value, res.Solution = Sat, v, sol
		return nil
	}

	st, err := solve()
	if err != nil {
		return res, fmt.Errorf("minimize: %w", err)
	}
	switch st {
	case Unknown:
		report()
		return res, nil
	case Unsat:
		res.Status = Unsat
		report()
		return res, nil
	}
	if err := take(); err != nil {
		return res, err
	}
	report()
	for res.Bound < res.Value {
		b := res.Value - 1
		if opt.Strategy == Bisect {
			b = res.Bound + (res.Value-1-res.Bound)/2
		}
		le := obj.Le(b)
		st, err := solve(le)
		if err != nil {
			return res, fmt.Errorf("minimize under bound %d: %w", b, err)
		}
		switch st {
		case Unknown:
			report()
			return res, nil
		case Sat:
			if err := take(); err != nil {
				return res, err
			}
			if res.Value > b {
				return res, fmt.Errorf("minimize: internal error: value %d violates bound %d", res.Value, b)
			}
		case Unsat:
			res.Bound = b + 1
			if len(opt.Assumptions) == 0 {
				m.Assert(le.Not())
			}
		}
		report()
	}
	res.Status = Optimal
	res.Bound = res.Value
	report()
	return res, nil
}
