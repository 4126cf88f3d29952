package search

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
	"github.com/stillwater-sc/kpuopt/solver"
)

func init() { Register("sat", SAT) }

// l3Point is one (split, L3 tile) of the space with its bound
// (constraints.ShapeBound under the objective) and the part sizes that limit
// its L2 tiles.
type l3Point struct {
	split  model.Split
	l3     model.Tile
	mp, np int64
	bound  float64
}

// satSpace is the SAT model of the shape decisions of one problem: which
// (split, L3 tile) point, in the order of increasing bound (an order-encoded
// index), and the L2 tile (three order-encoded integers).
type satSpace struct {
	m          *solver.Model
	pts        []l3Point
	idx        *solver.Int
	m2, n2, k2 *solver.Int
	cuts       []capacityCut
}

// capacityCut is a capacity every mapping needs, as a monotone predicate
// over some of the L2 tile sizes (true: does not fit).
type capacityCut struct {
	what string
	dims []int // 0, 1, 2 for M2, N2, K2
	bad  func(v []int64) bool
}

// fits reports whether L2 tile (m2, n2, k2) meets every capacity cut.
func (ss *satSpace) fits(m2, n2, k2 int64) bool {
	all := [3]int64{m2, n2, k2}
	var v [3]int64
	for _, c := range ss.cuts {
		for j, d := range c.dims {
			v[j] = all[d]
		}
		if c.bad(v[:len(c.dims)]) {
			return false
		}
	}
	return true
}

// SAT is the SAT-based exact branch and bound (docs/search.md, "The sat
// engine"). The (split, L3 tile) points whose bound cannot beat the
// heuristic incumbent are dropped; the others are ranked by bound and form
// an order-encoded index, the L2 tile three order-encoded integers over the
// tile candidates. Clauses hold the structure (L2 tile within the part and
// the L3 k tile) and the monotone capacity limits every mapping must meet
// (each L1 feed in one L1 buffer, each L2 buffer in one bank, the single
// buffered L2 tile within the compute tile's L2). Each model fixes a point
// and an (M2, N2): its K2 are scanned from the largest down until the
// fabric bound reaches the incumbent, each shape's 36 order pairs judged in
// closed form into a heap, then a clause excludes the pair. Points are
// opened best-first under assumptions (idx <= j, j doubling); after each
// window the heap is replayed best-first while its bounds stay below the
// next unopened point's. An improved incumbent cuts every point whose bound
// no longer beats it (one unit clause on the index). UNSAT with every point
// open proves optimality. On ctx's end the incumbent is returned with the
// smallest bound of anything not yet judged.
func SAT(ctx context.Context, p constraints.Problem, cfg *kpu.Config, opts Options) (*Result, error) {
	start := time.Now()
	o := opts.Objective
	if o == "" {
		o = constraints.Latency
	}
	sp := constraints.NewSpace(p, cfg)
	in := newIncumbent()
	res := &Result{Engine: "sat", ProblemBound: constraints.LowerBound(p, cfg)}
	if err := seedIncumbent(ctx, p, cfg, o, in, res); err != nil {
		return nil, err
	}
	report := func(bound float64) {
		if opts.Progress != nil {
			opts.Progress(Progress{Engine: "sat", Evaluated: res.Evaluated, Best: in.value, Bound: bound, Elapsed: time.Since(start)})
		}
	}
	pts, err := l3Points(ctx, p, cfg, sp, o, in.value)
	if err != nil {
		return conclude(ctx, p, cfg, opts, in, res, err, math.Inf(1), start)
	}
	if len(pts) == 0 {
		return conclude(ctx, p, cfg, opts, in, res, nil, math.Inf(1), start)
	}
	ss, err := newSATSpace(p, cfg, sp, pts)
	if err != nil {
		return nil, err
	}
	// cut drops every point whose bound does not beat the incumbent.
	cutAt := len(pts)
	cut := func() {
		c, _ := slices.BinarySearchFunc(pts, in.value, func(a l3Point, v float64) int { return cmp.Compare(a.bound, v) })
		if c < cutAt {
			cutAt = c
			ss.m.Assert(ss.idx.Lt(int64(c)))
		}
	}
	cut()
	var cands candHeap
	// bound is the smallest bound of anything not yet judged exactly.
	done := -1 // points 0..done have every shape in cands or judged
	bound := func() float64 {
		b := math.Inf(1)
		if len(cands) > 0 {
			b = cands[0].lb
		}
		if done+1 < cutAt {
			b = math.Min(b, pts[done+1].bound)
		}
		return b
	}
	stop := func(err error) (*Result, error) {
		if ctx.Err() != nil {
			return conclude(ctx, p, cfg, opts, in, res, ctx.Err(), bound(), start)
		}
		return nil, err
	}
	open := 0
	lastReport := time.Now()
	for done+1 < cutAt {
		// Enumerate the shapes of points done+1..open.
		for {
			if time.Since(lastReport) > 200*time.Millisecond {
				lastReport = time.Now()
				report(math.Min(in.value, bound()))
			}
			var as []solver.Lit
			if open < cutAt-1 {
				as = append(as, ss.idx.Le(int64(open)))
			}
			st, err := ss.m.Solve(ctx, as...)
			if err != nil {
				return stop(err)
			}
			if st == solver.Unsat {
				break
			}
			// The model fixes a point and an (M2, N2); every K2 of that pair
			// is judged here, from the largest down, so that the fabric
			// bound (it only grows as K2 shrinks) ends the scan.
			i := ss.m.IntIndex(ss.idx)
			pt := pts[i]
			m2, n2 := ss.m.IntValue(ss.m2), ss.m.IntValue(ss.n2)
			ks := ss.k2.Values()
			for j := len(ks) - 1; j >= 0; j-- {
				k2 := ks[j]
				if k2 > pt.l3.K || !ss.fits(m2, n2, k2) {
					continue
				}
				shape := constraints.Shape{Split: pt.split, L3: pt.l3, L2: model.Tile{M: m2, N: n2, K: k2}}
				if fabricBound(p, cfg, o, res.ProblemBound.EnergyPJ, shape) >= in.value {
					break
				}
				pairs := shapeCandidates(p, cfg, o, shape, in, res)
				if len(pairs) > 0 && pairs[0].lb < 0.97*in.value {
					// anytime: judge a clearly promising pair at once
					if err := judgeCandidate(ctx, p, cfg, o, pairs[0], in, res); err != nil {
						return stop(err)
					}
					cut()
					pairs = pairs[1:]
				}
				for _, c := range pairs {
					heap.Push(&cands, c)
				}
			}
			ss.m.AddClause(ss.idx.IsIndex(i).Not(), ss.m2.Eq(m2).Not(), ss.n2.Eq(n2).Not())
		}
		done = min(open, cutAt-1)
		if done+1 < cutAt {
			ss.m.Assert(ss.idx.Gt(int64(done)))
		}
		// Judge exactly, best first, what no unopened point can undercut.
		limit := math.Inf(1)
		if done+1 < cutAt {
			limit = pts[done+1].bound
		}
		for len(cands) > 0 && cands[0].lb < in.value && cands[0].lb < limit {
			if err := ctx.Err(); err != nil {
				return stop(err)
			}
			c := heap.Pop(&cands).(satCand)
			if err := judgeCandidate(ctx, p, cfg, o, c, in, res); err != nil {
				heap.Push(&cands, c)
				return stop(err)
			}
			cut()
			if done+1 < cutAt {
				limit = pts[done+1].bound
			} else {
				limit = math.Inf(1)
			}
		}
		open = min(cutAt-1, 2*open+1)
	}
	return conclude(ctx, p, cfg, opts, in, res, nil, math.Inf(1), start)
}

// satCand is one shape with an order pair and its closed-form lower bound.
type satCand struct {
	lb     float64
	seq    int // insertion order, for deterministic ties
	shape  constraints.Shape
	o3, o2 int
}

// candHeap is a min-heap of candidates by (lb, seq).
type candHeap []satCand

func (h candHeap) Len() int { return len(h) }
func (h candHeap) Less(i, j int) bool {
	if h[i].lb != h[j].lb {
		return h[i].lb < h[j].lb
	}
	return h[i].seq < h[j].seq
}
func (h candHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *candHeap) Push(x any)   { *h = append(*h, x.(satCand)) }
func (h *candHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// seedIncumbent evaluates the greedy and kpusim mappings.
func seedIncumbent(ctx context.Context, p constraints.Problem, cfg *kpu.Config, o constraints.Objective, in *incumbent, res *Result) error {
	for _, h := range []struct {
		name string
		fn   func(constraints.Problem, *kpu.Config, constraints.Objective) (model.Mapping, error)
	}{{"greedy", greedyMapping}, {"kpusim", kpusimMapping}} {
		m, err := h.fn(p, cfg, o)
		if err != nil {
			in.noteInfeasible(err)
			continue
		}
		v, c, err := evaluateSeed(ctx, p, m, cfg, o, math.IsInf(in.value, 1))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("sat search: seeding with %s: %w", h.name, err)
		}
		res.Evaluated++
		in.offer(v, m, c, h.name)
	}
	return nil
}

// fabricBound is the fabric time of compute tile 0 for shape s as a bound
// of the objective (latency, or latency times the least energy for EDP; 0
// for the other objectives): the per-L2-tile bound of Optimal (prune.go).
func fabricBound(p constraints.Problem, cfg *kpu.Config, o constraints.Objective, emin float64, s constraints.Shape) float64 {
	if o != constraints.Latency && o != constraints.EDP {
		return 0
	}
	tm := dimTable{p.M, int64(s.Split.M), int64(cfg.ArrayRows)}
	tn := dimTable{p.N, int64(s.Split.N), int64(cfg.ArrayCols)}
	fm, cm := tm.fc(s.L3.M, s.L2.M)
	fn, cn := tn.fc(s.L3.N, s.L2.N)
	cyc := float64(fabricLB(p, cfg, fm, fn, cm, cn, kSteps(p.K, s.L3.K, s.L2.K)))
	if o == constraints.EDP {
		return cyc * emin
	}
	return cyc
}

// shapeBoundValue is constraints.ShapeBound under objective o.
func shapeBoundValue(p constraints.Problem, s constraints.Shape, cfg *kpu.Config, o constraints.Objective) (float64, error) {
	cyc, dram, en, err := constraints.ShapeBound(p, s, cfg)
	if err != nil {
		return 0, err
	}
	switch o {
	case constraints.Energy:
		return en, nil
	case constraints.Traffic:
		return float64(dram), nil
	case constraints.EDP:
		return float64(cyc) * en, nil
	}
	return float64(cyc), nil
}

// l3Points lists the structurally valid (split, L3 tile) points whose bound
// is below best, sorted by bound (ties in enumeration order).
func l3Points(ctx context.Context, p constraints.Problem, cfg *kpu.Config, sp *constraints.Space, o constraints.Objective, best float64) ([]l3Point, error) {
	var pts []l3Point
	err := eachL3(ctx, sp, func(split model.Split, l3 model.Tile, mp, np int64) error {
		b, err := shapeBoundValue(p, constraints.Shape{L3: l3, Split: split}, cfg, o)
		if err != nil || b >= best {
			return nil
		}
		pts = append(pts, l3Point{split: split, l3: l3, mp: mp, np: np, bound: b})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(pts, func(a, b l3Point) int { return cmp.Compare(a.bound, b.bound) })
	return pts, nil
}

// newSATSpace builds the model over the given points.
func newSATSpace(p constraints.Problem, cfg *kpu.Config, sp *constraints.Space, pts []l3Point) (*satSpace, error) {
	m := solver.NewModel()
	ss := &satSpace{m: m, pts: pts}
	ids := make([]int64, len(pts))
	for i := range ids {
		ids[i] = int64(i)
	}
	var err error
	if ss.idx, err = m.NewInt("l3 point", ids); err != nil {
		return nil, err
	}
	if ss.m2, err = m.NewInt("l2.m", sp.Tiles[0]); err != nil {
		return nil, err
	}
	if ss.n2, err = m.NewInt("l2.n", sp.Tiles[1]); err != nil {
		return nil, err
	}
	if ss.k2, err = m.NewInt("l2.k", sp.Tiles[2]); err != nil {
		return nil, err
	}
	// structure: 1 <= M2 <= Mp, 1 <= N2 <= Np, 1 <= K2 <= K3
	for i, pt := range pts {
		is := ss.idx.IsIndex(i).Not()
		m.AddClause(is, ss.m2.Le(pt.mp))
		m.AddClause(is, ss.n2.Le(pt.np))
		m.AddClause(is, ss.k2.Le(pt.l3.K))
	}
	// capacity every mapping needs (docs/mapping.md section 3): the A and B
	// feeds of an L2 tile each in one L1 buffer, every L2 buffer in one
	// bank, one slot of each within the compute tile's L2.
	e, ea := p.ElemBytes(), p.AccBytes()
	l1, bank := cfg.L1BufferBytes, cfg.L2BankBytes
	l2 := int64(cfg.L2BanksPerTile()) * bank
	ss.cuts = []capacityCut{
		{"A2 feed", []int{0, 2}, func(v []int64) bool { return v[0]*v[1]*e > min(l1, bank) }},
		{"B2 feed", []int{2, 1}, func(v []int64) bool { return v[0]*v[1]*e > min(l1, bank) }},
		{"C2", []int{0, 1}, func(v []int64) bool { return v[0]*v[1]*ea > bank }},
		{"L2 total", []int{0, 1, 2}, func(v []int64) bool {
			return (v[0]*v[2]+v[2]*v[1])*e+v[0]*v[1]*ea > l2
		}},
	}
	l2ints := [3]*solver.Int{ss.m2, ss.n2, ss.k2}
	for _, c := range ss.cuts {
		var xs []*solver.Int
		for _, d := range c.dims {
			xs = append(xs, l2ints[d])
		}
		if _, err := m.ForbidMonotone(xs, c.bad); err != nil {
			return nil, fmt.Errorf("sat search: %s capacity: %w", c.what, err)
		}
	}
	return ss, nil
}

// shapeCandidates judges the 36 order pairs of a shape in closed form and
// returns those whose lower bound beats the incumbent, best first.
func shapeCandidates(p constraints.Problem, cfg *kpu.Config, o constraints.Objective, s constraints.Shape, in *incumbent, res *Result) []satCand {
	se, err := constraints.NewShapeEval(p, s, cfg)
	if err != nil {
		return nil // structurally invalid: nothing to judge
	}
	if err := se.FitsSingle(); err != nil {
		in.noteInfeasible(err)
		return nil
	}
	var out []satCand
	for o3 := 0; o3 < 6; o3++ {
		for o2 := 0; o2 < 6; o2++ {
			res.Considered++
			if v := quickValue(o, p, se.Estimate(o3, o2), cfg); v < in.value {
				out = append(out, satCand{lb: v, seq: res.Considered, shape: s, o3: o3, o2: o2})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b satCand) int { return cmp.Compare(a.lb, b.lb) })
	return out
}

// judgeCandidate evaluates a candidate exactly, like the candidate loop of
// Optimal: every buffer choice that fits, most double buffering first, until
// one meets the closed-form bound.
func judgeCandidate(ctx context.Context, p constraints.Problem, cfg *kpu.Config, o constraints.Objective, c satCand, in *incumbent, res *Result) error {
	single := singleVisit(p, c.shape)
	for _, bc := range allCombos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if (single[0] && bc[0].A == 2) || (single[1] && bc[0].B == 2) || (single[2] && bc[0].C == 2) {
			continue // same stream as single buffering, more capacity
		}
		m := c.shape.Mapping(c.o3, c.o2, bc[0], bc[1])
		if err := constraints.Check(p, m, cfg); err != nil {
			if !constraints.IsInfeasible(err) {
				return err
			}
			continue
		}
		if exactFromQuick(o) {
			in.offer(c.lb, m, nil, "sat")
			return nil
		}
		v, cost, err := evaluateBelow(ctx, p, m, cfg, o, in.value)
		if err != nil {
			return err
		}
		res.Evaluated++
		in.offer(v, m, cost, "sat")
		if v <= c.lb {
			return nil
		}
	}
	return nil
}
