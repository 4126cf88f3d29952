package search

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// heuristic runs a mapping rule and judges its result exactly.
func heuristic(name string, rule func(constraints.Problem, *kpu.Config, constraints.Objective) (model.Mapping, error)) Engine {
	return func(ctx context.Context, p constraints.Problem, cfg *kpu.Config, opts Options) (*Result, error) {
		start := time.Now()
		res := &Result{Engine: name, ProblemBound: constraints.LowerBound(p, cfg)}
		m, err := rule(p, cfg, opts.Objective)
		if err != nil {
			if constraints.IsInfeasible(err) {
				res.Status, res.Err, res.Value = StatusInfeasible, err, math.Inf(1)
				return finish(res, start), nil
			}
			return nil, err
		}
		v, c, err := evaluateSeed(ctx, p, m, cfg, opts.Objective, true)
		if err != nil {
			return nil, err
		}
		if pl, err := constraints.Place(p, m, cfg); err == nil {
			sum := pl.Summary
			m.Placement = &sum
		}
		res.Status, res.Mapping, res.Cost, res.Value, res.Evaluated = StatusFeasible, m, c, v, 1
		res.Bound = math.Min(res.ProblemBound.Value(opts.Objective), v)
		return finish(res, start), nil
	}
}

// KPUSim is the tiling rule of stillwater-sc/kpu-sim's compiler (issue 4):
// s = the array side, Cap = one L2 bank in elements;
// Ti = max(s, roundDown_s(min(M, sqrt(Cap*M/(2K+M))))), Tj likewise with N,
// Tk = max(s, roundDown_s(min(K, (Cap - Ti*Tj)/(Ti+Tj)))); while
// (Ti*Tk + Tk*Tj + Ti*Tj) x bytes exceeds the bank, shrink Tk by s, else Tj,
// else Ti. Output-stationary (order mnk), A and B prefetched one k-step ahead
// in two buffers, no L3 blocking (the L3 tile stages exactly what one step of
// the compute tiles needs). Its output tiles are spread over as many compute
// tiles as there are output tiles (up to all of them).
var KPUSim = heuristic("kpusim", kpusimMapping)

// Greedy takes the largest L2 tile that fits double buffered, the largest L3
// tile that fits around it, the split using the most compute tiles, and the
// best order pair by the closed form.
var Greedy = heuristic("greedy", greedyMapping)

func roundDown(v, s int64) int64 { return v / s * s }

func kpusimMapping(p constraints.Problem, cfg *kpu.Config, _ constraints.Objective) (model.Mapping, error) {
	s := int64(max(cfg.ArrayRows, cfg.ArrayCols))
	e := p.ElemBytes()
	capE := cfg.L2BankBytes / e
	M, N, K := p.M, p.N, p.K
	ti := max(s, roundDown(min(M, int64(math.Sqrt(float64(capE*M)/float64(2*K+M)))), s))
	tj := max(s, roundDown(min(N, int64(math.Sqrt(float64(capE*N)/float64(2*K+N)))), s))
	tk := max(s, roundDown(min(K, (capE-ti*tj)/max(1, ti+tj)), s))
	for (ti*tk+tk*tj+ti*tj)*e > cfg.L2BankBytes {
		switch {
		case tk > s:
			tk -= s
		case tj > s:
			tj -= s
		case ti > s:
			ti -= s
		default:
			return model.Mapping{}, &constraints.InfeasibleError{Problem: p.Name, Shortfall: constraints.Shortfall{Level: "l2",
				What: "the kpusim rule's smallest tile (s x s x s, A, B and C in one bank)", Need: 3 * s * s * e, Have: cfg.L2BankBytes}}
		}
	}
	ti, tj, tk = min(ti, M), min(tj, N), min(tk, K)
	// spread the output tiles over the compute tiles
	sp := constraints.NewSpace(p, cfg)
	splits := append([]model.Split(nil), sp.Splits...)
	sort.SliceStable(splits, func(i, j int) bool {
		a, b := splits[i], splits[j]
		if a.M*a.N != b.M*b.N {
			return a.M*a.N > b.M*b.N
		}
		return abs(a.M-a.N) < abs(b.M-b.N)
	})
	var firstErr error
	for _, sl := range splits {
		if int64(sl.M) > ceilDiv(M, ti) || int64(sl.N) > ceilDiv(N, tj) {
			continue
		}
		m3, n3 := min(int64(sl.M)*ti, M), min(int64(sl.N)*tj, N)
		mp, np := ceilDiv(m3, int64(sl.M)), ceilDiv(n3, int64(sl.N))
		m := model.Mapping{L3: model.Tile{M: m3, N: n3, K: tk}, L2: model.Tile{M: min(ti, mp), N: min(tj, np), K: tk},
			L3Order: "mnk", L2Order: "mnk", Split: sl}
		for _, b3 := range []model.Buffers{{A: 2, B: 2, C: 1}, {A: 1, B: 1, C: 1}} {
			m.L3Buffers, m.L2Buffers = b3, model.Buffers{A: 2, B: 2, C: 1}
			err := constraints.Check(p, m, cfg)
			if err == nil {
				return m, nil
			}
			if !constraints.IsInfeasible(err) {
				continue
			}
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("kpusim rule: no split of %dx%d output tiles fits the machine", ceilDiv(M, ti), ceilDiv(N, tj))
	}
	return model.Mapping{}, firstErr
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func greedyMapping(p constraints.Problem, cfg *kpu.Config, o constraints.Objective) (model.Mapping, error) {
	sp := constraints.NewSpace(p, cfg)
	splits := append([]model.Split(nil), sp.Splits...)
	side := [2]int64{int64(cfg.ArrayRows), int64(cfg.ArrayCols)}
	// the split using the most compute tiles that still gives every tile a
	// part of at least one array side (or the whole dim), most square parts first
	score := func(s model.Split) (int, int64) {
		mp, np := ceilDiv(p.M, int64(s.M)), ceilDiv(p.N, int64(s.N))
		if (mp < side[0] && s.M > 1) || (np < side[1] && s.N > 1) {
			return 0, 0
		}
		d := mp - np
		if d < 0 {
			d = -d
		}
		return s.M * s.N, d
	}
	sort.SliceStable(splits, func(i, j int) bool {
		ai, di := score(splits[i])
		aj, dj := score(splits[j])
		if ai != aj {
			return ai > aj
		}
		return di < dj
	})
	dbl := model.Buffers{A: 2, B: 2, C: 2}
	one := model.Buffers{A: 1, B: 1, C: 1}
	var firstErr error
	for _, sl := range splits {
		mpMax, npMax := ceilDiv(p.M, int64(sl.M)), ceilDiv(p.N, int64(sl.N))
		// the largest L2 tile (by volume, then output area) that fits double buffered
		type tile struct{ m, n, k int64 }
		var l2s []tile
		// only tiles whose A, B and C slots each fit one L1 buffer / L2 bank
		// (constraints.Check rejects the others): on huge dims the full
		// product of the candidate lists would not fit in memory
		e, ea := p.ElemBytes(), p.AccBytes()
		feed := min(cfg.L1BufferBytes, cfg.L2BankBytes)
		for _, m2 := range sp.Tiles[0] {
			if m2 > mpMax {
				break
			}
			for _, n2 := range sp.Tiles[1] {
				if n2 > npMax || m2*n2*ea > cfg.L2BankBytes {
					break
				}
				for _, k2 := range sp.Tiles[2] {
					if m2*k2*e > feed || k2*n2*e > feed {
						break
					}
					l2s = append(l2s, tile{m2, n2, k2})
				}
			}
		}
		sort.SliceStable(l2s, func(i, j int) bool {
			vi, vj := l2s[i].m*l2s[i].n*l2s[i].k, l2s[j].m*l2s[j].n*l2s[j].k
			if vi != vj {
				return vi > vj
			}
			return l2s[i].m*l2s[i].n > l2s[j].m*l2s[j].n
		})
		for _, t2 := range l2s {
			probe := model.Mapping{L3: model.Tile{M: min(p.M, t2.m*int64(sl.M)), N: min(p.N, t2.n*int64(sl.N)), K: t2.k},
				L2: model.Tile{M: t2.m, N: t2.n, K: t2.k}, L3Order: "mnk", L2Order: "mnk", Split: sl, L3Buffers: one, L2Buffers: dbl}
			if err := constraints.Check(p, probe, cfg); err != nil {
				if firstErr == nil && constraints.IsInfeasible(err) {
					firstErr = err
				}
				continue
			}
			// the largest L3 tile around it that fits, double buffered if possible
			best, ok := greedyL3(p, cfg, sp, probe)
			if !ok {
				continue
			}
			return bestOrders(p, cfg, best, o), nil
		}
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("greedy: no mapping fits")
	}
	return model.Mapping{}, firstErr
}

// greedyL3 grows the L3 tile of m (by volume) as far as capacity allows.
func greedyL3(p constraints.Problem, cfg *kpu.Config, sp *constraints.Space, m model.Mapping) (model.Mapping, bool) {
	type tile struct{ m, n, k int64 }
	var l3s []tile
	sm, sn := int64(m.Split.M), int64(m.Split.N)
	for _, m3 := range sp.Tiles[0] {
		if ceilDiv(m3, sm) < m.L2.M || (sm-1)*ceilDiv(m3, sm) >= m3 {
			continue
		}
		for _, n3 := range sp.Tiles[1] {
			if ceilDiv(n3, sn) < m.L2.N || (sn-1)*ceilDiv(n3, sn) >= n3 {
				continue
			}
			for _, k3 := range sp.Tiles[2] {
				if (m3*k3+k3*n3)*p.ElemBytes()+m3*n3*p.AccBytes() > cfg.L3Bytes() {
					break // not even single buffered (the loop below needs at least this)
				}
				if k3 >= m.L2.K {
					l3s = append(l3s, tile{m3, n3, k3})
				}
			}
		}
	}
	sort.SliceStable(l3s, func(i, j int) bool {
		vi, vj := l3s[i].m*l3s[i].n*l3s[i].k, l3s[j].m*l3s[j].n*l3s[j].k
		if vi != vj {
			return vi > vj
		}
		return l3s[i].m*l3s[i].n > l3s[j].m*l3s[j].n
	})
	e, ea := p.ElemBytes(), p.AccBytes()
	for _, bufs := range []model.Buffers{{A: 2, B: 2, C: 2}, {A: 2, B: 2, C: 1}, {A: 1, B: 1, C: 1}} {
		for _, t := range l3s {
			need := int64(bufs.A)*t.m*t.k*e + int64(bufs.B)*t.k*t.n*e + int64(bufs.C)*t.m*t.n*ea
			if need > cfg.L3Bytes() {
				continue
			}
			c := m
			c.L3, c.L3Buffers = model.Tile{M: t.m, N: t.n, K: t.k}, bufs
			if constraints.Check(p, c, cfg) == nil {
				return c, true
			}
		}
	}
	return m, false
}

// bestOrders picks the order pair with the best closed-form value.
func bestOrders(p constraints.Problem, cfg *kpu.Config, m model.Mapping, o constraints.Objective) model.Mapping {
	se, err := constraints.NewShapeEval(p, constraints.Shape{L3: m.L3, L2: m.L2, Split: m.Split}, cfg)
	if err != nil {
		return m
	}
	best, b3, b2 := math.Inf(1), 0, 0
	for o3 := 0; o3 < 6; o3++ {
		for o2 := 0; o2 < 6; o2++ {
			if v := quickValue(o, p, se.Estimate(o3, o2), cfg); v < best {
				best, b3, b2 = v, o3, o2
			}
		}
	}
	m.L3Order, m.L2Order = model.Orders[b3], model.Orders[b2]
	return m
}
