package constraints

import "github.com/stillwater-sc/kpuopt/kpu"

// The closed form of a mapping that splits K across compute tiles
// (Split.K > 1, docs/mapping.md section 2): the DRAM side is that of the
// unsplit mapping (the K parts share the C3 groups), tile 0 runs the first
// K part of every L3 tile, and every later K part's C2 visit starts from
// zero and ends with a reduce_in of the group's running sum and an add.

// estimateKSplit is estimate for a K split: exact bytes per level, the DMA
// busy time, tile 0's busy times (its final move_outs counted at the
// accumulator size, so its C BlockMover time is a lower bound), and a lower
// bound of the replay. No L3-boundary stall or edge figure is claimed.
func (g *geom) estimateKSplit() Estimate {
	var est Estimate
	l3 := g.l3Spans()
	g.dmaPart(&est, l3)
	g.persist = false
	t0 := l3
	t0[2] = make([]span, len(l3[2]))
	for i, s := range l3[2] {
		t0[2][i] = span{min(g.kp, s.size), s.count}
	}
	narrow := g.narrow
	g.narrow = false // tile 0 does not hold the final move_outs
	g.tilePart(&est, t0)
	g.narrow = narrow
	g.levelBytesKSplit(&est.Bytes, l3)
	g.lowerCycles(&est)
	est.LowerCycles = max(est.LowerCycles, g.reductionChain(&est))
	return est
}

// reductionChain bounds the latency by the reduction of tile 0's last C2
// block (the last one of its part of the last L3 step). The K parts of a
// block accumulate in tile order: the reduce_in of part j waits for part
// j-1's move_out of the group, the add for the reduce_in, the move_out for
// the add. Tile 0 holds part 0, whose move_out of that block follows all
// its matmuls; a DMA store follows the last part's move_out.
func (g *geom) reductionChain(est *Estimate) int64 {
	cfg := g.cfg
	dims := [3]int64{g.p.M, g.p.N, g.p.K}
	lastExt := func(d int) int64 { return dims[d] - (g.t3[d]-1)*g.tile3[d] }
	lastPiece := func(part, t int64) int64 { return part - (ceilDiv(part, t)-1)*t }
	own := lastPiece(min(g.mp, lastExt(0)), g.tile2[0]) * lastPiece(min(g.np, lastExt(1)), g.tile2[1])
	eb := min(g.ea, g.eo)
	mo := xfer(cfg, kpu.BlockMover, own*eb, eb)
	step := xfer(cfg, kpu.BlockMover, own*g.ea, g.ea) + cfg.VectorCycles(own) + mo
	// the last L3 k tile may leave fewer non-empty K parts
	parts := ceilDiv(lastExt(2), g.kp)
	return est.FabricBusy + mo + (parts-1)*step + cfg.TransferLatency(kpu.DMA)
}

// levelBytesKSplit adds the exact L3, L2 and L1 traffic of the moves,
// feeds, matmuls and reductions of every compute tile under a K split.
func (g *geom) levelBytesKSplit(b *LevelBytes, l3 [3][]span) {
	e, ea := g.e, g.ea
	for _, sm := range l3[0] {
		for _, pmS := range cut(sm.size, g.mp) {
			for _, sn := range l3[1] {
				for _, pnS := range cut(sn.size, g.np) {
					w := g.p.Batch * sm.count * pmS.count * sn.count * pnS.count
					pm, pn := pmS.size, pnS.size
					for i, sk := range l3[2] {
						nk := sk.count
						for pk := int64(0); pk < g.sk; pk++ {
							kpart := partLen(sk.size, g.kp, pk)
							if kpart == 0 {
								continue
							}
							c := [3]int64{ceilDiv(pm, g.tile2[0]), ceilDiv(pn, g.tile2[1]), ceilDiv(kpart, g.tile2[2])}
							mA := reuseLoads(g.ord2, c, 0, 2) / (c[0] * c[2])
							mB := reuseLoads(g.ord2, c, 2, 1) / (c[2] * c[1])
							aBytes, bBytes, cBytes := pm*kpart*e, kpart*pn*e, pm*pn*ea
							// moves in (A, B), feeds, L1 reads by the fabric
							b.L3Read += w * nk * (mA*aBytes + mB*bBytes)
							b.L2Write += w * nk * (mA*aBytes + mB*bBytes)
							feed := c[1]*aBytes + c[0]*bBytes
							b.L2Read += w * nk * feed
							b.L1Write += w * nk * feed
							b.L1Read += w * nk * (feed + g.partRereads(pm, pn, kpart))
							// C: one move_out per visit; every matmul writes C2
							visits := int64(1)
							if g.kOuterC(c) {
								visits = c[2]
							}
							outs := visits * nk
							b.L2Read += w * cBytes * outs
							b.L3Write += w * cBytes * outs
							b.L2Write += w * cBytes * c[2] * nk
							if pk == 0 {
								// visits reload the running sum, but the very first
								var first int64
								if i == 0 {
									first = 1
								}
								b.L3Read += w * cBytes * (outs - first)
								b.L2Write += w * cBytes * (outs - first)
								b.L2Read += w * cBytes * (c[2]*nk - first)
							} else {
								// every visit starts from zero and ends with a
								// reduce_in (L3 -> L2) and an add (reads C2 and
								// the scratch, writes C2)
								b.L3Read += w * cBytes * outs
								b.L2Write += w * cBytes * outs
								b.L2Read += 2 * w * cBytes * outs
								b.L2Write += w * cBytes * outs
								b.L2Read += w * cBytes * (c[2]*nk - outs)
							}
						}
					}
				}
			}
		}
	}
	g.narrowBytes(b)
}
