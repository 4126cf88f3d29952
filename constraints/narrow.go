package constraints

import "github.com/stillwater-sc/kpuopt/kpu"

// Narrow outputs in the closed form (docs/mapping.md section 6). When the
// output type differs from the accumulator, every C2 block's last move_out
// and every C3 group's last DMA store carry eo-byte elements instead of
// ea-byte ones, and each final C2 block is converted once on the vector
// engine (reads ea, writes eo bytes per element, in L2). The closed forms of
// fast.go count every C transfer in the accumulator type; these corrections
// replace the final ones. Each C block has exactly one final move_out per C2
// block and one final store per group, whatever the orders.

// narrowStores corrects the DMA busy time and DRAM writes for the final
// stores (one per C3 group of every C block). Call before the L3 bytes are
// derived from the DRAM bytes.
func (g *geom) narrowStores(est *Estimate, l3 [3][]span) {
	if !g.narrow {
		return
	}
	for _, sm := range l3[0] {
		gm := groupSpans(sm.size, g.mp, g.tile2[0])
		for _, sn := range l3[1] {
			gn := groupSpans(sn.size, g.np, g.tile2[1])
			for _, a := range gm {
				for _, b := range gn {
					n := g.p.Batch * sm.count * sn.count * a.count * b.count
					elems := a.size * b.size
					est.DMABusy += n * (xfer(g.cfg, kpu.DMA, elems*g.eo, g.eo) - xfer(g.cfg, kpu.DMA, elems*g.ea, g.ea))
					est.Bytes.DRAMWrite += n * elems * (g.eo - g.ea)
				}
			}
		}
	}
}

// narrowMoves corrects compute tile 0's C BlockMover busy time for the final
// move_outs (one per C2 block of its part of every C block).
func (g *geom) narrowMoves(est *Estimate, l3 [3][]span) {
	if !g.narrow {
		return
	}
	for _, sm := range l3[0] {
		ms := cut(min(g.mp, sm.size), g.tile2[0])
		for _, sn := range l3[1] {
			ns := cut(min(g.np, sn.size), g.tile2[1])
			for _, a := range ms {
				for _, b := range ns {
					n := g.p.Batch * sm.count * sn.count * a.count * b.count
					elems := a.size * b.size
					est.BMBusy[2] += n * (xfer(g.cfg, kpu.BlockMover, elems*g.eo, g.eo) - xfer(g.cfg, kpu.BlockMover, elems*g.ea, g.ea))
				}
			}
		}
	}
}

// narrowBytes corrects the on-chip traffic: every element of C is converted
// once (L2 read ea, L2 write eo) and moved out finally in eo bytes instead
// of ea.
func (g *geom) narrowBytes(b *LevelBytes) {
	if !g.narrow {
		return
	}
	elems := g.p.Batch * g.p.M * g.p.N
	b.L2Read += elems * g.eo // convert reads ea, the final move_out reads eo instead of ea
	b.L2Write += elems * g.eo
	b.L3Write += elems * (g.eo - g.ea)
}
