package placer

import (
	"context"
	"math"
	"sync"
	"sync/atomic"

	"github.com/stillwater-sc/kpuopt/constraints/alloc"
)

// race runs the search (branch and bound with the time sweep and the
// guillotine search beside it, see bnb.fit) on the problem and, at the same
// time, on its time reversal: the same buffers with every lifetime
// [lower, upper) turned into
// [T-upper, T-lower). A placement of one is a placement of the other (the
// offsets do not change), but the two searches meet the buffers in opposite
// orders, and on many hard instances one of them finishes long before the
// other (a recursive cut solved in 10 s forwards took 30 ms backwards, and
// the other way round). On two cores the pair costs little more than the
// faster of the two.
//
// The answer does not depend on which finishes first in wall time: each
// search counts its work (bnb.work, the same on every run), the outcome
// (a placement or a proof) reached with less work wins, and ties go to the
// forward search. A search stops as soon as its work passes the other's
// outcome (it can no longer win), so the loser runs about as long as the
// winner.
type race struct {
	eng [2]*bnb // forward, reversed
	// The fields place reads, as on a single bnb.
	nodes       int64
	abort       bool
	outOfBudget bool
	foundBy     string
	fitBudget   int64

	ctx  context.Context
	offs [2][]int64

	// At the capacity where the memory is full at some time points, the
	// race runs on the problem with its chains joined (see chains): red
	// and sub (made at the first fit there).
	red *chains
	sub *race
}

func newRace(ctx context.Context, p *alloc.Problem) *race {
	r := &race{ctx: ctx}
	r.eng[0] = newBnb(ctx, p)
	r.eng[1] = newBnb(ctx, timeReversed(p))
	// Both run the guillotine search too: it tries both directions of time
	// itself, but the two meet the orders in different sequences (cut
	// n=450 seeds 151-230: total 7.2 -> 3.9 s, slowest 4.0 -> 1.2 s, against
	// it on the forward side only; no change where it finds no cut).
	r.eng[0].useGuil = true
	r.eng[1].useGuil = true
	for i := range r.offs {
		r.offs[i] = make([]int64, len(p.Buffers))
	}
	if load, _ := p.PeakLoad(); load > 0 {
		r.red = reduceChains(p, load)
	}
	return r
}

// timeReversed returns p with its time axis turned around.
func timeReversed(p *alloc.Problem) *alloc.Problem {
	var end int64
	for _, b := range p.Buffers {
		end = max(end, b.Upper)
	}
	q := &alloc.Problem{Capacity: p.Capacity, Buffers: make([]alloc.Buffer, len(p.Buffers))}
	for i, b := range p.Buffers {
		b.Lower, b.Upper = end-b.Upper, end-b.Lower
		q.Buffers[i] = b
	}
	return q
}

// fit is bnb.fit for the pair: it returns whether a placement within c was
// found (then offsets holds it); abort and outOfBudget as on bnb.
func (r *race) fit(c int64, offsets []int64) bool {
	if r.red != nil && c == r.red.capacity {
		if r.sub == nil {
			r.sub = newRace(r.ctx, r.red.q)
		}
		s := r.sub
		s.fitBudget = r.fitBudget
		before := s.nodes
		ok := s.fit(c, r.red.offs)
		r.nodes += s.nodes - before
		r.abort, r.outOfBudget, r.foundBy = s.abort, s.outOfBudget, s.foundBy
		if ok {
			r.red.expand(offsets)
		}
		return ok
	}
	type result struct {
		ok, abort, outOfBudget bool
		work                   int64
	}
	var res [2]result
	// done[i] is the work at which search i reached its outcome
	// (MaxInt64: none yet).
	var done [2]atomic.Int64
	var wg sync.WaitGroup
	var startNodes [2]int64
	for i, s := range r.eng {
		startNodes[i] = s.nodes
		done[i].Store(math.MaxInt64)
		ctx, cancel := context.WithCancel(r.ctx)
		s.ctx, s.cancel, s.fitBudget = ctx, cancel, r.fitBudget
		s.halt = func() bool {
			other := done[1-i].Load()
			if i == 0 {
				return s.work() > other // the forward search wins ties
			}
			return s.work() >= other
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel()
			ok := s.fit(c, r.offs[i])
			res[i] = result{ok: ok, abort: s.abort, outOfBudget: s.outOfBudget, work: s.work()}
			if ok || !s.abort {
				res[i].abort = false
				done[i].Store(res[i].work)
			}
		}()
	}
	wg.Wait()
	win := -1
	for i := range res {
		if res[i].abort {
			continue
		}
		if win < 0 || res[i].work < res[win].work ||
			// A placement and a proof cannot both be right; trust the
			// placement (Place checks it independently).
			res[i].ok && !res[win].ok {
			win = i
		}
	}
	// The nodes of the search that decided (the loser's count depends on
	// when it noticed; counting only the winner's keeps the report
	// repeatable). Without a decision, both searches' nodes count.
	if win < 0 {
		r.nodes += r.eng[0].nodes - startNodes[0] + r.eng[1].nodes - startNodes[1]
	} else {
		r.nodes += r.eng[win].nodes - startNodes[win]
	}
	if win < 0 {
		r.abort = true
		r.outOfBudget = r.ctx.Err() == nil && res[0].outOfBudget && res[1].outOfBudget
		return false
	}
	r.abort, r.outOfBudget = false, false
	if !res[win].ok {
		return false
	}
	copy(offsets, r.offs[win])
	r.foundBy = r.eng[win].foundBy
	if win == 1 {
		r.foundBy += " (reversed time)"
	}
	return true
}
