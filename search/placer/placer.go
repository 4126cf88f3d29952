package placer

import (
	"context"
	"fmt"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints/alloc"
)

// Options controls Place.
type Options struct {
	// Capacity bounds the placement (bytes). 0 means: use the problem's
	// Capacity; if that is 0 too, minimize the peak with no bound.
	Capacity int64
	// MinimizePeak asks for the smallest peak (max offset+size), not just any
	// placement within the capacity.
	MinimizePeak bool
}

// Status is the outcome of Place.
type Status int

const (
	// Solved: a placement was found and the question is answered: it fits the
	// capacity, or (when minimizing) its peak is proven minimal.
	Solved Status = iota
	// Feasible: a placement was found, but its peak is not proven minimal
	// (the time limit came first). LowerBound says how far it may be off.
	Feasible
	// Infeasible: proven that no placement fits the capacity.
	Infeasible
	// Unknown: the time limit came before either a placement or a proof.
	Unknown
)

func (s Status) String() string {
	switch s {
	case Solved:
		return "solved"
	case Feasible:
		return "feasible"
	case Infeasible:
		return "infeasible"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Solution is the result of Place.
type Solution struct {
	Status Status
	// Offsets holds one offset per problem buffer (same order), or nil when
	// Status is Infeasible or Unknown.
	Offsets []int64
	// Peak is max(offset+size) of Offsets (0 without offsets).
	Peak int64
	// LowerBound is a proven lower bound on the peak of any legal placement
	// (when minimizing: Peak == LowerBound means proven optimal).
	LowerBound int64
	// Capacity is the bound the search worked under (0: none).
	Capacity int64
	// Proven reports that the answer is exact: Solved or Infeasible.
	Proven bool
	// Engine names what decided the answer: "greedy", "bound" (the
	// peak-load lower bound alone), "branch-and-bound", "time-sweep" or
	// "guillotine" (the second and third searches of the portfolio found
	// the placement; proofs of infeasibility always come from the bound or
	// the branch and bound).
	Engine string
	// Nodes counts the nodes (of the branch and bound, the time sweep and
	// the guillotine search) of the searches that decided: of the race's two searches, the one
	// whose outcome stood, so the count is the same on every run unless a
	// time limit cut it short. Elapsed is the wall time.
	Nodes   int64
	Elapsed time.Duration
}

// Place solves p under opts. It returns an error only for an invalid problem or
// options; a time limit or cancellation on ctx yields Status Feasible or
// Unknown with the best placement found so far.
func Place(ctx context.Context, p *alloc.Problem, opts Options) (Solution, error) {
	start := time.Now()
	if err := p.Validate(); err != nil {
		return Solution{}, fmt.Errorf("place: %w", err)
	}
	if opts.Capacity < 0 {
		return Solution{}, fmt.Errorf("place: capacity %d is negative", opts.Capacity)
	}
	capacity := opts.Capacity
	if capacity == 0 {
		capacity = p.Capacity
	}
	minimize := opts.MinimizePeak || capacity == 0
	sol := place(ctx, p, capacity, minimize)
	sol.Capacity = capacity
	sol.Proven = sol.Status == Solved || sol.Status == Infeasible
	sol.Elapsed = time.Since(start)
	if sol.Offsets != nil {
		if err := p.Check(sol.Offsets, capacity); err != nil {
			// A placement that fails the independent check is a bug in the search.
			return sol, fmt.Errorf("place: internal error: placement fails the legality check: %w", err)
		}
	}
	return sol, nil
}

// minimizeBudget is the node budget of a probe in the first round of the
// minimization (see place).
func minimizeBudget(n int) int64 { return int64(50*n + 2000) }

func place(ctx context.Context, p *alloc.Problem, capacity int64, minimize bool) Solution {
	lb, _ := p.PeakLoad()
	for _, b := range p.Buffers {
		lb = max(lb, b.Size)
	}
	sol := Solution{LowerBound: lb}
	if capacity > 0 && lb > capacity {
		sol.Status, sol.Engine = Infeasible, "bound"
		return sol
	}
	// Incumbent from the greedy passes.
	best, peak := Greedy(p, true)
	if o, pk := Greedy(p, false); pk < peak {
		best, peak = o, pk
	}
	engine := "greedy"
	if !minimize && peak <= capacity || minimize && peak == lb {
		sol.Status, sol.Offsets, sol.Peak, sol.Engine = Solved, best, peak, engine
		return sol
	}
	s := newRace(ctx, p)
	offsets := make([]int64, len(p.Buffers))
	if !minimize {
		sol.Engine = "branch-and-bound"
		ok := s.fit(capacity, offsets)
		sol.Nodes = s.nodes
		switch {
		case ok:
			sol.Status, sol.Offsets, sol.Peak = Solved, offsets, p.Peak(offsets)
			sol.Engine = s.foundBy
		case s.abort:
			sol.Status = Unknown
		default:
			sol.Status = Infeasible
			sol.LowerBound = capacity + 1
		}
		return sol
	}
	// Minimize: bisect between the proven lower bound and the incumbent,
	// trying the lower bound itself first (it is often tight).
	lo, hi := lb, peak // invariant: no placement below lo; best has peak hi
	if capacity > 0 && hi > capacity {
		// The incumbent does not fit: the first probe is the capacity itself.
		if s.fit(capacity, offsets) {
			best, hi = append([]int64(nil), offsets...), p.Peak(offsets)
			engine = s.foundBy
		} else if !s.abort {
			sol.Status, sol.Engine, sol.Nodes = Infeasible, "branch-and-bound", s.nodes
			sol.LowerBound = capacity + 1
			return sol
		} else {
			sol.Status, sol.Engine, sol.Nodes = Unknown, "branch-and-bound", s.nodes
			return sol
		}
	}
	// Probes get node budgets, in rounds: a probe that runs out of its
	// budget says nothing, and the next probe goes higher (between it and
	// the incumbent), so that a hard infeasible probe near the bound does not
	// hold up easy improvements above it; when the probes of a round have
	// met the incumbent, the next round starts again at the proven bound
	// with four times the budget. Each round starts with the bound itself.
	budget := minimizeBudget(len(p.Buffers))
	probe, softLo := lo, lo // no probe below softLo this round
	for lo < hi {
		s.fitBudget = budget
		ok := s.fit(probe, offsets)
		s.fitBudget = 0
		switch {
		case ok:
			best, hi = append([]int64(nil), offsets...), p.Peak(offsets)
			engine = s.foundBy
		case !s.abort:
			lo = probe + 1
			softLo = max(softLo, lo)
			engine = "branch-and-bound"
		case s.outOfBudget:
			softLo = probe + 1
		}
		if s.abort && !s.outOfBudget {
			break // time limit
		}
		if softLo >= hi {
			budget *= 4
			softLo, probe = lo, lo
			continue
		}
		probe = softLo + (hi-1-softLo)/2
	}
	sol.Offsets, sol.Peak, sol.LowerBound, sol.Engine, sol.Nodes = best, hi, lo, engine, s.nodes
	sol.Status = Solved
	if lo < hi {
		sol.Status = Feasible
	}
	return sol
}
