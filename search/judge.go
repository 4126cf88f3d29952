package search

import (
	"context"
	"math"
	"runtime"
	"sync"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// maxJudges caps the workers of judgeParallel.
const maxJudges = 8

// relaxedTiles is the least number of busy compute tiles for which a
// candidate is first replayed relaxed (constraints.RelaxedFloor, tile 0
// and the DMA engines only): with one, the relaxed replay is the exact one.
const relaxedTiles = 2

// judgeParallel is the last phase of Optimal for the latency objective: it
// replays the candidates (sorted by their lower bound) on every CPU until
// the next bound is above the incumbent, which proves it optimal within the
// space.
//
// The result does not depend on the number of workers or their timing:
//   - a worker takes the candidates in order and stops at the first whose
//     bound exceeds the incumbent (the bounds ascend and the incumbent only
//     falls, so every later one does too); a candidate whose bound equals the
//     final optimum is always judged;
//   - a replay is cut only when it proves the mapping worse than the
//     incumbent (limit incumbent + 1), so every mapping that ties the optimum
//     is judged exactly;
//   - the winner is the incumbent from the earlier phases if no candidate
//     beats it, else the first candidate in order (and its first buffer
//     choice in allCombos order) that reaches the smallest value.
//
// On ctx's end it returns the smallest bound of a candidate not fully
// judged, with ctx's error.
func judgeParallel(ctx context.Context, p constraints.Problem, cfg *kpu.Config, cands []candidate, in *incumbent, res *Result, report func(lb float64)) (float64, error) {
	type win struct {
		v    float64
		idx  int
		m    model.Mapping
		cost *constraints.Cost
	}
	var (
		mu        sync.Mutex
		next      int
		best      = win{v: in.value, idx: -1}
		evaluated int
		firstErr  error
		open      = map[int]bool{} // candidates taken and not finished
	)
	limit := func() float64 { // under mu
		return best.v
	}
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr != nil || next >= len(cands) || cands[next].lb > limit() {
			return 0, false
		}
		i := next
		next++
		open[i] = true
		report(cands[i].lb)
		return i, true
	}
	offer := func(i int, v float64, m model.Mapping, c *constraints.Cost) {
		mu.Lock()
		defer mu.Unlock()
		evaluated++
		if math.IsInf(v, 1) {
			return
		}
		if v < best.v || (v == best.v && best.idx >= 0 && i < best.idx) {
			best = win{v: v, idx: i, m: m, cost: c}
		}
	}
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	workers := min(runtime.GOMAXPROCS(0), maxJudges, max(len(cands), 1))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i, ok := take()
				if !ok {
					return
				}
				if err := judgeOne(ctx, p, cfg, &cands[i], func() float64 { mu.Lock(); defer mu.Unlock(); return limit() },
					func(v float64, m model.Mapping, c *constraints.Cost) { offer(i, v, m, c) }); err != nil {
					fail(err)
					return
				}
				mu.Lock()
				delete(open, i)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Evaluated += evaluated
	if best.idx >= 0 && best.v < in.value {
		in.offer(best.v, best.m, best.cost, "optimal")
	}
	if firstErr != nil {
		bound := math.Inf(1)
		for i := range open {
			bound = math.Min(bound, cands[i].lb)
		}
		if next < len(cands) {
			bound = math.Min(bound, cands[next].lb)
		}
		return bound, firstErr
	}
	return math.Inf(1), nil
}

// rules returns what judging candidate c needs: per operand whether its
// L3 block is loaded once (singleVisit), the L2 dominance rule's operands
// (oneL2Visit; none for a K split, for which it is not proven) and a cached
// capacity check of a buffer choice.
func (c *candidate) rules(p constraints.Problem, cfg *kpu.Config) (single, one [3]bool, fit func([2]model.Buffers) (bool, error)) {
	single = singleVisit(p, c.shape)
	_, l2triv := trivialDims(p, c.shape)
	if c.shape.Split.K == 1 {
		one = oneL2Visit(l2triv)
	}
	fits := map[[2]model.Buffers]bool{}
	fit = func(bc [2]model.Buffers) (bool, error) {
		ok, seen := fits[bc]
		if !seen {
			err := constraints.Check(p, c.shape.Mapping(int(c.o3), int(c.o2), bc[0], bc[1]), cfg)
			if err != nil && !constraints.IsInfeasible(err) {
				return false, err
			}
			ok = err == nil
			fits[bc] = ok
		}
		return ok, nil
	}
	return single, one, fit
}

// judgeOne replays every buffer choice of candidate c that fits and can
// tie or beat the incumbent (limit), in allCombos order, offering each
// result; it stops once a result meets the candidate's bound.
func judgeOne(ctx context.Context, p constraints.Problem, cfg *kpu.Config, c *candidate, limit func() float64, offer func(float64, model.Mapping, *constraints.Cost)) error {
	single, one, fit := c.rules(p, cfg)
	tried := false
	for _, bc := range allCombos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if (single[0] && bc[0].A == 2) || (single[1] && bc[0].B == 2) || (single[2] && bc[0].C == 2) {
			continue // same stream as single buffering, more capacity
		}
		lim := limit()
		if c.se != nil && float64(c.se.bufferBound(int(c.o3), int(c.o2), bc[0], bc[1])) > lim {
			continue // the chains of its single buffers pass the incumbent
		}
		ok, err := fit(bc)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if c.shape.Split.K > 1 {
			if tried {
				return nil // a K split has one buffer choice: the first that fits
			}
			tried = true
		}
		if d := withL2Double(bc, one); d != bc {
			if dok, err := fit(d); err != nil {
				return err
			} else if dok {
				continue // dominated by more L2 double buffering (oneL2Visit)
			}
		}
		m := c.shape.Mapping(int(c.o3), int(c.o2), bc[0], bc[1])
		if c.se != nil {
			if f, err := c.se.dmaFloor(ctx, p, cfg, c.o3, m, lim); err != nil {
				return err
			} else if float64(f) > lim {
				continue // its DMA stream alone passes the incumbent
			}
		}
		if c.shape.Split.M*c.shape.Split.N*c.shape.Split.K >= relaxedTiles {
			if f, err := constraints.RelaxedFloor(ctx, p, m, cfg, int64(math.Floor(lim))+1); err != nil {
				return err
			} else if float64(f) > lim {
				continue // the DMA stream and tile 0's alone pass the incumbent
			}
		}
		// limit + 1: a tie of the incumbent is judged exactly
		v, cost, err := evaluateBelow(ctx, p, m, cfg, constraints.Latency, lim+1)
		if err != nil {
			return err
		}
		offer(v, m, cost)
		if v <= c.lb || c.shape.Split.K > 1 {
			return nil // no buffer choice can beat the shape's bound (a K split has one)
		}
	}
	return nil
}
