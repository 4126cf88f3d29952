package constraints

import "github.com/stillwater-sc/kpuopt/kpu"

// span is a run of equal-size pieces of a dimension: count pieces of size.
type span struct{ size, count int64 }

// cut splits extent into pieces of t: the full pieces and the remainder.
func cut(extent, t int64) []span {
	var s []span
	if f := extent / t; f > 0 {
		s = append(s, span{t, f})
	}
	if r := extent % t; r > 0 {
		s = append(s, span{r, 1})
	}
	return s
}

// groupSpans lists the group sizes along one dim of an L3 tile of extent ext
// split into parts of ps and groups of t.
func groupSpans(ext, ps, t int64) []span {
	var out []span
	for _, p := range cut(ext, ps) {
		for _, gsp := range cut(p.size, t) {
			out = append(out, span{gsp.size, gsp.count * p.count})
		}
	}
	return out
}

// reuseLoads is the number of loads of an operand indexed by dims (a, b) in a
// loop nest of the given order and trips: the product of the trip counts of
// the loops down to the deepest loop that indexes it with trip > 1.
func reuseLoads(order [3]int, trips [3]int64, a, b int) int64 {
	deep := -1
	for l := 0; l < 3; l++ {
		if d := order[l]; (d == a || d == b) && trips[d] > 1 {
			deep = l
		}
	}
	n := int64(1)
	for l := 0; l <= deep; l++ {
		n *= trips[order[l]]
	}
	return n
}

// Estimate is the closed-form judgement of a mapping used by the search: the
// exact bytes per level, the exact busy time of every class of engine on the
// busiest compute tile (tile 0) and of the DMA engines together, and a lower
// bound of the replayed latency.
type Estimate struct {
	Bytes      LevelBytes
	DMABusy    int64    // total over all DMA engines
	BMBusy     [3]int64 // tile 0, by operand
	FeedBusy   [2]int64 // tile 0, A and B
	FabricBusy int64    // tile 0
	// Stall is the idle time of tile 0's fabric proven at L3 step
	// boundaries (stall.go); it holds for every buffer choice.
	Stall int64
	// Head is the earliest end of the first A or B group load (no
	// BlockMover command of tile 0 starts before); FinalMove the cycles of
	// tile 0's final move_out; Tail the DMA stores that run after it
	// (stall.go). They do not depend on the orders or buffer counts.
	Head, FinalMove, Tail int64
	LowerCycles           int64 // a lower bound of Replay's cycles for this mapping
}

func xfer(cfg *kpu.Config, k kpu.EngineKind, bytes, eb int64) int64 {
	return cfg.TransferCycles(k, bytes, eb)
}

// estimate computes the closed-form figures of a structurally valid mapping.
func (g *geom) estimate() Estimate {
	var est Estimate
	l3 := g.l3Spans()
	g.dmaPart(&est, l3)
	g.persist = g.persistC()
	g.tilePart(&est, l3)
	g.levelBytes(&est.Bytes, l3)
	est.Stall = g.l3Stall()
	est.Head, est.FinalMove, est.Tail = g.edgeFigures()
	g.lowerCycles(&est)
	est.LowerCycles = max(est.LowerCycles, g.chains(l3, &est))
	return est
}

func (g *geom) l3Spans() [3][]span {
	dims := [3]int64{g.p.M, g.p.N, g.p.K}
	var l3 [3][]span
	for d := 0; d < 3; d++ {
		l3[d] = cut(dims[d], g.tile3[d])
	}
	return l3
}

// dmaPart adds the DMA busy time and the DRAM bytes (they depend on the L3
// order, not on the L2 order).
func (g *geom) dmaPart(est *Estimate, l3 [3][]span) {
	cfg := g.cfg
	bat := g.p.Batch
	e, ea := g.e, g.ea

	// DMA: loads of A and B with L3 reuse, C stores and partial reloads.
	multA := reuseLoads(g.ord3, g.t3, 0, 2) / (g.t3[0] * g.t3[2])
	multB := reuseLoads(g.ord3, g.t3, 2, 1) / (g.t3[2] * g.t3[1])
	multC := reuseLoads(g.ord3, g.t3, 0, 1) / (g.t3[0] * g.t3[1])
	for _, sm := range l3[0] {
		gm := groupSpans(sm.size, g.mp, g.tile2[0])
		for _, sk := range l3[2] {
			for _, grp := range gm {
				b := grp.size * sk.size * e
				est.DMABusy += bat * multA * sm.count * sk.count * grp.count * xfer(cfg, kpu.DMA, b, e)
				est.Bytes.DRAMRead += bat * multA * sm.count * sk.count * grp.count * b
			}
		}
	}
	for _, sn := range l3[1] {
		gn := groupSpans(sn.size, g.np, g.tile2[1])
		for _, sk := range l3[2] {
			for _, grp := range gn {
				b := grp.size * sk.size * e
				est.DMABusy += bat * multB * sn.count * sk.count * grp.count * xfer(cfg, kpu.DMA, b, e)
				est.Bytes.DRAMRead += bat * multB * sn.count * sk.count * grp.count * b
			}
		}
	}
	for _, sm := range l3[0] {
		gm := groupSpans(sm.size, g.mp, g.tile2[0])
		for _, sn := range l3[1] {
			gn := groupSpans(sn.size, g.np, g.tile2[1])
			for _, a := range gm {
				for _, b := range gn {
					by := a.size * b.size * ea
					n := bat * sm.count * sn.count * a.count * b.count
					t := xfer(cfg, kpu.DMA, by, ea)
					est.DMABusy += n * (2*multC - 1) * t
					est.Bytes.DRAMWrite += n * multC * by
					est.Bytes.DRAMRead += n * (multC - 1) * by
				}
			}
		}
	}
	g.narrowStores(est, l3) // narrow.go
	est.Bytes.L3Write += est.Bytes.DRAMRead
	est.Bytes.L3Read += est.Bytes.DRAMWrite

}

// tilePart adds the busy times of tile 0 (part (0,0) of every L3 tile):
// moves, feeds, matmuls. They depend on the L2 order and, through
// g.persist, on whether C2 blocks stay in L2 across L3 k steps.
func (g *geom) tilePart(est *Estimate, l3 [3][]span) {
	cfg := g.cfg
	bat := g.p.Batch
	e, ea := g.e, g.ea
	R, C := int64(cfg.ArrayRows), int64(cfg.ArrayCols)
	for _, sm := range l3[0] {
		pm := min(g.mp, sm.size)
		ms := cut(pm, g.tile2[0])
		for _, sn := range l3[1] {
			pn := min(g.np, sn.size)
			ns := cut(pn, g.tile2[1])
			// k: split the first L3 k tile from the others (partial sums)
			var ks []struct {
				span
				first bool
			}
			for i, sk := range l3[2] {
				if i == 0 {
					ks = append(ks, struct {
						span
						first bool
					}{span{sk.size, 1}, true})
					if sk.count > 1 {
						ks = append(ks, struct {
							span
							first bool
						}{span{sk.size, sk.count - 1}, false})
					}
				} else {
					ks = append(ks, struct {
						span
						first bool
					}{sk, false})
				}
			}
			for _, sk := range ks {
				w := bat * sm.count * sn.count * sk.count
				kk := cut(sk.size, g.tile2[2])
				c := [3]int64{ceilDiv(pm, g.tile2[0]), ceilDiv(pn, g.tile2[1]), ceilDiv(sk.size, g.tile2[2])}
				steps := c[0] * c[1] * c[2]
				// fabric
				var fm, fn int64
				for _, s := range ms {
					fm += s.count * ceilDiv(s.size, R)
				}
				for _, s := range ns {
					fn += s.count * ceilDiv(s.size, C)
				}
				est.FabricBusy += w * (fm*fn*sk.size + (R+C)*steps)
				// feeds and A/B moves
				mA := reuseLoads(g.ord2, c, 0, 2) / (c[0] * c[2])
				mB := reuseLoads(g.ord2, c, 2, 1) / (c[2] * c[1])
				for _, a := range ms {
					for _, k := range kk {
						b := a.size * k.size * e
						n := w * a.count * k.count
						est.FeedBusy[0] += n * c[1] * xfer(cfg, kpu.Streamer, b, e)
						est.BMBusy[0] += n * mA * xfer(cfg, kpu.BlockMover, b, e)
					}
				}
				for _, bn := range ns {
					for _, k := range kk {
						b := bn.size * k.size * e
						n := w * bn.count * k.count
						est.FeedBusy[1] += n * c[0] * xfer(cfg, kpu.Streamer, b, e)
						est.BMBusy[1] += n * mB * xfer(cfg, kpu.BlockMover, b, e)
					}
				}
				visits := int64(1)
				if g.kOuterC(c) {
					visits = c[2]
				}
				moves, reloads := visits, visits
				if sk.first {
					reloads--
				}
				if g.persist && c[0] == 1 && c[1] == 1 {
					moves, reloads = 0, 0
					if sk.first {
						moves = 1 // one move_out per C3 visit
					}
				}
				for _, a := range ms {
					for _, bn := range ns {
						b := a.size * bn.size * ea
						n := w * a.count * bn.count
						est.BMBusy[2] += n * (moves + reloads) * xfer(cfg, kpu.BlockMover, b, ea)
					}
				}
			}
		}
	}
	g.narrowMoves(est, l3) // narrow.go
}

// busyBound is the largest busy time of one engine (DMA engines on average)
// plus the epilogue after the last matmul: a lower bound of the replay for
// any L2 tile no smaller than the estimate's.
func (g *geom) busyBound(est *Estimate) int64 {
	cfg := g.cfg
	nd := int64(cfg.DMAEngines)
	lb := ceilDiv(est.DMABusy, nd)
	bm := engineSet(cfg.BlockMovers, cfg.ComputeTiles, 0)
	var perBM [3]int64
	for x := 0; x < 3; x++ {
		perBM[x%len(bm)] += est.BMBusy[x]
	}
	lb = max(lb, perBM[0], perBM[1], perBM[2])
	if st := engineSet(cfg.Streamers, cfg.ComputeTiles, 0); len(st) == 1 {
		lb = max(lb, est.FeedBusy[0]+est.FeedBusy[1])
	} else {
		lb = max(lb, est.FeedBusy[0], est.FeedBusy[1])
	}
	epi := cfg.TransferLatency(kpu.BlockMover) + cfg.TransferLatency(kpu.DMA) + 2
	return max(lb, est.FabricBusy+epi)
}

// lowerCycles sets the lower bound of the replay: the busy bound, and the
// fabric cannot start before the first A and B arrive (one DMA load, one
// move and one feed each).
func (g *geom) lowerCycles(est *Estimate) {
	est.LowerCycles = max(g.busyBound(est), g.prologue()+est.FabricBusy+est.Stall+g.fabricTail(est), est.Head+g.onC(est)+est.Tail)
}

// prologue is the least time before tile 0's first matmul: the first A and
// B group loads, moves and feeds.
func (g *geom) prologue() int64 {
	cfg, e := g.cfg, g.e
	first := func(x Operand) int64 {
		rows, cols := min(g.tile2[0], g.p.M), min(g.tile3[2], g.p.K)
		k2 := min(g.tile2[2], g.p.K)
		b2 := min(g.tile2[0], g.p.M) * k2 * e
		if x == OpB {
			rows, cols = min(g.tile3[2], g.p.K), min(g.tile2[1], g.p.N)
			b2 = k2 * min(g.tile2[1], g.p.N) * e
		}
		return xfer(cfg, kpu.DMA, rows*cols*e, e) + xfer(cfg, kpu.BlockMover, b2, e) + xfer(cfg, kpu.Streamer, b2, e)
	}
	return max(first(OpA), first(OpB))
}

// fabricTail is the least time after tile 0's last matmul: its final
// move_out and the stores queued behind it.
func (g *geom) fabricTail(est *Estimate) int64 {
	epi := g.cfg.TransferLatency(kpu.BlockMover) + g.cfg.TransferLatency(kpu.DMA) + 2
	return max(epi, est.FinalMove+est.Tail)
}

// onC is the busy time of the BlockMover that runs tile 0's C moves.
func (g *geom) onC(est *Estimate) int64 {
	cfg := g.cfg
	bm := engineSet(cfg.BlockMovers, cfg.ComputeTiles, 0)
	ce := bm[int(OpC)%len(bm)]
	var onC int64
	for x := OpA; x <= OpC; x++ {
		if bm[int(x)%len(bm)] == ce {
			onC += est.BMBusy[x]
		}
	}
	return onC
}

// levelBytes adds the exact L3, L2 and L1 traffic of the moves, feeds and
// matmuls of every compute tile.
func (g *geom) levelBytes(b *LevelBytes, l3 [3][]span) {
	e, ea := g.e, g.ea
	bat := g.p.Batch
	for _, sm := range l3[0] {
		parts := cut(sm.size, g.mp)
		for _, sn := range l3[1] {
			nparts := cut(sn.size, g.np)
			for i, sk := range l3[2] {
				for _, pmS := range parts {
					for _, pnS := range nparts {
						pm, pn := pmS.size, pnS.size
						c := [3]int64{ceilDiv(pm, g.tile2[0]), ceilDiv(pn, g.tile2[1]), ceilDiv(sk.size, g.tile2[2])}
						mA := reuseLoads(g.ord2, c, 0, 2) / (c[0] * c[2])
						mB := reuseLoads(g.ord2, c, 2, 1) / (c[2] * c[1])
						w := bat * sm.count * sn.count * pmS.count * pnS.count
						aBytes, bBytes, cBytes := pm*sk.size*e, sk.size*pn*e, pm*pn*ea
						// moves in (A, B), feeds, L1 reads by the fabric
						b.L3Read += w * sk.count * (mA*aBytes + mB*bBytes)
						b.L2Write += w * sk.count * (mA*aBytes + mB*bBytes)
						feed := c[1]*aBytes + c[0]*bBytes
						b.L2Read += w * sk.count * feed
						b.L1Write += w * sk.count * feed
						b.L1Read += w * sk.count * feed
						b.L1Read += w * sk.count * g.partRereads(pm, pn, sk.size)
						// C: visits per block, reloads, matmul accumulation
						visits := int64(1)
						if g.kOuterC(c) {
							visits = c[2]
						}
						nk := sk.count
						outs, reloads := visits*nk, visits*nk
						var first int64
						if i == 0 {
							first = 1 // the very first visit starts at k = 0
						}
						reloads -= first
						if g.persist && c[0] == 1 && c[1] == 1 {
							outs, reloads = first, 0
						}
						b.L2Read += w * cBytes * outs       // move_out
						b.L3Write += w * cBytes * outs      // move_out
						b.L3Read += w * cBytes * reloads    // reload
						b.L2Write += w * cBytes * reloads   // reload
						b.L2Write += w * cBytes * c[2] * nk // every matmul writes C
						// every matmul but the very first of a C block accumulates (reads C)
						b.L2Read += w * cBytes * (c[2]*nk - first)
					}
				}
			}
		}
	}
	g.narrowBytes(b) // narrow.go
}

// persistC reports whether a C3 visit spans all the L3 k steps of its block
// (so a part holding a single C2 block keeps it in L2 across them).
func (g *geom) persistC() bool {
	return g.t3[2] > 1 && reuseLoads(g.ord3, g.t3, 0, 1) == g.t3[0]*g.t3[1]
}

// kOuterC reports whether, at L2 with trips c, the k loop lies outside the
// deepest m or n loop with trip > 1 (then each C2 block is visited c[k] times).
func (g *geom) kOuterC(c [3]int64) bool {
	deep := -1
	for l := 0; l < 3; l++ {
		if d := g.ord2[l]; d != 2 && c[d] > 1 {
			deep = l
		}
	}
	for l := 0; l < deep; l++ {
		if g.ord2[l] == 2 {
			return true
		}
	}
	return false
}

// fabricBound is the compute bound of a problem: every MAC on some PE.
func fabricBound(p Problem, cfg *kpu.Config) int64 {
	pes := int64(cfg.ComputeTiles) * int64(cfg.ArrayRows) * int64(cfg.ArrayCols)
	return ceilDiv(p.MACs(), pes)
}
