package graph

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// Candidate is one option of a GEMM step: a mapping with a fusion length and
// a residency pattern, and its predicted figures.
type Candidate struct {
	Mapping model.Mapping
	// WorkingSet is the L3 staging of the non-resident operands (the bytes
	// of their L3 buffer slots) and the fused constants; resident operands
	// use their home instead.
	WorkingSet int64
	Fig        Figures
}

// CandidateOptions bound the per-operator candidate generation.
type CandidateOptions struct {
	// Replays is how many mappings (best by the closed-form ranking) are
	// timed exactly; 0 means 12.
	Replays int
	// NoBuckets drops the best ranked mapping of each power-of-two class of
	// L3 footprint (the small-footprint end of the front, which helps when
	// resident tensors leave little room) from the replayed set.
	NoBuckets bool
	// Seeds are mappings always evaluated (e.g. the per-operator optimum of
	// package search), whatever their ranking.
	Seeds []model.Mapping
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// loadsOf is how many times an operand indexed by the dims in idx is
// (re)loaded by a loop nest of the given order (outermost first) and trip
// counts: the product of the trips down to the deepest loop with more than
// one trip that indexes it.
func loadsOf(order string, trips [3]int64, idx string) int64 {
	deep := -1
	for l := 0; l < 3; l++ {
		d := strings.IndexByte("mnk", order[l])
		if strings.IndexByte(idx, order[l]) >= 0 && trips[d] > 1 {
			deep = l
		}
	}
	n := int64(1)
	for l := 0; l <= deep; l++ {
		n *= trips[strings.IndexByte("mnk", order[l])]
	}
	return n
}

// rank is the closed-form ranking of a mapping under a residency pattern:
// the busiest of DMA (the DRAM traffic of the non-resident operands over the
// aggregate DMA bandwidth), the fabric, and the BlockMovers and Streamers of
// one compute tile, plus the first transfer's latencies.
func rank(p constraints.Problem, m model.Mapping, cfg *kpu.Config, pat Pattern) float64 {
	e, ea := p.ElemBytes(), p.AccBytes()
	t3 := [3]int64{ceilDiv(p.M, m.L3.M), ceilDiv(p.N, m.L3.N), ceilDiv(p.K, m.L3.K)}
	frac := func(loads int64, a, b int64) float64 { return float64(loads) / float64(a*b) }
	var dram float64
	if !pat.Has(constraints.OpA) {
		dram += frac(loadsOf(m.L3Order, t3, "mk"), t3[0], t3[2]) * float64(p.M*p.K*e)
	}
	if !pat.Has(constraints.OpB) {
		dram += frac(loadsOf(m.L3Order, t3, "kn"), t3[2], t3[1]) * float64(p.K*p.N*e)
	}
	if !pat.Has(constraints.OpC) {
		// k outside the deepest m/n loop: partial sums go out and back.
		cw := float64(p.M * p.N * ea)
		if k3Outside(m.L3Order, t3) {
			dram += cw * float64(2*t3[2]-1)
		} else {
			dram += cw
		}
	}
	dram *= float64(p.Batch)
	dmaBW := cfg.EngineBandwidth(kpu.DMA, e) * float64(cfg.DMAEngines)
	dma := dram / dmaBW
	mp, np := ceilDiv(m.L3.M, int64(m.Split.M)), ceilDiv(m.L3.N, int64(m.Split.N))
	c2 := [3]int64{ceilDiv(mp, m.L2.M), ceilDiv(np, m.L2.N), ceilDiv(m.L3.K, m.L2.K)}
	steps3 := float64(p.Batch * t3[0] * t3[1] * t3[2])
	steps2 := float64(c2[0] * c2[1] * c2[2])
	fab := steps3 * steps2 * float64(cfg.FabricCycles(m.L2.M, m.L2.N, m.L2.K))
	bmBytes := frac(loadsOf(m.L2Order, c2, "mk"), c2[0], c2[2])*float64(mp*m.L3.K*e) +
		frac(loadsOf(m.L2Order, c2, "kn"), c2[2], c2[1])*float64(np*m.L3.K*e) + float64(mp*np*ea)
	bmPer := max(1, min(3, cfg.BlockMovers/max(1, cfg.ComputeTiles)))
	bm := steps3 * bmBytes / (cfg.BlockMoverBytesPerCycle * float64(bmPer))
	feedBytes := steps2 * float64((m.L2.M*m.L2.K+m.L2.K*m.L2.N)*e)
	stPer := max(1, min(2, cfg.Streamers/max(1, cfg.ComputeTiles)))
	feed := steps3 * feedBytes / (cfg.StreamerBandwidth(e) * float64(stPer))
	return max(dma, fab, bm, feed) + float64(cfg.Latency.DRAM+cfg.Latency.L3+cfg.Latency.L2)
}

// k3Outside reports whether the k loop (with more than one trip) encloses
// the deepest m or n loop with more than one trip.
func k3Outside(order string, t3 [3]int64) bool {
	deep := -1
	for l := 0; l < 3; l++ {
		if order[l] != 'k' && t3[strings.IndexByte("mnk", order[l])] > 1 {
			deep = l
		}
	}
	for l := 0; l < deep; l++ {
		if order[l] == 'k' && t3[2] > 1 {
			return true
		}
	}
	return false
}

// multiples lists base*2^i up to limit, plus limit itself when it is not in
// the list and greater than base (a full-dimension tile).
func multiples(base, limit int64, maxCount int) []int64 {
	if limit <= base {
		return []int64{limit}
	}
	var out []int64
	for v := base; v < limit && len(out) < maxCount; v *= 2 {
		out = append(out, v)
	}
	return append(out, limit)
}

func pow2Splits(tiles int) [][2]int {
	var out [][2]int
	for sm := 1; sm <= tiles; sm *= 2 {
		for sn := 1; sm*sn <= tiles; sn *= 2 {
			out = append(out, [2]int{sm, sn})
		}
	}
	return out
}

// enumerate lists structurally valid mappings of p worth ranking: L2 tiles of
// array multiples, K2 as large as the L1 feed buffers allow, the splits that
// use the most compute tiles, L3 tiles of 1..2^k L2 groups per part, K3 of one
// L2 step or the whole reduction, two loop orders per level.
func enumerate(p constraints.Problem, cfg *kpu.Config) []model.Mapping {
	R, C := int64(cfg.ArrayRows), int64(cfg.ArrayCols)
	e, ea := p.ElemBytes(), p.AccBytes()
	var out []model.Mapping
	seen := map[model.Mapping]bool{}
	add := func(m model.Mapping) {
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	m2s := multiples(min(R, p.M), p.M, 4)
	n2s := multiples(min(C, p.N), p.N, 4)
	for _, m2 := range m2s {
		for _, n2 := range n2s {
			if m2 > 8*R || n2 > 8*C {
				continue
			}
			var k2s []int64
			for _, k2 := range []int64{p.K, 2048, 1024, 512, 256, 128, 64, 32, 16, 8, 4, 2, 1} {
				if k2 > p.K || m2*k2*e > cfg.L1BufferBytes || k2*n2*e > cfg.L1BufferBytes {
					continue
				}
				if 2*(m2*k2+k2*n2)*e+2*m2*n2*ea > cfg.L2BytesPerTile() {
					continue
				}
				k2s = append(k2s, k2)
				if len(k2s) == 2 {
					break
				}
			}
			// the splits that use the most compute tiles with non-empty parts
			var splits [][2]int
			best := 0
			for _, s := range pow2Splits(cfg.ComputeTiles) {
				if int64(s[0]) > ceilDiv(p.M, m2) || int64(s[1]) > ceilDiv(p.N, n2) {
					continue
				}
				if u := s[0] * s[1]; u > best {
					best, splits = u, nil
				}
				if s[0]*s[1] == best {
					splits = append(splits, s)
				}
			}
			for _, k2 := range k2s {
				for _, s := range splits {
					sm, sn := int64(s[0]), int64(s[1])
					for _, mp := range multiples(m2, max(m2, ceilDiv(p.M, sm)), 5) {
						m3 := min(p.M, sm*mp)
						if (sm-1)*ceilDiv(m3, sm) >= m3 {
							continue
						}
						for _, np := range multiples(n2, max(n2, ceilDiv(p.N, sn)), 5) {
							n3 := min(p.N, sn*np)
							if (sn-1)*ceilDiv(n3, sn) >= n3 {
								continue
							}
							mpart, npart := ceilDiv(m3, sm), ceilDiv(n3, sn)
							for _, k3 := range []int64{k2, p.K} {
								for _, o3 := range []string{"mnk", "nmk"} {
									for _, o2 := range []string{"mnk", "nmk"} {
										add(model.Mapping{
											L3: model.Tile{M: m3, N: n3, K: k3}, L2: model.Tile{M: min(m2, mpart), N: min(n2, npart), K: k2},
											L3Order: o3, L2Order: o2, Split: model.Split{M: s[0], N: s[1], K: 1},
											L3Buffers: model.Buffers{A: 2, B: 2, C: 2}, L2Buffers: model.Buffers{A: 2, B: 2, C: 2},
										})
									}
								}
							}
						}
					}
				}
			}
		}
	}
	return out
}

// fit makes m legal by dropping double buffering (L3 first, then L2) until it
// fits; ok is false if even single buffering does not fit.
func fit(p constraints.Problem, m model.Mapping, cfg *kpu.Config) (model.Mapping, *constraints.Placement, bool) {
	l3s := []model.Buffers{{A: 2, B: 2, C: 2}, {A: 2, B: 2, C: 1}, {A: 1, B: 1, C: 1}}
	l2s := []model.Buffers{{A: 2, B: 2, C: 2}, {A: 2, B: 2, C: 1}, {A: 1, B: 1, C: 1}}
	for _, b2 := range l2s {
		for _, b3 := range l3s {
			m.L3Buffers, m.L2Buffers = b3, b2
			pl, err := constraints.Place(p, m, cfg)
			if err == nil {
				return m, pl, true
			}
			if !constraints.IsInfeasible(err) {
				return m, nil, false
			}
		}
	}
	return m, nil, false
}

// stagingBytes sums the L3 buffer slots of each operand.
func stagingBytes(pl *constraints.Placement) [3]int64 {
	var s [3]int64
	for _, b := range pl.Summary.L3 {
		switch {
		case strings.HasPrefix(b.Buffer, "A3"):
			s[0] += b.Bytes
		case strings.HasPrefix(b.Buffer, "B3"):
			s[1] += b.Bytes
		case strings.HasPrefix(b.Buffer, "C3"):
			s[2] += b.Bytes
		}
	}
	return s
}

// Evaluated is one mapping of a GEMM timed on its GEMM view under each
// residency pattern asked for (Outcomes is indexed like the patterns), with
// the L3 staging bytes of each operand.
type Evaluated struct {
	Mapping  model.Mapping
	Staging  [3]int64
	Outcomes []Outcome
}

// Outcome is the replayed figure of a mapping under one residency pattern.
type Outcome struct {
	Cycles   int64
	EnergyPJ float64
	DRAM     int64
}

// GEMMCandidates evaluates mappings of p under every pattern in pats: the
// opts.Replays best by the closed-form ranking of each pattern (and, unless
// NoBuckets, the best of each power-of-two footprint class) and every seed
// are replayed exactly under all patterns. An operator no mapping fits
// returns an *constraints.InfeasibleError.
func GEMMCandidates(ctx context.Context, p constraints.Problem, cfg *kpu.Config, pats []Pattern, opts CandidateOptions) ([]Evaluated, error) {
	if opts.Replays <= 0 {
		opts.Replays = 12
	}
	all := enumerate(p, cfg)
	type ranked struct {
		m     model.Mapping
		score float64
	}
	chosen := map[model.Mapping]bool{}
	var order []model.Mapping
	placed := map[model.Mapping]*constraints.Placement{}
	fixed := map[model.Mapping]model.Mapping{}
	var firstErr error
	for _, pat := range pats {
		rs := make([]ranked, len(all))
		for i, m := range all {
			rs[i] = ranked{m, rank(p, m, cfg, pat)}
		}
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].score < rs[j].score })
		taken := 0
		buckets := map[int]bool{}
		for _, r := range rs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			wantBucket := false
			if !opts.NoBuckets {
				b := int(math.Log2(float64(1 + r.m.L3.M*r.m.L3.K + r.m.L3.K*r.m.L3.N + r.m.L3.M*r.m.L3.N)))
				wantBucket = !buckets[b]
			}
			if taken >= opts.Replays && !wantBucket {
				continue
			}
			fm, ok := fixed[r.m]
			if !ok {
				var pl *constraints.Placement
				var good bool
				fm, pl, good = fit(p, r.m, cfg)
				if !good {
					fixed[r.m] = model.Mapping{}
					if firstErr == nil {
						_, firstErr = constraints.Place(p, r.m, cfg)
					}
					continue
				}
				fixed[r.m] = fm
				placed[fm] = pl
			} else if fm == (model.Mapping{}) {
				continue
			}
			if !opts.NoBuckets {
				b := int(math.Log2(float64(1 + r.m.L3.M*r.m.L3.K + r.m.L3.K*r.m.L3.N + r.m.L3.M*r.m.L3.N)))
				buckets[b] = true
			}
			taken++
			if !chosen[fm] {
				chosen[fm] = true
				order = append(order, fm)
			}
		}
	}
	if len(order) == 0 && len(opts.Seeds) == 0 {
		if firstErr == nil {
			firstErr = fmt.Errorf("%s: no mapping candidate", p.Name)
		}
		return nil, firstErr
	}
	for _, m := range opts.Seeds {
		if chosen[m] {
			continue
		}
		pl, err := constraints.Place(p, m, cfg)
		if err != nil {
			return nil, fmt.Errorf("%s: seed mapping: %w", p.Name, err)
		}
		chosen[m] = true
		placed[m] = pl
		order = append(order, m)
	}
	out := make([]Evaluated, 0, len(order))
	for _, m := range order {
		res, err := replayPatterns(ctx, p, m, cfg, pats)
		if err != nil {
			return nil, fmt.Errorf("%s: replay of a candidate mapping: %w", p.Name, err)
		}
		ev := Evaluated{Mapping: m, Staging: stagingBytes(placed[m])}
		for _, r := range res {
			ev.Outcomes = append(ev.Outcomes, Outcome{Cycles: r.cycles, EnergyPJ: r.energy, DRAM: r.bytes.DRAM()})
		}
		out = append(out, ev)
	}
	return out, nil
}
