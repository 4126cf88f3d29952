package constraints

import (
	"math"

	"github.com/stillwater-sc/kpuopt/kpu"
)

// Fabric stalls at L3 step boundaries (a lower bound, docs/search.md).
//
// Compute tile 0 runs part (0,0) of every L3 step, so its matmuls form one
// chain: the last matmul of step i is followed on its fabric by the first
// matmul of step i+1. When the C2 block of that last matmul is moved out at
// the end of step i (its visit ends and it does not stay resident), the
// move_out waits for the matmul. The first L2 step of step i+1 moves A2 and
// B2 in without prefetch (there is none across L3 steps), and reloads C2 when
// its reduction offset is > 0. Those commands come after the move_out in
// program order; each one that runs on the move_out's BlockMover queues
// behind it, and the first matmul of step i+1 waits for it (through the feed
// for A and B). So the fabric of tile 0 idles at least
//
//	move_out + max(move_in A + feed A  (if A's mover is C's),
//	               move_in B + feed B  (if B's mover is C's),
//	               reload C2           (if the offset is > 0))
//
// between the two matmuls, for every buffer choice. When none of the three
// applies nothing is claimed.

// stallTab holds the ingredients of stallAt for one shape, by edge class:
// an L3 step's index along a dim is either the last one (an edge tile when
// the dim is not a multiple of the tile) or not.
type stallTab struct {
	t     [3]int64
	keep  [2][2]bool        // [m last][n last]: the part holds one C2 block
	mo    [2][2][2]int64    // [m last][n last][k last]: the last move_out
	chain [2][2][2][2]int64 // next step [m last][n last][k > 0][k last]: what waits for it
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// stallTable precomputes stallAt's figures for the shape of g (they do not
// depend on the orders).
func (g *geom) stallTable() *stallTab {
	cfg := g.cfg
	dims := [3]int64{g.p.M, g.p.N, g.p.K}
	ext := func(d, last int) int64 {
		if last == 1 {
			return dims[d] - (g.t3[d]-1)*g.tile3[d]
		}
		return g.tile3[d]
	}
	bm := engineSet(cfg.BlockMovers, cfg.ComputeTiles, 0)
	eng := func(x Operand) int { return bm[int(x)%len(bm)] }
	shareA, shareB := eng(OpA) == eng(OpC), eng(OpB) == eng(OpC)
	lastPiece := func(part, t int64) int64 { return part - (ceilDiv(part, t)-1)*t }
	st := &stallTab{t: g.t3}
	if g.reductionSplit() {
		return st // every chain is 0: no stall is claimed
	}
	for ml := 0; ml < 2; ml++ {
		mpart := min(g.mp, ext(0, ml))
		for nl := 0; nl < 2; nl++ {
			npart := min(g.np, ext(1, nl))
			st.keep[ml][nl] = mpart <= g.tile2[0] && npart <= g.tile2[1]
			elems := lastPiece(mpart, g.tile2[0]) * lastPiece(npart, g.tile2[1])
			st.mo[ml][nl][0] = xfer(cfg, kpu.BlockMover, elems*g.ea, g.ea)
			st.mo[ml][nl][1] = xfer(cfg, kpu.BlockMover, elems*g.eo, g.eo) // the final move_out carries the output type
			m2, n2 := min(g.tile2[0], mpart), min(g.tile2[1], npart)
			for kl := 0; kl < 2; kl++ {
				k2 := min(g.tile2[2], ext(2, kl))
				var chain int64
				if shareA {
					b := m2 * k2 * g.e
					chain = max(chain, xfer(cfg, kpu.BlockMover, b, g.e)+xfer(cfg, kpu.Streamer, b, g.e))
				}
				if shareB {
					b := k2 * n2 * g.e
					chain = max(chain, xfer(cfg, kpu.BlockMover, b, g.e)+xfer(cfg, kpu.Streamer, b, g.e))
				}
				st.chain[ml][nl][0][kl] = chain
				st.chain[ml][nl][1][kl] = max(chain, xfer(cfg, kpu.BlockMover, m2*n2*g.ea, g.ea))
			}
		}
	}
	return st
}

// stallAt is the proven idle time of tile 0's fabric between L3 step cur and
// the next step nxt (same batch when sameBatch).
func (st *stallTab) stallAt(cur, nxt [3]int64, sameBatch bool) int64 {
	t := st.t
	ml, nl, kl := b2i(cur[0] == t[0]-1), b2i(cur[1] == t[1]-1), b2i(cur[2] == t[2]-1)
	if sameBatch && cur[0] == nxt[0] && cur[1] == nxt[1] && st.keep[ml][nl] {
		return 0 // the C2 block stays in L2: no move_out
	}
	chain := st.chain[b2i(nxt[0] == t[0]-1)][b2i(nxt[1] == t[1]-1)][b2i(nxt[2] > 0)][b2i(nxt[2] == t[2]-1)]
	if chain == 0 {
		return 0
	}
	return st.mo[ml][nl][kl] + chain
}

// idxRep is a representative index of a class of loop indices that give the
// same stall, with the class size.
type idxRep struct{ i, n int64 }

// freeReps covers every index of a loop of trip t: first, middle, last.
func freeReps(t int64) (r [3]idxRep, n int) {
	r[0], n = idxRep{0, 1}, 1
	if t >= 3 {
		r[n], n = idxRep{1, t - 2}, n+1
	}
	if t >= 2 {
		r[n], n = idxRep{t - 1, 1}, n+1
	}
	return r, n
}

// stepReps covers every increment j -> j+1 of a loop of trip t >= 2.
func stepReps(t int64) (r [3]idxRep, n int) {
	r[0], n = idxRep{0, 1}, 1
	if t >= 4 {
		r[n], n = idxRep{1, t - 3}, n+1
	}
	if t >= 3 {
		r[n], n = idxRep{t - 2, 1}, n+1
	}
	return r, n
}

// l3Stall sums stallAt over every pair of consecutive L3 steps of the
// program (g.ord3 order, batch outermost). Indices are grouped into classes
// (first, middle, last of each loop) that give equal stalls, so the cost does
// not grow with the trip counts.
func (g *geom) l3Stall() int64 { return g.stallTable().l3Stall(g.ord3, g.p.Batch) }

// stallTable and edgeFigures assume that tile 0's part spans the whole
// reduction of an L3 step; with a split reduction they claim nothing.
func (g *geom) reductionSplit() bool { return g.sk > 1 }

func (st *stallTab) l3Stall(ord [3]int, batch int64) int64 {
	t := st.t
	var total int64
	for lv := 0; lv < 3; lv++ {
		d := ord[lv]
		if t[d] < 2 {
			continue
		}
		// loops outside lv keep any index (at most two of them); lv steps
		// j -> j+1; inner loops roll over from their last index to 0
		var cur, nxt [3]int64
		for l := lv + 1; l < 3; l++ {
			cur[ord[l]], nxt[ord[l]] = t[ord[l]]-1, 0
		}
		one := [3]idxRep{{0, 1}}
		r0, n0 := one, 1
		if lv >= 1 {
			r0, n0 = freeReps(t[ord[0]])
		}
		r1, n1 := one, 1
		if lv >= 2 {
			r1, n1 = freeReps(t[ord[1]])
		}
		js, nj := stepReps(t[d])
		for a := 0; a < n0; a++ {
			if lv >= 1 {
				cur[ord[0]], nxt[ord[0]] = r0[a].i, r0[a].i
			}
			for b := 0; b < n1; b++ {
				if lv >= 2 {
					cur[ord[1]], nxt[ord[1]] = r1[b].i, r1[b].i
				}
				w := r0[a].n * r1[b].n
				for j := 0; j < nj; j++ {
					cur[d], nxt[d] = js[j].i, js[j].i+1
					total += w * js[j].n * st.stallAt(cur, nxt, true)
				}
			}
		}
	}
	total *= batch
	if batch > 1 {
		total += (batch - 1) * st.stallAt([3]int64{t[0] - 1, t[1] - 1, t[2] - 1}, [3]int64{}, false)
	}
	return total
}

// Head, final move and tail of the program (a lower bound, docs/search.md).
//
// The first BlockMover command of compute tile 0 moves a block of A or B in
// and waits for the DMA load of its group (the first of A's groups is the
// program's first command). The last command of tile 0 is the final move_out
// of its last C2 block; the DMA stores of the last C3 visit follow it, and
// the store of that block's group, with every later store that the DMA
// round-robin puts on the same engine, runs after the move_out ends.

// edgeFigures returns head (the earliest end of the first A or B group
// load), finalMove (the cycles of tile 0's final move_out) and tail (the
// stores that must run after it, in sequence on one DMA engine).
func (g *geom) edgeFigures() (head, finalMove, tail int64) {
	if g.reductionSplit() {
		return 0, 0, 0
	}
	cfg := g.cfg
	dims := [3]int64{g.p.M, g.p.N, g.p.K}
	first := func(d int) int64 { return min(g.tile3[d], dims[d]) }
	lastExt := func(d int) int64 { return dims[d] - (g.t3[d]-1)*g.tile3[d] }
	k3 := first(2)
	a := min(g.tile2[0], g.mp, first(0)) * k3 * g.e
	b := k3 * min(g.tile2[1], g.np, first(1)) * g.e
	head = min(xfer(cfg, kpu.DMA, a, g.e), xfer(cfg, kpu.DMA, b, g.e))

	lastPiece := func(part, t int64) int64 { return part - (ceilDiv(part, t)-1)*t }
	// the parts of the last L3 tile along one dim: groups per part, and the
	// smallest group
	side := func(ext, ps, t int64) (groups, part0Groups, minPiece int64) {
		minPiece = t
		for i, sp := range cut(ext, ps) {
			groups += sp.count * ceilDiv(sp.size, t)
			if i == 0 {
				part0Groups = ceilDiv(sp.size, t)
			}
			minPiece = min(minPiece, lastPiece(sp.size, t))
		}
		return groups, part0Groups, minPiece
	}
	em, en := lastExt(0), lastExt(1)
	gm, gm0, pm := side(em, g.mp, g.tile2[0])
	gn, gn0, pn := side(en, g.np, g.tile2[1])
	own := lastPiece(min(g.mp, em), g.tile2[0]) * lastPiece(min(g.np, en), g.tile2[1])
	finalMove = xfer(cfg, kpu.BlockMover, own*g.eo, g.eo)
	// stores are emitted part-major; part (0,0) comes first, its last group
	// at position gm0*gn0 - 1
	later := (gm*gn - gm0*gn0) / int64(cfg.DMAEngines)
	tail = xfer(cfg, kpu.DMA, own*g.eo, g.eo) + later*xfer(cfg, kpu.DMA, pm*pn*g.eo, g.eo)
	return head, finalMove, tail
}

// ShapeFloor returns two parts of the latency bound of every order pair and
// buffer choice of shape s that cost only arithmetic: stall, the boundary
// stalls that every L3 order has (each of the Batch*T3m*T3n-1 changes of the
// C block between L3 steps moves C2 out; see stallAt), and end, the first
// load before tile 0's first matmul plus its final move_out and the stores
// behind it. The search adds them to tile 0's fabric time to drop a shape
// before preparing its evaluation. It returns zeros for a shape that is not
// structurally valid.
func ShapeFloor(p Problem, s Shape, cfg *kpu.Config) (stall, end int64) {
	sm, sn := int64(max(s.Split.M, 1)), int64(max(s.Split.N, 1))
	g := &geom{p: p, cfg: cfg, e: p.ElemBytes(), ea: p.AccBytes(), eo: p.OutBytes(),
		tile3: [3]int64{s.L3.M, s.L3.N, s.L3.K}, tile2: [3]int64{s.L2.M, s.L2.N, s.L2.K},
		sm: sm, sn: sn, sk: int64(max(s.Split.K, 1))}
	dims := [3]int64{p.M, p.N, p.K}
	for d := 0; d < 3; d++ {
		if g.tile3[d] < 1 || g.tile3[d] > dims[d] || g.tile2[d] < 1 {
			return 0, 0
		}
		g.t3[d] = ceilDiv(dims[d], g.tile3[d])
	}
	g.mp, g.np = ceilDiv(g.tile3[0], sm), ceilDiv(g.tile3[1], sn)
	if g.reductionSplit() || g.tile2[0] > g.mp || g.tile2[1] > g.np || g.tile2[2] > g.tile3[2] {
		return 0, 0
	}
	st := g.stallTable()
	mo, chain := int64(math.MaxInt64), int64(math.MaxInt64)
	for _, a := range st.mo {
		for _, b := range a {
			mo = min(mo, b[0], b[1])
		}
	}
	for _, a := range st.chain {
		for _, b := range a {
			for _, c := range b {
				chain = min(chain, c[0], c[1])
			}
		}
	}
	if chain > 0 {
		stall = (p.Batch*g.t3[0]*g.t3[1] - 1) * (mo + chain)
	}
	head, fm, tail := g.edgeFigures()
	epi := cfg.TransferLatency(kpu.BlockMover) + cfg.TransferLatency(kpu.DMA) + 2
	return stall, head + max(epi, fm+tail)
}
