package search

import (
	"context"
	"errors"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// eachL3 calls fn for every structurally valid (split, L3 tile) point of the
// space, in a fixed order, with the per-part tile sizes mp and np of the
// split; ctx is checked once per (split, M3, N3).
func eachL3(ctx context.Context, sp *constraints.Space, fn func(split model.Split, l3 model.Tile, mp, np int64) error) error {
	return eachL3Of(ctx, sp, sp.Splits, fn)
}

// eachL3Of is eachL3 over the given splits; with a K split, only L3 tiles
// whose K cut leaves no part empty.
func eachL3Of(ctx context.Context, sp *constraints.Space, splits []model.Split, fn func(split model.Split, l3 model.Tile, mp, np int64) error) error {
	p := sp.Problem
	for _, split := range splits {
		sm, sn := int64(split.M), int64(split.N)
		for _, m3 := range sp.Tiles[0] {
			mp := ceilDiv(m3, sm)
			if (sm-1)*mp >= m3 || m3 > p.M {
				continue
			}
			for _, n3 := range sp.Tiles[1] {
				np := ceilDiv(n3, sn)
				if (sn-1)*np >= n3 || n3 > p.N {
					continue
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				for _, k3 := range sp.Tiles[2] {
					if k3 > p.K || (split.K > 1 && int64(split.K-1)*ceilDiv(k3, int64(split.K)) >= k3) {
						continue
					}
					if err := fn(split, model.Tile{M: m3, N: n3, K: k3}, mp, np); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// eachShape calls fn for every structurally valid shape (split, L3 tile, L2
// tile) of the space, in a fixed order. skipL3, if set, is asked once per
// (split, L3 tile) and can prune all its L2 tiles.
func eachShape(ctx context.Context, sp *constraints.Space, skipL3 func(constraints.Shape) bool, fn func(constraints.Shape) error) error {
	splits := append(append([]model.Split(nil), sp.Splits...), sp.KSplits...)
	return eachL3Of(ctx, sp, splits, func(split model.Split, l3 model.Tile, mp, np int64) error {
		kp := ceilDiv(l3.K, int64(split.K)) // the K part of a tile
		s := constraints.Shape{L3: l3, Split: split}
		if skipL3 != nil && skipL3(s) {
			return nil
		}
		for _, m2 := range sp.Tiles[0] {
			if m2 > mp {
				break
			}
			for _, n2 := range sp.Tiles[1] {
				if n2 > np {
					break
				}
				if split.K > 1 && (m2 != largestUpTo(sp.Tiles[0], mp) || n2 != largestUpTo(sp.Tiles[1], np)) {
					continue // see constraints.Space.KSplits
				}
				for _, k2 := range sp.Tiles[2] {
					if k2 > kp {
						break
					}
					s.L2 = model.Tile{M: m2, N: n2, K: k2}
					if err := fn(s); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// largestUpTo is the largest of the ascending candidates v that is at most
// x (0 if none).
func largestUpTo(v []int64, x int64) int64 {
	var best int64
	for _, t := range v {
		if t > x {
			break
		}
		best = t
	}
	return best
}

// incumbent is the best mapping found so far.
type incumbent struct {
	value   float64
	mapping model.Mapping
	cost    *constraints.Cost
	engine  string
	short   *constraints.InfeasibleError // the smallest shortfall seen
	// tie breaks ties of the objective for energy and traffic, whose value
	// does not depend on the L2 tile or the buffering: among equal values
	// the mapping with the smaller latency (bound) is kept, so the search
	// returns the fastest of the optima rather than an arbitrary one (and
	// never a unit-L2-tile stream of billions of commands).
	tie float64
}

func newIncumbent() *incumbent { return &incumbent{value: math.Inf(1), tie: math.Inf(1)} }

func (in *incumbent) offer(v float64, m model.Mapping, c *constraints.Cost, engine string) bool {
	if v < in.value {
		in.value, in.mapping, in.cost, in.engine = v, m, c, engine
		in.tie = math.Inf(1)
		if c != nil {
			in.tie = float64(c.LatencyCycles)
		}
		return true
	}
	return false
}

// offerTie is offer for a value known in closed form, with a latency bound
// lat that breaks ties (see incumbent.tie).
func (in *incumbent) offerTie(v, lat float64, m model.Mapping, engine string) bool {
	if v < in.value || (v == in.value && lat < in.tie) {
		in.value, in.mapping, in.cost, in.engine, in.tie = v, m, nil, engine, lat
		return true
	}
	return false
}

func (in *incumbent) noteInfeasible(err error) {
	var ie *constraints.InfeasibleError
	if errors.As(err, &ie) && (in.short == nil || ie.Shortfall.Short() < in.short.Shortfall.Short()) {
		in.short = ie
	}
}

// minimalMapping is the smallest footprint of the space: unit tiles, one
// compute tile, single buffers. If it does not fit, nothing does.
func minimalMapping() model.Mapping {
	one := model.Tile{M: 1, N: 1, K: 1}
	b := model.Buffers{A: 1, B: 1, C: 1}
	return model.Mapping{L3: one, L2: one, L3Order: "mnk", L2Order: "mnk", Split: model.Split{M: 1, N: 1, K: 1}, L3Buffers: b, L2Buffers: b}
}

// infeasibleResult explains why nothing fits.
func infeasibleResult(p constraints.Problem, cfg *kpu.Config, in *incumbent, engine string, start time.Time) (*Result, error) {
	err := constraints.Check(p, minimalMapping(), cfg)
	if err == nil && in.short != nil {
		err = in.short
	}
	if err == nil {
		err = errors.New("no mapping of the space fits")
	}
	if !constraints.IsInfeasible(err) {
		return nil, err
	}
	return finish(&Result{Status: StatusInfeasible, Engine: engine, Err: err, ProblemBound: constraints.LowerBound(p, cfg), Value: math.Inf(1)}, start), nil
}

// evaluate judges mapping m exactly under objective o. est, if the
// objective is exact from the closed form, saves the replay.
func evaluate(ctx context.Context, p constraints.Problem, m model.Mapping, cfg *kpu.Config, o constraints.Objective) (float64, *constraints.Cost, error) {
	return evaluateBelow(ctx, p, m, cfg, o, math.Inf(1))
}

// evaluateSeed is evaluate for a heuristic's mapping that seeds a search:
// if ctx ends before the replay does and the search has no mapping yet
// (none), the replay runs to the end regardless, so a stopped search still
// returns a mapping (its reported cost always comes from the replay; see
// conclude).
func evaluateSeed(ctx context.Context, p constraints.Problem, m model.Mapping, cfg *kpu.Config, o constraints.Objective, none bool) (float64, *constraints.Cost, error) {
	v, c, err := evaluate(ctx, p, m, cfg, o)
	if err != nil && ctx.Err() != nil && none {
		return evaluate(context.WithoutCancel(ctx), p, m, cfg, o)
	}
	return v, c, err
}

// evaluateBelow is evaluate with a cutoff for the latency objective: a
// mapping proven no better than best comes back as +Inf without finishing
// its replay.
func evaluateBelow(ctx context.Context, p constraints.Problem, m model.Mapping, cfg *kpu.Config, o constraints.Objective, best float64) (float64, *constraints.Cost, error) {
	var limit int64
	if o == constraints.Latency && !math.IsInf(best, 1) {
		limit = int64(math.Ceil(best))
	}
	c, err := constraints.EvaluateWithin(ctx, p, m, cfg, limit)
	if errors.Is(err, constraints.ErrExceeds) {
		return math.Inf(1), nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	return valueOf(o, c), c, nil
}

// Exhaustive evaluates every point of the space exactly (every shape, order
// pair and buffer choice that fits). It is the test oracle: slow, simple,
// complete. The only shortcut is the replay's cutoff for latency
// (constraints.ReplayWithin), which stops a replay once it proves the mapping
// no better than the incumbent.
func Exhaustive(ctx context.Context, p constraints.Problem, cfg *kpu.Config, opts Options) (*Result, error) {
	start := time.Now()
	sp := constraints.NewSpace(p, cfg)
	in := newIncumbent()
	res := &Result{Engine: "exhaustive", ProblemBound: constraints.LowerBound(p, cfg)}
	// The enumeration starts at unit tiles, whose replay alone can outlast
	// any time limit on a real GEMM. The greedy mapping, judged first, is
	// the answer if the search stops before it has judged a point, and
	// (latency) its value + 1 cuts those replays short: the cut keeps every
	// mapping at least as good as greedy's, so the result is unchanged.
	var fallback *incumbent
	cut := math.Inf(1)
	if gm, gerr := greedyMapping(p, cfg, opts.Objective); gerr == nil {
		if v, c, gerr := evaluateSeed(ctx, p, gm, cfg, opts.Objective, true); gerr == nil && !math.IsInf(v, 1) {
			fallback = &incumbent{value: v, mapping: gm, cost: c, engine: "greedy"}
			if opts.Objective == constraints.Latency {
				cut = v + 1
			}
		}
	}
	err := eachShape(ctx, sp, nil, func(s constraints.Shape) error {
		for o3 := 0; o3 < 6; o3++ {
			for o2 := 0; o2 < 6; o2++ {
				for _, bc := range allCombos {
					m := s.Mapping(o3, o2, bc[0], bc[1])
					if err := constraints.Check(p, m, cfg); err != nil {
						if !constraints.IsInfeasible(err) {
							return err
						}
						in.noteInfeasible(err)
						continue
					}
					var v float64
					var c *constraints.Cost
					if exactFromQuick(opts.Objective) {
						est, err := constraints.Quick(p, m, cfg)
						if err != nil {
							return err
						}
						v = quickValue(opts.Objective, p, est, cfg)
						res.Considered++
						in.offer(v, m, nil, "exhaustive")
						break // bytes and energy do not depend on the buffer counts
					} else {
						// the replay stops early only once it proves the
						// mapping cannot beat the incumbent
						var err error
						if v, c, err = evaluateBelow(ctx, p, m, cfg, opts.Objective, math.Min(in.value, cut)); err != nil {
							return err
						}
						res.Evaluated++
					}
					in.offer(v, m, c, "exhaustive")
					if s.Split.K > 1 {
						break // a K split has one buffer choice (constraints.Space.KSplits)
					}
				}
			}
		}
		return nil
	})
	if math.IsInf(in.value, 1) && fallback != nil && err != nil && ctx.Err() != nil {
		in = fallback
	}
	return conclude(ctx, p, cfg, opts, in, res, err, math.Inf(1), start)
}

// conclude turns the incumbent into a result: optimal when the search ended
// normally, feasible (bound = the given proven bound, or the problem bound)
// when ctx ended it.
func conclude(ctx context.Context, p constraints.Problem, cfg *kpu.Config, opts Options, in *incumbent, res *Result, err error, bound float64, start time.Time) (*Result, error) {
	stopped := err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
	if err != nil && !stopped {
		return nil, err
	}
	if math.IsInf(in.value, 1) {
		if stopped {
			return nil, err
		}
		return infeasibleResult(p, cfg, in, res.Engine, start)
	}
	res.Mapping, res.Value = in.mapping, in.value
	if in.engine != res.Engine {
		res.Engine = res.Engine + " (incumbent from " + in.engine + ")"
	}
	// the reported cost always comes from the replay
	if in.cost == nil {
		c, err := constraints.Evaluate(context.WithoutCancel(ctx), p, in.mapping, cfg)
		if err != nil {
			return nil, err
		}
		in.cost = c
	}
	res.Cost = in.cost
	if pl, err := constraints.Place(p, res.Mapping, cfg); err == nil {
		sum := pl.Summary
		res.Mapping.Placement = &sum
	}
	if stopped {
		res.Status = StatusFeasible
		res.Bound = math.Min(bound, res.Value)
		if math.IsInf(bound, 1) {
			res.Bound = math.Min(res.ProblemBound.Value(opts.Objective), res.Value)
		}
	} else {
		res.Status = StatusOptimal
	}
	return finish(res, start), nil
}

// candidate is a shape with an order pair and its closed-form value.
type candidate struct {
	lb     float64
	lat    float64 // latency bound: breaks ties of energy and traffic
	shape  constraints.Shape
	se     *shapeRef // the shape's closed forms (BufferBound)
	o3, o2 int8
}

// shapeRef is a shape's evaluation shared by its candidates; the lock
// serializes its lazy caches when candidates are judged in parallel.
type shapeRef struct {
	mu    sync.Mutex
	se    *constraints.ShapeEval
	floor map[floorKey]int64 // constraints.DMAFloor by L3 order and buffers
}

type floorKey struct {
	o3 int8
	b3 model.Buffers
}

// dmaFloor returns constraints.DMAFloor of mapping m (L3 order o3, L3
// buffers b3: the DMA stream depends on nothing else of the shape's).
//
// The floor matters only where the DMA engines are nearly the bottleneck:
// below 3/4 of limit by the closed form it returns 0 without walking. It
// stops once the floor passes limit; a floor cached from a cut walk is
// above every later (smaller) limit.
func (r *shapeRef) dmaFloor(ctx context.Context, p constraints.Problem, cfg *kpu.Config, o3 int8, m model.Mapping, limit float64) (int64, error) {
	k := floorKey{o3, m.L3Buffers}
	r.mu.Lock()
	f, ok := r.floor[k]
	dma := r.se.DMACycles(int(o3))
	r.mu.Unlock()
	if ok {
		return f, nil
	}
	if float64(dma) < 0.75*limit {
		return 0, nil
	}
	f, err := constraints.DMAFloorAbove(ctx, p, m, cfg, int64(math.Floor(limit)))
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	if r.floor == nil {
		r.floor = map[floorKey]int64{}
	}
	r.floor[k] = f
	r.mu.Unlock()
	return f, nil
}

func (r *shapeRef) bufferBound(o3, o2 int, b3, b2 model.Buffers) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.se.BufferBound(o3, o2, b3, b2)
}

// Optimal is the exact branch and bound (docs/search.md): heuristics seed
// the incumbent; the (split, L3 tile) points are bounded
// (constraints.ShapeBound) and sorted; in phases of a growing target
// (iterative deepening on the bound) the shapes and order pairs below the
// target are judged in closed form and their candidates judged exactly, in
// bound order and in parallel, each buffer choice first against the
// single-buffer chains, the DMA floor and the relaxed replay. A phase whose
// incumbent is at most its target has proven it optimal within the space.
// On ctx's end it returns the incumbent with the smallest unexplored bound.
func Optimal(ctx context.Context, p constraints.Problem, cfg *kpu.Config, opts Options) (*Result, error) {
	start := time.Now()
	sp := constraints.NewSpace(p, cfg)
	in := newIncumbent()
	res := &Result{Engine: "optimal", ProblemBound: constraints.LowerBound(p, cfg)}
	o := opts.Objective
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
				break // the incumbent so far stands
			}
			return nil, err
		}
		res.Evaluated++
		in.offer(v, m, c, h.name)
		if ctx.Err() != nil {
			break
		}
	}
	report := func(bound float64) {
		if opts.Progress != nil {
			opts.Progress(Progress{Engine: "optimal", Evaluated: res.Evaluated, Best: in.value, Bound: bound, Elapsed: time.Since(start)})
		}
	}
	lastReport := time.Now()
	// under a time limit, the enumeration gets three quarters of the
	// remaining time; the rest goes to the exact evaluation of the best
	// candidates found (with half, datacenter 1x4096x4096 in `kpuopt bench`
	// came out feasible, not proven, on a machine 10% slower than usual:
	// its enumeration takes about 1 s of its 1.6 s)
	ectx, ecancel := ctx, context.CancelFunc(func() {})
	if dl, ok := ctx.Deadline(); ok {
		ectx, ecancel = context.WithDeadline(ctx, time.Now().Add(time.Until(dl)*3/4))
	}
	defer ecancel()
	pts, err := enumPoints(ectx, sp, o, in, res)
	if err != nil {
		if ctx.Err() != nil || ectx.Err() == nil {
			return conclude(ctx, p, cfg, opts, in, res, err, math.Inf(1), start)
		}
		return conclude(ctx, p, cfg, opts, in, res, context.DeadlineExceeded, math.Inf(1), start)
	}
	// Iterative deepening on the bound: phase k enumerates only the shapes
	// and order pairs whose bound is below a target T (and the incumbent),
	// and judges those at or above the previous target. A phase that ends
	// with the incumbent at most T has judged every candidate below it:
	// optimal. Else the margin of T over the smallest bound doubles. Shapes
	// far above the optimum are never enumerated, which a single pass
	// pruned only by the incumbent cannot avoid while the incumbent is poor.
	base := 0.0
	if len(pts) > 0 {
		base = pts[0].b
	}
	base = math.Max(base, res.ProblemBound.Value(o))
	margin := 0.02
	if exactFromQuick(o) {
		// energy and traffic: a candidate's bound is its exact value, judged
		// at once (below), so one pass pruned by the incumbent is best
		margin = math.Inf(1)
	}
	prevT := math.Inf(-1)
	for {
		target := math.Inf(1)
		if base > 0 && margin < 64 {
			target = base * (1 + margin)
		}
		var cands []candidate
		enumErr := walkPoints(ectx, sp, o, pts, func() float64 { return math.Min(target, in.value) }, func(s constraints.Shape) {
			thr := math.Min(target, in.value)
			if s.Split.K > 1 {
				cands = kSplitCandidates(p, cfg, o, s, thr, prevT, target, in, res, cands)
				return
			}
			se, err := constraints.PrepareShape(p, s, cfg)
			if err != nil {
				return
			}
			if o == constraints.Latency && (float64(se.MinLowerCycles()) >= thr || !shapeCanBeat(se, thr)) {
				return // no order pair's bound beats the threshold: skip the capacity check
			}
			if err := se.FitsSingle(); err != nil {
				in.noteInfeasible(err)
				return
			}
			ref := &shapeRef{se: se}
			l3triv, l2triv := trivialDims(p, s)
			for o3 := 0; o3 < 6; o3++ {
				if o == constraints.Latency && !se.OrderCanBeat(o3, thr) {
					continue
				}
				if canonicalOrder(o3, l3triv) != o3 {
					continue // same stream as an earlier L3 order
				}
				for o2 := 0; o2 < 6; o2++ {
					if canonicalOrder(o2, l2triv) != o2 {
						continue // same stream as an earlier L2 order
					}
					res.Considered++
					var v, lat float64
					if o == constraints.Latency {
						v = float64(se.LowerCycles(o3, o2)) // the bytes are not needed
						lat = v
					} else {
						v = quickValue(o, p, se.Estimate(o3, o2), cfg)
						lat = float64(se.LowerCycles(o3, o2))
					}
					if v < prevT {
						continue // judged in an earlier phase
					}
					if v < thr || (exactFromQuick(o) && v == in.value && v <= target && lat < in.tie) {
						c := candidate{lb: v, lat: lat, shape: s, se: ref, o3: int8(o3), o2: int8(o2)}
						if exactFromQuick(o) {
							// exact in closed form: judged now, so the incumbent
							// prunes the rest of the enumeration
							judgeSequential(ctx, p, cfg, o, []candidate{c}, in, res, func(float64) {})
							continue
						}
						cands = append(cands, c)
					}
				}
			}
			if time.Since(lastReport) > 200*time.Millisecond {
				lastReport = time.Now()
				report(math.Max(prevT, res.ProblemBound.Value(o)))
			}
		})
		if enumErr != nil && (ctx.Err() != nil || ectx.Err() == nil) {
			return conclude(ctx, p, cfg, opts, in, res, enumErr, math.Max(prevT, res.ProblemBound.Value(o)), start)
		}
		sort.SliceStable(cands, func(i, j int) bool {
			if cands[i].lb != cands[j].lb {
				return cands[i].lb < cands[j].lb
			}
			return cands[i].lat < cands[j].lat
		})
		progress := func(lb float64) {
			if time.Since(lastReport) > 200*time.Millisecond {
				lastReport = time.Now()
				report(lb)
			}
		}
		var bound float64
		if o == constraints.Latency {
			bound, err = judgeParallel(ctx, p, cfg, cands, in, res, progress)
		} else {
			bound, err = judgeSequential(ctx, p, cfg, o, cands, in, res, progress)
		}
		if err != nil {
			if ctx.Err() != nil {
				return conclude(ctx, p, cfg, opts, in, res, ctx.Err(), math.Max(math.Min(bound, target), prevT), start)
			}
			return nil, err
		}
		if enumErr != nil {
			// the enumeration ran out of its share of the time: what was
			// found is judged, everything below the previous target is proven
			return conclude(ctx, p, cfg, opts, in, res, context.DeadlineExceeded, math.Max(prevT, res.ProblemBound.Value(o)), start)
		}
		if in.value <= target {
			return conclude(ctx, p, cfg, opts, in, res, nil, math.Inf(1), start)
		}
		prevT = target
		margin *= 2
	}
}

// kSplitCandidates appends the order pairs of shape s, which splits K
// across compute tiles, whose bound is in [prevT, thr): ShapeEval and the
// dominance rules assume no K split, so each order pair is judged by
// constraints.Quick with single buffers (its latency bound holds for every
// buffer choice: the K-split estimate claims no chain of a single buffer).
func kSplitCandidates(p constraints.Problem, cfg *kpu.Config, o constraints.Objective, s constraints.Shape, thr, prevT, target float64, in *incumbent, res *Result, cands []candidate) []candidate {
	one := model.Buffers{A: 1, B: 1, C: 1}
	if err := constraints.Check(p, s.Mapping(0, 0, one, one), cfg); err != nil {
		in.noteInfeasible(err)
		return cands // the capacities do not depend on the orders
	}
	for o3 := 0; o3 < 6; o3++ {
		for o2 := 0; o2 < 6; o2++ {
			m := s.Mapping(o3, o2, one, one)
			est, err := constraints.Quick(p, m, cfg)
			if err != nil {
				continue
			}
			res.Considered++
			lat := float64(est.LowerCycles)
			v := lat
			if o != constraints.Latency {
				v = quickValue(o, p, est, cfg)
			}
			if v < prevT {
				continue
			}
			if v < thr || (exactFromQuick(o) && v == in.value && v <= target && lat < in.tie) {
				cands = append(cands, candidate{lb: v, lat: lat, shape: s, o3: int8(o3), o2: int8(o2)})
			}
		}
	}
	return cands
}

// judgeSequential judges the candidates (sorted by bound) one after the
// other for the objectives other than latency; see judgeParallel.
func judgeSequential(ctx context.Context, p constraints.Problem, cfg *kpu.Config, o constraints.Objective, cands []candidate, in *incumbent, res *Result, progress func(float64)) (float64, error) {
	for _, c := range cands {
		if c.lb > in.value || (c.lb == in.value && !(exactFromQuick(o) && c.lat < in.tie)) {
			break
		}
		if err := ctx.Err(); err != nil {
			return c.lb, err
		}
		progress(c.lb)
		single, one, fit := c.rules(p, cfg)
		for _, bc := range allCombos {
			if (single[0] && bc[0].A == 2) || (single[1] && bc[0].B == 2) || (single[2] && bc[0].C == 2) {
				continue // same stream as single buffering, more capacity
			}
			ok, err := fit(bc)
			if err != nil {
				return c.lb, err
			}
			if !ok {
				continue
			}
			if d := withL2Double(bc, one); d != bc {
				if dok, err := fit(d); err != nil {
					return c.lb, err
				} else if dok {
					continue // dominated by more L2 double buffering (oneL2Visit)
				}
			}
			m := c.shape.Mapping(int(c.o3), int(c.o2), bc[0], bc[1])
			if exactFromQuick(o) {
				in.offerTie(c.lb, c.lat, m, "optimal")
				break // the value does not depend on the buffer counts
			}
			v, cost, err := evaluateBelow(ctx, p, m, cfg, o, in.value)
			if err != nil {
				return c.lb, err
			}
			res.Evaluated++
			in.offer(v, m, cost, "optimal")
			if v <= c.lb || c.shape.Split.K > 1 {
				break // no buffer choice can beat the shape's bound (a K split has one)
			}
		}
	}
	return math.Inf(1), nil
}

// shapeCanBeat reports whether some order pair of the shape has a latency
// bound below v.
func shapeCanBeat(se *constraints.ShapeEval, v float64) bool {
	for o3 := 0; o3 < 6; o3++ {
		if !se.OrderCanBeat(o3, v) {
			continue
		}
		for o2 := 0; o2 < 6; o2++ {
			if float64(se.LowerCycles(o3, o2)) < v {
				return true
			}
		}
	}
	return false
}

// singleVisit reports, per operand, whether its block is loaded into L3 only
// once in the whole program (then double buffering it at L3 changes nothing).
func singleVisit(p constraints.Problem, s constraints.Shape) [3]bool {
	t := [3]int64{ceilDiv(p.M, s.L3.M), ceilDiv(p.N, s.L3.N), ceilDiv(p.K, s.L3.K)}
	one := p.Batch == 1
	return [3]bool{one && t[0]*t[2] == 1, one && t[2]*t[1] == 1, one && t[0]*t[1] == 1}
}

// enumPoints and walkPoints enumerate the shapes of the space best first, pruning
// with bounds that hold for every order pair and buffer choice. Pass 1 judges
// every (split, L3 tile): the fabric time of compute tile 0 (or the DRAM
// traffic), the capacity of one buffer of each L3 block, then
// constraints.ShapeBound. Pass 2 takes the survivors in ascending order of
// that bound (ties in the order of pass 1: largest splits and tiles first)
// and stops at the first whose bound reaches the incumbent, since every
// later one does too; within each it walks the L2 tiles, checking the
// capacities and the fabric time of tile 0 with that L2 tile. fn sees every
// surviving shape. enumPoints is pass 1 (pruned by the incumbent).
func enumPoints(ctx context.Context, sp *constraints.Space, o constraints.Objective, in *incumbent, res *Result) ([]enumPoint, error) {
	p, cfg := sp.Problem, sp.Config
	e, ea, eo := p.ElemBytes(), p.AccBytes(), p.OutBytes()
	l3Bytes := cfg.L3Bytes()
	emin := res.ProblemBound.EnergyPJ
	macPJ := float64(p.MACs()) * cfg.MACEnergy(string(p.DType))
	cycBound := func(cyc int64) float64 {
		if o == constraints.EDP {
			return float64(cyc) * emin
		}
		return float64(cyc)
	}
	timeObj := o == constraints.Latency || o == constraints.EDP
	r, c := int64(cfg.ArrayRows), int64(cfg.ArrayCols)
	splits := append([]model.Split(nil), sp.Splits...)
	sort.SliceStable(splits, func(i, j int) bool { return splits[i].M*splits[i].N > splits[j].M*splits[j].N })
	desc := func(v []int64) []int64 {
		out := append([]int64(nil), v...)
		sort.Slice(out, func(i, j int) bool { return out[i] > out[j] })
		return out
	}
	t3 := [3][]int64{desc(sp.Tiles[0]), desc(sp.Tiles[1]), desc(sp.Tiles[2])}
	var pts []enumPoint
	// pass 1 (the K splits after the others)
	splits = append(splits, sp.KSplits...)
	pb := res.ProblemBound.Value(o)
	for _, split := range splits {
		sm, sn := int64(split.M), int64(split.N)
		ks := split.K > 1 // the fabric figures below assume tile 0 runs all of K
		tm, tn := dimTable{p.M, sm, r}, dimTable{p.N, sn, c}
		for _, m3 := range t3[0] {
			mp := ceilDiv(m3, sm)
			if (sm-1)*mp >= m3 || m3 > p.M {
				continue
			}
			fm3, cm3 := tm.fc(m3, mp)
			for _, n3 := range t3[1] {
				np := ceilDiv(n3, sn)
				if (sn-1)*np >= n3 || n3 > p.N {
					continue
				}
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				fn3, cn3 := tn.fc(n3, np)
				if timeObj && !ks && cycBound(fabricLB(p, cfg, fm3, fn3, cm3, cn3, 1)) >= in.value {
					continue
				}
				for _, k3 := range t3[2] {
					if k3 > p.K || (ks && int64(split.K-1)*ceilDiv(k3, int64(split.K)) >= k3) {
						continue
					}
					switch o {
					case constraints.Latency, constraints.EDP:
						if !ks && cycBound(fabricLB(p, cfg, fm3, fn3, cm3, cn3, ceilDiv(p.K, k3))) >= in.value {
							continue
						}
					case constraints.Traffic:
						if float64(dramLB(p, m3, n3, k3)) >= in.value {
							continue
						}
					case constraints.Energy:
						if macPJ+float64(dramLB(p, m3, n3, k3))*(cfg.Energy.DRAM+cfg.Energy.L3) >= in.value {
							continue
						}
					}
					// capacity: one buffer of each L3 block must fit in L3
					// altogether (placement needs it; every L2 tile and buffer
					// choice needs at least that)
					if (m3*k3+k3*n3)*e+m3*n3*min(ea, eo) > l3Bytes {
						continue
					}
					s := constraints.Shape{L3: model.Tile{M: m3, N: n3, K: k3}, Split: split}
					if ks {
						// ShapeBound assumes no K split: tile 0's fabric time on
						// its K part of every L3 step (one L2 step per L3 step)
						b := pb
						if timeObj {
							kt0, steps := kPart0(p.K, k3, ceilDiv(k3, int64(split.K)), k3)
							b = math.Max(b, cycBound(fabricLBK(p, cfg, fm3, fn3, cm3, cn3, kt0, steps)))
						}
						if b < in.value {
							pts = append(pts, enumPoint{s: s, b: b, mp: mp, np: np})
						}
						continue
					}
					cyc, dram, en, err := constraints.ShapeBound(p, s, cfg)
					if err != nil {
						continue
					}
					var b float64
					switch o {
					case constraints.Energy:
						b = en
					case constraints.Traffic:
						b = float64(dram)
					case constraints.EDP:
						b = float64(cyc) * en
					default:
						b = float64(cyc)
					}
					if b >= in.value {
						continue
					}
					pts = append(pts, enumPoint{s: s, b: b, mp: mp, np: np})
				}
			}
		}
	}
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].b < pts[j].b })
	return pts, nil
}

// enumPoint is a (split, L3 tile) of the space with its bound.
type enumPoint struct {
	s      constraints.Shape
	b      float64
	mp, np int64
}

// walkPoints is pass 2 of the enumeration: the shapes of the points pts
// (ascending bounds) whose bounds are below threshold (read once per point:
// the incumbent falls as fn judges shapes).
func walkPoints(ctx context.Context, sp *constraints.Space, o constraints.Objective, pts []enumPoint, threshold func() float64, fn func(constraints.Shape)) error {
	p, cfg := sp.Problem, sp.Config
	e, ea := p.ElemBytes(), p.AccBytes()
	lim := min(cfg.L2BankBytes, cfg.L1BufferBytes)
	l2Bytes := cfg.L2BytesPerTile()
	r, c := int64(cfg.ArrayRows), int64(cfg.ArrayCols)
	timeObj := o == constraints.Latency || o == constraints.EDP
	emin := 0.0
	if o == constraints.EDP {
		emin = constraints.LowerBound(p, cfg).EnergyPJ
	}
	cycBound := func(cyc int64) float64 {
		if o == constraints.EDP {
			return float64(cyc) * emin
		}
		return float64(cyc)
	}
	for _, pt := range pts {
		thr := threshold() // the incumbent may have fallen
		if pt.b >= thr {
			break // the bounds ascend
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		s, mp, np := pt.s, pt.mp, pt.np
		m3, n3, k3 := s.L3.M, s.L3.N, s.L3.K
		kSplit := s.Split.K > 1
		kp := ceilDiv(k3, int64(s.Split.K)) // the K part of a tile
		tm, tn := dimTable{p.M, int64(s.Split.M), r}, dimTable{p.N, int64(s.Split.N), c}
		for _, m2 := range sp.Tiles[0] {
			if m2 > mp || m2*e > lim {
				break
			}
			fm2, cm2 := tm.fc(m3, m2)
			for _, n2 := range sp.Tiles[1] {
				if n2 > np || m2*n2*ea > cfg.L2BankBytes || n2*e > lim {
					break
				}
				fn2, cn2 := tn.fc(n3, n2)
				ks := sp.Tiles[2]
				for i := len(ks) - 1; i >= 0; i-- {
					k2 := ks[i]
					if k2 > kp || m2*k2*e > lim || k2*n2*e > lim || (m2*k2+k2*n2)*e+m2*n2*ea > l2Bytes {
						continue
					}
					s.L2 = model.Tile{M: m2, N: n2, K: k2}
					if kSplit && (m2 != largestUpTo(sp.Tiles[0], mp) || n2 != largestUpTo(sp.Tiles[1], np)) {
						continue // see constraints.Space.KSplits
					}
					if kSplit {
						kt0, steps := kPart0(p.K, k3, kp, k2)
						if timeObj && cycBound(fabricLBK(p, cfg, fm2, fn2, cm2, cn2, kt0, steps)) >= thr {
							continue
						}
						fn(s) // judged by constraints.Quick, which knows the K split
						continue
					}
					fab := fabricLB(p, cfg, fm2, fn2, cm2, cn2, kSteps(p.K, k3, k2))
					if timeObj && cycBound(fab) >= thr {
						break
					}
					if timeObj {
						// boundary stalls, head and tail (not monotone in k2)
						stall, end := constraints.ShapeFloor(p, s, cfg)
						if cycBound(fab-fabricEpi(cfg)+stall+end) >= thr {
							continue
						}
					}
					fn(s)
				}
			}
		}
	}
	return nil
}
