package constraints

import "github.com/stillwater-sc/kpuopt/kpu"

// The fabric reads its L1 operands once per pass: an m x n x k matmul on an
// R x C array runs ceil(m/R) x ceil(n/C) passes, each streaming an R-row slab
// of A and a C-column slab of B, so A is read ceil(n/C) times and B
// ceil(m/R) times (the simulator's accounting, docs/program-format.md). The
// feed bytes count one read; these functions give the extra ones.

// fabricRereads is the L1 bytes a matmul reads beyond one read of A and B.
func fabricRereads(cfg *kpu.Config, m, n, k, e int64) int64 {
	r, c := int64(cfg.ArrayRows), int64(cfg.ArrayCols)
	if r < 1 || c < 1 {
		return 0
	}
	return (m*k*(ceilDiv(n, c)-1) + k*n*(ceilDiv(m, r)-1)) * e
}

// extraPasses sums ceil(len/side) - 1 over the L2 tiles (of size t2, the
// last one partial) that cover extent.
func extraPasses(extent, t2, side int64) int64 {
	full, rem := extent/t2, extent%t2
	x := full * (ceilDiv(t2, side) - 1)
	if rem > 0 {
		x += ceilDiv(rem, side) - 1
	}
	return x
}

// partRereads is fabricRereads summed over the L2 steps of one part (pm rows,
// pn columns) of an L3 step with reduction extent k3.
func (g *geom) partRereads(pm, pn, k3 int64) int64 {
	r, c := int64(g.cfg.ArrayRows), int64(g.cfg.ArrayCols)
	if r < 1 || c < 1 {
		return 0
	}
	xn := extraPasses(pn, g.tile2[1], c)
	xm := extraPasses(pm, g.tile2[0], r)
	return g.e * k3 * (pm*xn + pn*xm)
}
