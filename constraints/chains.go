package constraints

import (
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// Serial chains of single buffers (a lower bound, docs/search.md).
//
// A single buffer makes its writer wait for every reader of the previous
// occupant, and its readers wait for the writer. The commands that fill and
// drain one buffer slot therefore form one chain, and the latency is at
// least the sum of their durations plus what must follow the last of them.
// Each chain below follows one slot on compute tile 0 (part (0,0) of every
// L3 step), whose commands all run on fixed engines:
//
//   - L2, A or B single: move_in(u+1) waits for the last feed of occupant u
//     (one streamer per operand and tile), and every feed of u waits for
//     move_in(u): tile 0's moves and feeds of the operand, end to end.
//   - L2, C single: the first matmul of a C2 visit waits for the previous
//     occupant's move_out (or for its own reload, which waits for that
//     move_out), and the move_out waits for the visit's last matmul: tile
//     0's matmuls and C moves, end to end.
//   - L3, A or B single: the DMA load of group 0 for visit v+1 waits for the
//     last move_in of group 0 on each BlockMover in visit v, and those wait
//     for the load of visit v. Tile 0 reads group 0 (its first L2 block row
//     of A, column of B) in every L3 step, on one BlockMover: the loads of
//     group 0 and tile 0's moves of it, end to end.
//
// After the last command of a chain come at least a feed, a matmul, a
// move_out and a DMA store (epi). The chains need no K split (sk == 1).

// chainTab holds the parts of the chains of one shape by order.
type chainTab struct {
	loads  [6][2]int64 // by L3 order: DMA cycles of group 0's loads, A and B
	moves  [6][2]int64 // by L2 order: tile 0's moves of group 0, A and B
	loaded [6]bool
	moved  [6]bool
	detour map[detourKey][2]int64 // l3Detour of A and B
}

// groupLoads is the DMA time of every load of group 0 of operand x (A or B)
// under g.ord3.
func (g *geom) groupLoads(l3 [3][]span, x Operand) int64 {
	cfg := g.cfg
	own, part, t2 := 0, g.mp, g.tile2[0]
	if x == OpB {
		own, part, t2 = 1, g.np, g.tile2[1]
	}
	mult := g.p.Batch * reuseLoads(g.ord3, g.t3, own, 2) / (g.t3[own] * g.t3[2])
	var sum int64
	for _, so := range l3[own] {
		rows := min(t2, part, so.size)
		for _, sk := range l3[2] {
			sum += mult * so.count * sk.count * xfer(cfg, kpu.DMA, rows*sk.size*g.e, g.e)
		}
	}
	return sum
}

// groupMoves is the BlockMover time of tile 0's move_ins of group 0 of
// operand x (A or B) under g.ord2, over the whole program.
func (g *geom) groupMoves(l3 [3][]span, x Operand) int64 {
	cfg := g.cfg
	var sum int64
	for _, sm := range l3[0] {
		pm := min(g.mp, sm.size)
		for _, sn := range l3[1] {
			pn := min(g.np, sn.size)
			for _, sk := range l3[2] {
				w := g.p.Batch * sm.count * sn.count * sk.count
				c := [3]int64{ceilDiv(pm, g.tile2[0]), ceilDiv(pn, g.tile2[1]), ceilDiv(sk.size, g.tile2[2])}
				var visits, rows int64
				if x == OpA {
					visits = reuseLoads(g.ord2, c, 0, 2) / (c[0] * c[2])
					rows = min(g.tile2[0], pm)
				} else {
					visits = reuseLoads(g.ord2, c, 2, 1) / (c[2] * c[1])
					rows = min(g.tile2[1], pn)
				}
				for _, k := range cut(sk.size, g.tile2[2]) {
					sum += w * k.count * visits * xfer(cfg, kpu.BlockMover, rows*k.size*g.e, g.e)
				}
			}
		}
	}
	return sum
}

// chainEpi is what follows the last command of a chain: a feed, a matmul, a
// move_out and a DMA store.
func (g *geom) chainEpi() int64 {
	return g.cfg.TransferLatency(kpu.BlockMover) + g.cfg.TransferLatency(kpu.DMA) + 2
}

// l2Chains returns the chains of single L2 buffers of A, B and C from
// tile 0's busy times (est: tilePart's figures for the L2 order).
func (g *geom) l2Chains(est *Estimate) [3]int64 {
	if g.sk > 1 {
		return [3]int64{}
	}
	epi := g.chainEpi()
	return [3]int64{
		est.BMBusy[OpA] + est.FeedBusy[OpA] + epi,
		est.BMBusy[OpB] + est.FeedBusy[OpB] + epi,
		est.FabricBusy + est.BMBusy[OpC] + g.cfg.TransferLatency(kpu.DMA),
	}
}

// chainBound is the largest chain of the single buffers of b3 and b2, given
// the L3 chains of A and B and the L2 chains.
func chainBound(b3, b2 model.Buffers, l3 [2]int64, l2 [3]int64) int64 {
	var lb int64
	if b3.A == 1 {
		lb = max(lb, l3[0])
	}
	if b3.B == 1 {
		lb = max(lb, l3[1])
	}
	if b2.A == 1 {
		lb = max(lb, l2[0])
	}
	if b2.B == 1 {
		lb = max(lb, l2[1])
	}
	if b2.C == 1 {
		lb = max(lb, l2[2])
	}
	return lb
}

// Chain indices: the L3 chains of A and B, the L2 chains of A, B and C.
const (
	chainL3A = iota
	chainL3B
	chainL2A
	chainL2B
	chainL2C
	nChains
)

// chainTotals returns the summed durations of the commands of each chain of
// g's own mapping (0 for a buffer that is not single; all 0 with a K split),
// est being its estimate.
func (g *geom) chainTotals(l3 [3][]span, est *Estimate) (t [nChains]int64) {
	if g.sk > 1 {
		return t
	}
	if g.b3[OpA] == 1 {
		t[chainL3A] = g.groupLoads(l3, OpA) + g.groupMoves(l3, OpA)
	}
	if g.b3[OpB] == 1 {
		t[chainL3B] = g.groupLoads(l3, OpB) + g.groupMoves(l3, OpB)
	}
	if g.b2[OpA] == 1 {
		t[chainL2A] = est.BMBusy[OpA] + est.FeedBusy[OpA]
	}
	if g.b2[OpB] == 1 {
		t[chainL2B] = est.BMBusy[OpB] + est.FeedBusy[OpB]
	}
	if g.b2[OpC] == 1 {
		t[chainL2C] = est.FabricBusy + est.BMBusy[OpC]
	}
	return t
}

// chainTail is what follows the last command of chain i (see chainEpi).
func (g *geom) chainTail(i int) int64 {
	if i == chainL2C {
		return g.cfg.TransferLatency(kpu.DMA)
	}
	return g.chainEpi()
}

// chains returns the single-buffer chain bound of g's own mapping (est: its
// estimate).
func (g *geom) chains(l3 [3][]span, est *Estimate) int64 {
	var lb int64
	for i, t := range g.chainTotals(l3, est) {
		if t > 0 {
			lb = max(lb, t+g.chainTail(i))
		}
	}
	if g.b3[OpA] == 1 {
		lb = max(lb, g.l3Detour(est, l3, OpA, g.b2[OpA]), g.storeQueue(est))
	}
	if g.b3[OpB] == 1 {
		lb = max(lb, g.l3Detour(est, l3, OpB, g.b2[OpB]))
	}
	return lb
}

// chainOf returns the chain command c belongs to under g's mapping (the
// commands whose durations chainTotals sums), or -1. A command can be on
// several chains; second is the other one, or -1.
func (g *geom) chainOf(c *Cmd) (first, second int) {
	first, second = -1, -1
	if g.sk > 1 {
		return
	}
	add := func(i int) {
		if first < 0 {
			first = i
		} else {
			second = i
		}
	}
	switch c.Kind {
	case CmdLoad:
		if c.Group == 0 && c.Operand != OpC && g.b3[c.Operand] == 1 {
			add(chainL3A + int(c.Operand))
		}
	case CmdMoveIn:
		if c.Tile != 0 {
			return
		}
		if c.Operand != OpC && c.Group == 0 && g.b3[c.Operand] == 1 {
			add(chainL3A + int(c.Operand))
		}
		if g.b2[c.Operand] == 1 {
			add(chainL2A + int(c.Operand))
		}
	case CmdFeed:
		if c.Tile == 0 && g.b2[c.Operand] == 1 {
			add(chainL2A + int(c.Operand))
		}
	case CmdMoveOut, CmdMatMul:
		if c.Tile == 0 && g.b2[OpC] == 1 {
			add(chainL2C)
		}
	}
	return
}

// BufferBound is a lower bound of the replayed latency of order pair (o3,
// o2) of the shape with buffer counts b3 (L3) and b2 (L2): LowerCycles and
// the serial chains of the single buffers. It costs a few closed-form sums
// per order on first use, so a search can drop buffer choices before their
// capacity check.
func (se *ShapeEval) BufferBound(o3, o2 int, b3, b2 model.Buffers) int64 {
	lb := se.LowerCycles(o3, o2)
	if se.g.sk > 1 || (b3.A != 1 && b3.B != 1 && b2.A != 1 && b2.B != 1 && b2.C != 1) {
		return lb
	}
	if se.chain == nil {
		se.chain = &chainTab{}
	}
	ct, g := se.chain, se.g
	var c3 [2]int64
	if b3.A == 1 || b3.B == 1 {
		if !ct.loaded[o3] {
			ct.loaded[o3] = true
			g.ord3, _ = parseOrder(model.Orders[o3])
			ct.loads[o3] = [2]int64{g.groupLoads(se.l3, OpA), g.groupLoads(se.l3, OpB)}
		}
		if !ct.moved[o2] {
			ct.moved[o2] = true
			g.ord2, _ = parseOrder(model.Orders[o2])
			ct.moves[o2] = [2]int64{g.groupMoves(se.l3, OpA), g.groupMoves(se.l3, OpB)}
		}
		epi := g.chainEpi()
		c3 = [2]int64{ct.loads[o3][0] + ct.moves[o2][0] + epi, ct.loads[o3][1] + ct.moves[o2][1] + epi}
	}
	k := 0
	if se.persist[o3] {
		k = 1
	}
	tile := se.tileOf(o2, k)
	l2 := g.l2Chains(tile)
	lb = max(lb, chainBound(b3, b2, c3, l2))
	if b3.A == 1 || b3.B == 1 {
		key := detourKey{int8(o3), int8(o2), int8(b2.A), int8(b2.B)}
		d, ok := ct.detour[key]
		if !ok {
			g.ord3, _ = parseOrder(model.Orders[o3])
			g.ord2, _ = parseOrder(model.Orders[o2])
			est := *tile
			est.FinalMove, est.Tail = se.finalMove, se.tail
			d = [2]int64{max(g.l3Detour(&est, se.l3, OpA, int64(b2.A)), g.storeQueue(&est)), g.l3Detour(&est, se.l3, OpB, int64(b2.B))}
			if ct.detour == nil {
				ct.detour = map[detourKey][2]int64{}
			}
			ct.detour[key] = d
		}
		if b3.A == 1 {
			lb = max(lb, d[0])
		}
		if b3.B == 1 {
			lb = max(lb, d[1])
		}
	}
	return lb
}

// detourKey indexes the cached L3 detours of a shape: the orders and the
// L2 buffers of A and B.
type detourKey struct{ o3, o2, a2, b2 int8 }

// chainCut is the replay cutoff's view of the chains of single buffers: the
// durations each chain has left and what follows its last command. A
// command of chain i that ends at fin leaves the chain's other commands to
// run after it, one after the other, so the replay ends no sooner than fin
// + left[i] + tail[i].
type chainCut struct {
	g    *geom
	left [nChains]int64
	tail [nChains]int64
	any  bool
}

func newChainCut(g *geom, est *Estimate) *chainCut {
	cc := &chainCut{g: g, left: g.chainTotals(g.l3Spans(), est)}
	for i, t := range cc.left {
		if t > 0 {
			cc.any = true
			cc.tail[i] = g.chainTail(i)
		}
	}
	return cc
}

// reaches accounts command c, ending at fin, and reports whether some chain
// it is on proves the replay reaches limit.
func (cc *chainCut) reaches(c *Cmd, fin, limit int64) bool {
	if !cc.any {
		return false
	}
	a, b := cc.g.chainOf(c)
	for _, i := range [2]int{a, b} {
		if i < 0 {
			continue
		}
		cc.left[i] -= c.Cycles
		if fin+max(cc.left[i], 0)+cc.tail[i] >= limit {
			return true
		}
	}
	return false
}

// DMACycles is the DMA engines' average busy time under L3 order o3: the
// DMA part of LowerCycles.
func (se *ShapeEval) DMACycles(o3 int) int64 {
	return ceilDiv(se.dmaOf(o3).DMABusy, int64(se.g.cfg.DMAEngines))
}

// l3Detour bounds the latency by tile 0's fabric chain with a detour at
// every L3 boundary where operand x (A or B), single buffered in L3,
// changes its block (docs/search.md, "L3 detours"); b2x is x's L2 buffer
// count, and the caller has checked that x is single buffered in L3. It
// claims something
// only when tile 0's part holds one L2 block across x's own dim (then every
// x2 block of tile 0 is in L3 group 0).
//
// At such a boundary the load of group 0 for the next visit waits for tile
// 0's last move of x in the step (the last change of x in the L2 loop, step
// sR of S), the first move of the next step waits for that load, its feed
// for the move and the next step's first matmul for the feed. The last move
// waits for the last feed of the previous occupant of its L2 slot (step sP:
// sR-1 single buffered; sR-inner-1 double buffered, the block two visits
// back, inner being the steps of one x2 visit), and that feed for the
// matmul two steps before it (the L1 slot). So the path runs along tile 0's
// matmuls up to step sP-2, then feed, move, load, move, feed, and on along
// the matmuls of the next step: it leaves out the matmuls of steps sP-1 to
// S-1. Where the detour is longer than those matmuls (at most their count
// times the largest matmul of a step), the difference is claimed, at each
// such boundary (the detours do not overlap when sP >= 2).
func (g *geom) l3Detour(est *Estimate, l3 [3][]span, x Operand, b2x int64) int64 {
	if g.sk > 1 {
		return 0
	}
	own, part, t2 := 0, g.mp, g.tile2[0]
	if x == OpB {
		own, part, t2 = 1, g.np, g.tile2[1]
	}
	if part > t2 {
		return 0 // several L2 blocks along own: the last move may not be of group 0
	}
	cfg := g.cfg
	dims := [3]int64{g.p.M, g.p.N, g.p.K}
	// tile 0's L2 trips in a full L3 step (the most steps, so the most
	// matmuls left out)
	ext := [3]int64{min(g.mp, dims[0]), min(g.np, dims[1]), min(g.tile3[2], dims[2])}
	var c [3]int64
	for d := 0; d < 3; d++ {
		c[d] = ceilDiv(ext[d], g.tile2[d])
	}
	if c[2] < 2 {
		return 0 // x changes only at the first L2 step
	}
	S := c[0] * c[1] * c[2]
	inner := int64(1)
	pos := 0
	for l := 0; l < 3; l++ {
		if g.ord2[l] == 2 {
			pos = l
		}
	}
	for l := pos + 1; l < 3; l++ {
		inner *= c[g.ord2[l]]
	}
	sR := S - inner // the last change of k, hence of x
	sP := sR - 1
	if b2x == 2 {
		sP = sR - inner - 1
	}
	if sP < 2 {
		return 0
	}
	fabMax := cfg.FabricCycles(min(g.tile2[0], ext[0]), min(g.tile2[1], ext[1]), min(g.tile2[2], ext[2]))
	skipped := (S - sP + 1) * fabMax
	// the detour with the smallest blocks any boundary can have
	rows := t2
	for _, so := range l3[own] {
		rows = min(rows, part, so.size)
	}
	kmin, k3min := g.tile2[2], g.tile3[2]
	for _, sk := range l3[2] {
		k3min = min(k3min, sk.size)
		for _, kp := range cut(sk.size, g.tile2[2]) {
			kmin = min(kmin, kp.size)
		}
	}
	blk := rows * kmin * g.e
	first := rows * min(g.tile2[2], k3min) * g.e
	detour := xfer(cfg, kpu.Streamer, blk, g.e) + xfer(cfg, kpu.BlockMover, blk, g.e) +
		xfer(cfg, kpu.DMA, rows*k3min*g.e, g.e) + xfer(cfg, kpu.BlockMover, first, g.e) + xfer(cfg, kpu.Streamer, first, g.e)
	if detour <= skipped {
		return 0
	}
	boundaries := g.p.Batch*reuseLoads(g.ord3, g.t3, own, 2) - 1
	return g.prologue() + est.FabricBusy + boundaries*(detour-skipped) + g.fabricTail(est)
}

// storeQueue bounds the latency by tile 0's fabric chain with a detour at
// every change of the C3 visit, when A is single buffered in L3 and changes
// at every L3 step (docs/search.md, "C store queue"; the caller has checked
// the single buffer). At such a boundary
// tile 0's last matmul is followed by the move_out of its last C2 block and
// the DMA store of that block's group; the visit's stores are emitted in
// group order, round-robin over the DMA engines, and the next step's first
// DMA command is the load of A's group 0. When that load lands on the
// engine of tile 0's store, it waits for that store and for every store
// after it on the engine; the first move of A, its feed and the next
// step's first matmul wait for the load. The detour adds to the fabric
// chain at each such boundary. Claimed only without edge tiles in M and N
// and with equal parts (every visit has the same stores).
func (g *geom) storeQueue(est *Estimate) int64 {
	if g.sk > 1 {
		return 0
	}
	p, cfg := g.p, g.cfg
	if p.M%g.tile3[0] != 0 || p.N%g.tile3[1] != 0 || g.tile3[0]%g.sm != 0 || g.tile3[1]%g.sn != 0 {
		return 0
	}
	// A must change at every L3 step: the deepest loop with more than one
	// trip indexes A (m or k)
	deep := -1
	for l := 0; l < 3; l++ {
		if g.t3[g.ord3[l]] > 1 {
			deep = g.ord3[l]
		}
	}
	if deep != 0 && deep != 2 {
		return 0
	}
	ga, gb := ceilDiv(g.mp, g.tile2[0]), ceilDiv(g.np, g.tile2[1])
	stores := g.sm * g.sn * ga * gb // per C3 visit
	p0 := ga*gb - 1                 // tile 0's last block's group
	nd := int64(cfg.DMAEngines)
	if (stores-p0)%nd != 0 {
		return 0 // the load lands on another engine
	}
	after := (stores - 1 - p0) / nd // stores behind tile 0's on its engine
	lastPiece := func(part, t int64) int64 { return part - (ceilDiv(part, t)-1)*t }
	eb := min(g.ea, g.eo)
	minGroup := lastPiece(g.mp, g.tile2[0]) * lastPiece(g.np, g.tile2[1]) * eb
	own := lastPiece(g.mp, g.tile2[0]) * lastPiece(g.np, g.tile2[1]) * eb
	k3 := g.tile3[2]
	for _, sk := range g.l3Spans()[2] {
		k3 = min(k3, sk.size)
	}
	rows := min(g.tile2[0], g.mp)
	first := rows * min(g.tile2[2], k3) * g.e
	detour := xfer(cfg, kpu.BlockMover, own, eb) + (after+1)*xfer(cfg, kpu.DMA, minGroup, eb) +
		xfer(cfg, kpu.DMA, rows*k3*g.e, g.e) + xfer(cfg, kpu.BlockMover, first, g.e) + xfer(cfg, kpu.Streamer, first, g.e)
	boundaries := p.Batch*reuseLoads(g.ord3, g.t3, 0, 1) - 1
	if boundaries < 1 {
		return 0
	}
	return g.prologue() + est.FabricBusy + boundaries*detour + g.fabricTail(est)
}
