package constraints

import (
	"context"
	"fmt"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// CmdKind is what a command of the lowered stream does.
type CmdKind uint8

// Command kinds (docs/mapping.md section 5).
const (
	CmdLoad     CmdKind = iota // DMA: DRAM -> one L3 group (A, B, or a C partial sum)
	CmdStore                   // DMA: one C3 group -> DRAM
	CmdMoveIn                  // BlockMover: L3 group -> L2 slot (A2, B2, or a C2 partial sum)
	CmdMoveOut                 // BlockMover: C2 slot -> its C3 group
	CmdFeed                    // Streamer: L2 slot -> L1 slot (A: feed_rows, B: feed_cols)
	CmdMatMul                  // fabric: C2 (+)= A(L1) x B(L1)
	CmdConvert                 // vector: final C2 block, accumulator -> output type, in place in L2
	CmdReduceIn                // BlockMover: C3 group (running sum) -> the L2 reduction scratch (K split)
	CmdAdd                     // vector: C2 += scratch (K split)
)

func (k CmdKind) String() string {
	return [...]string{"load", "store", "move_in", "move_out", "feed", "matmul", "convert", "reduce_in", "add"}[k]
}

// Block is a region of an operand matrix: A rows are m and columns k, B rows
// k and columns n, C rows m and columns n.
type Block struct {
	Batch      int64
	Row, Col   int64
	Rows, Cols int64
}

// Cmd is one command of the stream a mapping lowers to. Walk reuses the Cmd
// and its Deps between calls: copy what you keep.
type Cmd struct {
	ID      int
	Kind    CmdKind
	Engine  kpu.Engine
	Operand Operand // the operand moved; C for matmul
	Tile    int     // compute tile; -1 for DMA commands
	// Block is the region moved (for matmul: the C block; K0, KLen give the
	// reduction range, A is Rows x KLen, B is KLen x Cols).
	Block    Block
	K0, KLen int64
	// L3 side (load, store, move_in, move_out): the L3 buffer slot, the group
	// index (Placement.L3) and the operand coordinates of the group's first
	// element (the block lies inside the group).
	L3Slot             int
	Group              int64
	GroupRow, GroupCol int64
	// L2Slot is the L2 slot (move_in, move_out, feed source; matmul,
	// convert, add: the C2 slot; reduce_in: 0, the reduction scratch
	// Placement.Scratch); L1Slot the L1 slot (feed destination; matmul: A
	// and B).
	L2Slot, L1Slot int
	Accumulate     bool // matmul: C += A x B (else C = A x B)
	// Final marks the commands that carry the finished C (the reduction
	// ended at K): the convert, the last move_out of a C2 block and the DMA
	// stores of a C3 visit that ends at the last L3 k step. Their Bytes are
	// in the output type (Problem.OutType); partial sums stay in the
	// accumulator type.
	Final  bool
	Bytes  int64
	Cycles int64
	Deps   []int
	flat   int // engine index in the replay's engine table
}

// walker is the state of one Walk.
type walker struct {
	g     *geom
	cfg   *kpu.Config
	ctx   context.Context
	visit func(*Cmd) error
	cmd   Cmd
	next  int
	dma   int // round-robin counter
	nDMA  int
	res   *Residency // resident operands (nil: none)
	// skip, when set, is called before every L3 step but the first; it may
	// move the walk ahead (replay_compress.go)
	skip func(w *walker, b *int64, idx *[3]int64) error
	// dmaOnly leaves out the L2 loops: only the DMA commands are emitted
	// (their dependencies on BlockMover commands are missing; dmafloor.go)
	dmaOnly bool
	// tile0Only leaves out the L2 loops of every compute tile but tile 0
	// (relaxed.go)
	tile0Only bool

	// engines per compute tile
	bm, st [][]int
	base   [5]int // flat engine base: dma, block mover, streamer, fabric, vector

	// L3 state per operand
	l3Count, l3Cur, l3Pending [3]int
	dmaLoad                   [3][][]int   // [x][slot][group] id of the load of the current occupant (C: reload, -1 if none)
	readers                   [3][][][]int // [x][slot][group] last move_in per engine reading the occupant (A, B)
	cStore                    [][]int      // [slot][group] DMA store of the slot's last occupant
	cWrite                    [][]int      // [slot][group] last move_out into the group in the occupant's visit
	cBlock                    map[[3]int64][]int
	// L3 step context
	b          int64
	idx3       [3]int64
	ext3, org3 [3]int64 // extent and origin of the current L3 tile

	tiles []tileState
}

type tileState struct {
	occCount, occCur, occPending [3]int
	moveIn                       [3][2]int // id of the move_in of the slot's occupant (C: reload or -1)
	lastFeed                     [2][2]int // [x][slot] last feed reading the occupant
	cOut                         [2]int    // move_out of the C2 slot's last occupant
	step                         int
	mm                           [2]int // last matmul by L1 parity
	c2Start                      bool   // the current step begins a C2 visit
	c2Reloaded                   bool
	c2Persist                    bool // the C2 block stays in L2 into the next L3 step
	lastAdd                      int  // the last add (reader of the reduction scratch), K split
}

func engineSet(count, tiles, t int) []int {
	if count >= tiles {
		per := count / tiles
		s := make([]int, per)
		for j := range s {
			s[j] = t + j*tiles
		}
		return s
	}
	return []int{t % count}
}

// Walk emits the command stream of mapping m for problem p on cfg, in
// program order (docs/mapping.md section 5), calling visit for each command.
// It fails on an illegal mapping (see Check) and stops early when visit
// returns an error or ctx is done.
func Walk(ctx context.Context, p Problem, m model.Mapping, cfg *kpu.Config, visit func(*Cmd) error) error {
	return walk(ctx, p, m, cfg, nil, visit)
}

// WalkResident is Walk under residency r (CheckResident must hold): no DMA
// command moves a resident operand. The BlockMovers read a resident A or B
// group from its home (a move_in depends on no load) and write a resident
// C group to its home; a C3 visit after the first of a block (an L3 k step
// after the first) reads the partial sums the previous visit left in the
// home, so its first reads of a group depend on that visit's last move_out
// of the group. The commands keep their L3Slot and Group (the lowering
// addresses a resident operand's groups by their Block in the home).
func WalkResident(ctx context.Context, p Problem, m model.Mapping, cfg *kpu.Config, r Residency, visit func(*Cmd) error) error {
	return walk(ctx, p, m, cfg, &r, visit)
}

func walk(ctx context.Context, p Problem, m model.Mapping, cfg *kpu.Config, r *Residency, visit func(*Cmd) error) error {
	return walkSkip(ctx, p, m, cfg, r, nil, visit)
}

// walkSkip is walk with a skip hook (see walker.skip).
func walkSkip(ctx context.Context, p Problem, m model.Mapping, cfg *kpu.Config, r *Residency, skip func(*walker, *int64, *[3]int64) error, visit func(*Cmd) error) error {
	w, err := newWalker(ctx, p, m, cfg, r, skip, visit)
	if err != nil {
		return err
	}
	return w.run()
}

// newWalker checks mapping m (under residency r, if any) and prepares its
// walk.
func newWalker(ctx context.Context, p Problem, m model.Mapping, cfg *kpu.Config, r *Residency, skip func(*walker, *int64, *[3]int64) error, visit func(*Cmd) error) (*walker, error) {
	g, err := newGeom(p, m, cfg)
	if err != nil {
		return nil, err
	}
	if r == nil {
		err = g.fits()
	} else {
		err = g.checkResident(r)
	}
	if err != nil {
		return nil, err
	}
	if cfg.DMAEngines < 1 || cfg.BlockMovers < 1 || cfg.Streamers < 1 {
		return nil, fmt.Errorf("machine %s: needs at least one DMA engine, block mover and streamer (has %d, %d, %d)", cfg.Name, cfg.DMAEngines, cfg.BlockMovers, cfg.Streamers)
	}
	w := &walker{g: g, cfg: cfg, ctx: ctx, visit: visit, nDMA: cfg.DMAEngines, res: r, skip: skip}
	fab := cfg.DMAEngines + cfg.BlockMovers + cfg.Streamers
	w.base = [5]int{0, cfg.DMAEngines, cfg.DMAEngines + cfg.BlockMovers, fab, fab + cfg.ComputeTiles}
	used := int(g.sm * g.sn * g.sk)
	w.tiles = make([]tileState, used)
	w.bm = make([][]int, used)
	w.st = make([][]int, used)
	// the walk picks engine x % len of a tile's set for operand x < 3, so
	// the first three engines of each set are enough (one allocation each)
	bmFlat, stFlat := make([]int, 0, 3*used), make([]int, 0, 3*used)
	nb, ns := 1, 1
	if cfg.BlockMovers >= cfg.ComputeTiles {
		nb = min(cfg.BlockMovers/cfg.ComputeTiles, 3)
	}
	if cfg.Streamers >= cfg.ComputeTiles {
		ns = min(cfg.Streamers/cfg.ComputeTiles, 3)
	}
	for t := 0; t < used; t++ {
		for j := 0; j < nb; j++ {
			if cfg.BlockMovers >= cfg.ComputeTiles {
				bmFlat = append(bmFlat, t+j*cfg.ComputeTiles) // engineSet
			} else {
				bmFlat = append(bmFlat, t%cfg.BlockMovers)
			}
		}
		for j := 0; j < ns; j++ {
			if cfg.Streamers >= cfg.ComputeTiles {
				stFlat = append(stFlat, t*(cfg.Streamers/cfg.ComputeTiles)+j) // streamerSet
			} else {
				stFlat = append(stFlat, t%cfg.Streamers)
			}
		}
		w.bm[t] = bmFlat[len(bmFlat)-nb:]
		w.st[t] = stFlat[len(stFlat)-ns:]
		ts := &w.tiles[t]
		ts.occCur, ts.occPending = [3]int{-1, -1, -1}, [3]int{-1, -1, -1}
		ts.moveIn = [3][2]int{{-1, -1}, {-1, -1}, {-1, -1}}
		ts.lastFeed = [2][2]int{{-1, -1}, {-1, -1}}
		ts.cOut = [2]int{-1, -1}
		ts.mm = [2]int{-1, -1}
		ts.lastAdd = -1
	}
	nGroups := [3]int64{g.sm * g.ga, g.sn * g.gb, g.sm * g.sn * g.ga * g.gb}
	for x := OpA; x <= OpC; x++ {
		w.l3Cur[x], w.l3Pending[x] = -1, -1
		w.dmaLoad[x] = make([][]int, g.b3[x])
		w.readers[x] = make([][][]int, g.b3[x])
		for s := range w.dmaLoad[x] {
			w.dmaLoad[x][s] = filled(nGroups[x], -1)
			w.readers[x][s] = make([][]int, nGroups[x])
		}
	}
	w.cStore = make([][]int, g.b3[OpC])
	w.cWrite = make([][]int, g.b3[OpC])
	for s := range w.cStore {
		w.cStore[s] = filled(nGroups[OpC], -1)
		w.cWrite[s] = filled(nGroups[OpC], -1)
	}
	w.cBlock = map[[3]int64][]int{}
	return w, nil
}

func filled(n int64, v int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// odometer iterates a 3-deep loop nest in a given order.
type odometer struct {
	order [3]int
	trips [3]int64
}

// next advances idx (dims m, n, k) and reports false after the last step.
func (o odometer) next(idx *[3]int64) bool {
	for l := 2; l >= 0; l-- {
		d := o.order[l]
		idx[d]++
		if idx[d] < o.trips[d] {
			return true
		}
		idx[d] = 0
	}
	return false
}

var operandDims = [3][2]int{{0, 2}, {2, 1}, {0, 1}}

func changes(x Operand, a, b [3]int64) bool {
	d := operandDims[x]
	return a[d[0]] != b[d[0]] || a[d[1]] != b[d[1]]
}

func (w *walker) emit() error {
	c := &w.cmd
	w.next++
	if w.next&4095 == 0 {
		if err := w.ctx.Err(); err != nil {
			return fmt.Errorf("walk of the command stream: %w", err)
		}
	}
	return w.visit(c)
}

func (w *walker) newCmd(kind CmdKind, x Operand, tile int) *Cmd {
	c := &w.cmd
	// Field by field, so that Deps keeps its backing array without a
	// whole-struct copy (the struct holds a pointer: copying it all costs
	// write barriers, and this runs once per command of every replay).
	c.Deps = c.Deps[:0]
	c.ID, c.Kind, c.Engine, c.Operand, c.Tile = w.next, kind, kpu.Engine{}, x, tile
	c.Block, c.K0, c.KLen = Block{}, 0, 0
	c.L3Slot, c.Group, c.GroupRow, c.GroupCol = -1, -1, 0, 0
	c.L2Slot, c.L1Slot = -1, -1
	c.Accumulate, c.Final = false, false
	c.Bytes, c.Cycles, c.flat = 0, 0, 0
	return c
}

func (c *Cmd) dep(id int) {
	if id >= 0 {
		c.Deps = append(c.Deps, id)
	}
}

func (w *walker) setDMA(c *Cmd) {
	e := w.dma % w.nDMA
	w.dma++
	c.Engine = kpu.Engine{Kind: kpu.DMA, Index: e}
	c.flat = w.base[0] + e
	c.Cycles = w.cfg.TransferCycles(kpu.DMA, c.Bytes, w.g.e)
}

func (w *walker) run() error {
	g := w.g
	trips := odometer{order: g.ord3, trips: g.t3}
	for b := int64(0); b < g.p.Batch; b++ {
		idx := [3]int64{}
		first := true
		for {
			if w.skip != nil && (b > 0 || !first) {
				if err := w.skip(w, &b, &idx); err != nil {
					return err
				}
				first = idx == [3]int64{}
			}
			nxt := idx
			hasNext := trips.next(&nxt)
			nb := b
			if !hasNext && b+1 < g.p.Batch {
				hasNext, nxt, nb = true, [3]int64{}, b+1
			}
			if err := w.l3Step(b, idx, first, hasNext, nb, nxt); err != nil {
				return err
			}
			first = false
			if !trips.next(&idx) {
				break
			}
		}
	}
	return nil
}

// l3Step emits one L3 step: its DMA loads, the L2 loops of every compute
// tile, and the C3 stores when the C3 visit ends.
func (w *walker) l3Step(b int64, idx [3]int64, first, hasNext bool, nb int64, nxt [3]int64) error {
	g := w.g
	chg := func(x Operand) bool { return first || changes(x, w.idx3, idx) || b != w.b }
	var changed [3]bool
	for x := OpA; x <= OpC; x++ {
		changed[x] = chg(x)
	}
	w.b, w.idx3 = b, idx
	// current loads
	for x := OpA; x <= OpC; x++ {
		if !changed[x] {
			continue
		}
		if w.l3Pending[x] >= 0 {
			w.l3Cur[x], w.l3Pending[x] = w.l3Pending[x], -1
			continue
		}
		v, err := w.beginL3Visit(x, b, idx)
		if err != nil {
			return err
		}
		w.l3Cur[x] = v
	}
	// prefetch
	if hasNext {
		for x := OpA; x <= OpC; x++ {
			if g.b3[x] == 2 && (nb != b || changes(x, idx, nxt)) {
				v, err := w.beginL3Visit(x, nb, nxt)
				if err != nil {
					return err
				}
				w.l3Pending[x] = v
			}
		}
	}
	// the L2 loops
	dims := [3]int64{g.p.M, g.p.N, g.p.K}
	for d := 0; d < 3; d++ {
		w.org3[d] = idx[d] * g.tile3[d]
		w.ext3[d] = min(g.tile3[d], dims[d]-w.org3[d])
	}
	sm, sn, sk := g.sm, g.sn, g.sk
	if w.tile0Only {
		sm, sn, sk = 1, 1, 1
	}
	for pm := int64(0); pm < sm && !w.dmaOnly; pm++ {
		mpart := partLen(w.ext3[0], g.mp, pm)
		if mpart == 0 {
			continue
		}
		for pn := int64(0); pn < sn; pn++ {
			npart := partLen(w.ext3[1], g.np, pn)
			if npart == 0 {
				continue
			}
			// a part holding one C2 block keeps it in L2 while the C3 visit
			// continues into the next L3 step (docs/mapping.md section 2)
			keep := hasNext && nb == b && !changes(OpC, idx, nxt) && mpart <= g.tile2[0] && npart <= g.tile2[1] && g.sk == 1
			for pk := int64(0); pk < sk; pk++ {
				kpart := partLen(w.ext3[2], g.kp, pk)
				if kpart == 0 {
					continue
				}
				if err := w.l2Loop(int((pm*g.sn+pn)*g.sk+pk), pm, pn, pk, mpart, npart, kpart, keep); err != nil {
					return err
				}
			}
		}
	}
	// C3 stores
	if !hasNext || nb != b || changes(OpC, idx, nxt) {
		return w.endC3Visit(b, idx)
	}
	return nil
}

// groupsOf calls fn for every group of operand x in the L3 tile at idx (edge
// tiles clipped), in placement order.
func (w *walker) groupsOf(x Operand, idx [3]int64, fn func(grp int64, blk Block) error) error {
	g := w.g
	dims := [3]int64{g.p.M, g.p.N, g.p.K}
	var org, ext [3]int64
	for d := 0; d < 3; d++ {
		org[d] = idx[d] * g.tile3[d]
		ext[d] = min(g.tile3[d], dims[d]-org[d])
	}
	m2, n2 := g.tile2[0], g.tile2[1]
	switch x {
	case OpA:
		for pm := int64(0); pm < g.sm; pm++ {
			pr := partLen(ext[0], g.mp, pm)
			for gi := int64(0); gi*m2 < pr; gi++ {
				blk := Block{Row: org[0] + pm*g.mp + gi*m2, Col: org[2], Rows: min(m2, pr-gi*m2), Cols: ext[2]}
				if err := fn(pm*g.ga+gi, blk); err != nil {
					return err
				}
			}
		}
	case OpB:
		for pn := int64(0); pn < g.sn; pn++ {
			pc := partLen(ext[1], g.np, pn)
			for gi := int64(0); gi*n2 < pc; gi++ {
				blk := Block{Row: org[2], Col: org[1] + pn*g.np + gi*n2, Rows: ext[2], Cols: min(n2, pc-gi*n2)}
				if err := fn(pn*g.gb+gi, blk); err != nil {
					return err
				}
			}
		}
	case OpC:
		for pm := int64(0); pm < g.sm; pm++ {
			pr := partLen(ext[0], g.mp, pm)
			for pn := int64(0); pn < g.sn; pn++ {
				pc := partLen(ext[1], g.np, pn)
				for gm := int64(0); gm*m2 < pr; gm++ {
					for gn := int64(0); gn*n2 < pc; gn++ {
						blk := Block{Row: org[0] + pm*g.mp + gm*m2, Col: org[1] + pn*g.np + gn*n2, Rows: min(m2, pr-gm*m2), Cols: min(n2, pc-gn*n2)}
						if err := fn(((pm*g.sn+pn)*g.ga+gm)*g.gb+gn, blk); err != nil {
							return err
						}
					}
				}
			}
		}
	}
	return nil
}

// beginL3Visit starts a new visit of operand x's block at L3 step idx of
// batch b and emits its DMA loads (C: only when it holds a partial sum).
func (w *walker) beginL3Visit(x Operand, b int64, idx [3]int64) (int, error) {
	g := w.g
	v := w.l3Count[x]
	w.l3Count[x]++
	slot := v % int(g.b3[x])
	if x == OpC {
		cw, cl := w.cWrite[slot], w.dmaLoad[OpC][slot]
		for i := range cw {
			cw[i], cl[i] = -1, -1
		}
		if idx[2] == 0 {
			return v, nil
		}
	}
	key := [3]int64{b, idx[0], idx[1]}
	prev := w.cBlock[key]
	if w.res.has(x) {
		// no loads: a resident C's partial sums are in its home, written
		// by the previous visit's last move_outs (endC3Visit saved them).
		// The DMA round robin skips the loads' turns, so the other
		// commands keep Walk's engines.
		if x == OpC && prev != nil {
			copy(w.dmaLoad[OpC][slot], prev)
		}
		return v, w.groupsOf(x, idx, func(int64, Block) error { w.dma++; return nil })
	}
	err := w.groupsOf(x, idx, func(grp int64, blk Block) error {
		blk.Batch = b
		c := w.newCmd(CmdLoad, x, -1)
		c.Block, c.L3Slot, c.Group, c.GroupRow, c.GroupCol = blk, slot, grp, blk.Row, blk.Col
		if x == OpC {
			c.Bytes = blk.Rows * blk.Cols * g.ea
			c.dep(w.cStore[slot][grp])
			if prev != nil {
				c.dep(prev[grp])
			}
		} else {
			c.Bytes = blk.Rows * blk.Cols * g.e
			r := w.readers[x][slot][grp]
			for i := 1; i < len(r); i += 2 {
				c.Deps = append(c.Deps, r[i])
			}
			w.readers[x][slot][grp] = w.readers[x][slot][grp][:0]
		}
		w.setDMA(c)
		w.dmaLoad[x][slot][grp] = c.ID
		return w.emit()
	})
	return v, err
}

// endC3Visit emits the DMA stores of the current C3 visit.
func (w *walker) endC3Visit(b int64, idx [3]int64) error {
	g := w.g
	slot := w.l3Cur[OpC] % int(g.b3[OpC])
	revisit := idx[2] < g.t3[2]-1
	key := [3]int64{b, idx[0], idx[1]}
	var saved []int
	if revisit {
		saved = w.cBlock[key]
		if saved == nil {
			saved = filled(int64(len(w.cStore[slot])), -1)
			w.cBlock[key] = saved
		}
	} else {
		delete(w.cBlock, key)
	}
	if w.res.has(OpC) {
		// no stores: the next visit of the block reads the home after the
		// last move_out of each group
		if saved != nil {
			copy(saved, w.cWrite[slot])
		}
		return w.groupsOf(OpC, idx, func(int64, Block) error { w.dma++; return nil })
	}
	return w.groupsOf(OpC, idx, func(grp int64, blk Block) error {
		blk.Batch = b
		c := w.newCmd(CmdStore, OpC, -1)
		c.Block, c.L3Slot, c.Group, c.GroupRow, c.GroupCol = blk, slot, grp, blk.Row, blk.Col
		c.Final = !revisit
		eb := g.ea
		if c.Final {
			eb = g.eo
		}
		c.Bytes = blk.Rows * blk.Cols * eb
		c.dep(w.cWrite[slot][grp])
		w.setDMA(c)
		c.Cycles = w.cfg.TransferCycles(kpu.DMA, c.Bytes, eb)
		w.cStore[slot][grp] = c.ID
		if saved != nil {
			saved[grp] = c.ID
		}
		return w.emit()
	})
}

// l2Loop emits the L2 steps of compute tile t on part (pm, pn) of the
// current L3 tile.
func (w *walker) l2Loop(t int, pm, pn, pk, mpart, npart, kpart int64, keepC bool) error {
	g := w.g
	ts := &w.tiles[t]
	org := [3]int64{w.org3[0] + pm*g.mp, w.org3[1] + pn*g.np, w.org3[2] + pk*g.kp}
	ext := [3]int64{mpart, npart, kpart}
	od := odometer{order: g.ord2}
	for d := 0; d < 3; d++ {
		od.trips[d] = ceilDiv(ext[d], g.tile2[d])
	}
	blockOf := func(idx [3]int64) (blk [3]Block) {
		var o, e [3]int64
		for d := 0; d < 3; d++ {
			o[d] = org[d] + idx[d]*g.tile2[d]
			e[d] = min(g.tile2[d], ext[d]-idx[d]*g.tile2[d])
		}
		blk[OpA] = Block{Batch: w.b, Row: o[0], Col: o[2], Rows: e[0], Cols: e[2]}
		blk[OpB] = Block{Batch: w.b, Row: o[2], Col: o[1], Rows: e[2], Cols: e[1]}
		blk[OpC] = Block{Batch: w.b, Row: o[0], Col: o[1], Rows: e[0], Cols: e[1]}
		return blk
	}
	idx := [3]int64{}
	var prev [3]int64
	var nblk [3]Block // the blocks of nxt, computed by the prefetch
	for s := 0; ; s++ {
		nxt := idx
		hasNext := od.next(&nxt)
		blk := nblk
		if s == 0 {
			blk = blockOf(idx)
		}
		// current moves
		for x := OpA; x <= OpC; x++ {
			if s > 0 && !changes(x, prev, idx) {
				continue
			}
			if s == 0 && x == OpC && ts.c2Persist {
				continue
			}
			if ts.occPending[x] >= 0 {
				ts.occCur[x], ts.occPending[x] = ts.occPending[x], -1
				continue
			}
			o, err := w.beginL2Visit(t, pm, pn, pk, x, idx, blk[x])
			if err != nil {
				return err
			}
			ts.occCur[x] = o
		}
		if s == 0 && ts.c2Persist {
			ts.c2Persist = false
		} else if s == 0 || changes(OpC, prev, idx) {
			ts.c2Start = true
			ts.c2Reloaded = ts.moveIn[OpC][ts.occCur[OpC]%int(g.b2[OpC])] >= 0
		}
		// prefetch
		if hasNext {
			nblk = blockOf(nxt)
			for x := OpA; x <= OpC; x++ {
				if g.b2[x] == 2 && changes(x, idx, nxt) {
					o, err := w.beginL2Visit(t, pm, pn, pk, x, nxt, nblk[x])
					if err != nil {
						return err
					}
					ts.occPending[x] = o
				}
			}
		}
		// feeds and the matmul
		par := ts.step % 2
		ts.step++
		var feeds [2]int
		for x := OpA; x <= OpB; x++ {
			c := w.newCmd(CmdFeed, x, t)
			c.Block = blk[x]
			c.L2Slot = ts.occCur[x] % int(g.b2[x])
			c.L1Slot = par
			c.Bytes = blk[x].Rows * blk[x].Cols * g.e
			e := w.st[t][int(x)%len(w.st[t])]
			c.Engine = kpu.Engine{Kind: kpu.Streamer, Index: e}
			c.flat = w.base[2] + e
			c.Cycles = w.cfg.TransferCycles(kpu.Streamer, c.Bytes, g.e)
			c.dep(ts.moveIn[x][c.L2Slot])
			c.dep(ts.mm[par])
			ts.lastFeed[x][c.L2Slot] = c.ID
			feeds[x] = c.ID
			if err := w.emit(); err != nil {
				return err
			}
		}
		c := w.newCmd(CmdMatMul, OpC, t)
		c.Block = blk[OpC]
		c.K0, c.KLen = blk[OpA].Col, blk[OpA].Cols
		c2slot := ts.occCur[OpC] % int(g.b2[OpC])
		c.L2Slot, c.L1Slot = c2slot, par
		c.Engine = kpu.Engine{Kind: kpu.Fabric, Index: t}
		c.flat = w.base[3] + t
		c.Cycles = w.cfg.FabricCycles(c.Block.Rows, c.Block.Cols, c.KLen)
		c.Bytes = 0
		c.dep(feeds[OpA])
		c.dep(feeds[OpB])
		c.Accumulate = true
		if ts.c2Start {
			if ts.c2Reloaded {
				c.dep(ts.moveIn[OpC][c2slot])
			} else {
				c.Accumulate = false
				c.dep(ts.cOut[c2slot])
			}
			ts.c2Start = false
		}
		ts.mm[par] = c.ID
		mmID := c.ID
		if err := w.emit(); err != nil {
			return err
		}
		// C2 store at the end of its visit
		if !hasNext && keepC {
			ts.c2Persist = true
		} else if !hasNext || changes(OpC, idx, nxt) {
			l3slot := w.l3Cur[OpC] % int(g.b3[OpC])
			grp := w.c2Group(pm, pn, idx)
			final := blk[OpA].Col+blk[OpA].Cols == g.p.K
			// the move_out's dependencies (the convert, when there is one,
			// waits for the same ones)
			storeDep := -1
			if w.cWrite[l3slot][grp] < 0 && w.dmaLoad[OpC][l3slot][grp] < 0 {
				storeDep = w.cStore[l3slot][grp]
			}
			add := -1
			if pk > 0 && (w.cWrite[l3slot][grp] >= 0 || w.dmaLoad[OpC][l3slot][grp] >= 0) {
				var err error
				if add, err = w.reduceAdd(t, l3slot, grp, blk[OpC], c2slot, mmID); err != nil {
					return err
				}
				storeDep = -1
			}
			conv := -1
			if final && g.narrow {
				c := w.newCmd(CmdConvert, OpC, t)
				c.Block, c.L2Slot, c.Final = blk[OpC], c2slot, true
				c.Bytes = c.Block.Rows * c.Block.Cols * g.eo
				c.Engine = kpu.Engine{Kind: kpu.Vector, Index: t}
				c.flat = w.base[4] + t
				c.Cycles = w.cfg.VectorCycles(c.Block.Rows * c.Block.Cols)
				c.dep(mmID)
				c.dep(storeDep)
				c.dep(add)
				conv = c.ID
				if err := w.emit(); err != nil {
					return err
				}
			}
			c := w.newCmd(CmdMoveOut, OpC, t)
			c.Block = blk[OpC]
			c.L2Slot = c2slot
			c.L3Slot = l3slot
			c.Group, c.GroupRow, c.GroupCol = grp, c.Block.Row, c.Block.Col
			c.Final = final
			c.Bytes = c.Block.Rows * c.Block.Cols * g.ea
			if final {
				c.Bytes = c.Block.Rows * c.Block.Cols * g.eo
			}
			w.setBM(c, t, OpC)
			c.dep(mmID)
			c.dep(storeDep)
			c.dep(add)
			c.dep(conv)
			w.cWrite[c.L3Slot][grp] = c.ID
			ts.cOut[c2slot] = c.ID
			ts.moveIn[OpC][c2slot] = -1
			if err := w.emit(); err != nil {
				return err
			}
		}
		if !hasNext {
			return nil
		}
		prev, idx = idx, nxt
	}
}

// reduceAdd emits, for a C2 visit of a K part after the first on tile t,
// the move of its C3 group's running sum into the tile's reduction scratch
// and the vector add of it into C2 slot c2slot (after matmul mm, the
// visit's last); it returns the add's id. The group's running sum is its
// last write in this C3 visit (another K part's move_out) or its DMA
// reload, so the K parts of a block accumulate in sequence, in tile order.
func (w *walker) reduceAdd(t, l3slot int, grp int64, blk Block, c2slot, mm int) (int, error) {
	g := w.g
	ts := &w.tiles[t]
	c := w.newCmd(CmdReduceIn, OpC, t)
	c.Block, c.L3Slot, c.Group, c.GroupRow, c.GroupCol = blk, l3slot, grp, blk.Row, blk.Col
	c.L2Slot = 0
	c.Bytes = blk.Rows * blk.Cols * g.ea
	w.setBM(c, t, OpC)
	if id := w.cWrite[l3slot][grp]; id >= 0 {
		c.dep(id)
	} else {
		c.dep(w.dmaLoad[OpC][l3slot][grp])
	}
	c.dep(ts.lastAdd)
	in := c.ID
	if err := w.emit(); err != nil {
		return -1, err
	}
	c = w.newCmd(CmdAdd, OpC, t)
	c.Block, c.L2Slot = blk, c2slot
	c.Bytes = blk.Rows * blk.Cols * g.ea
	c.Engine = kpu.Engine{Kind: kpu.Vector, Index: t}
	c.flat = w.base[4] + t
	c.Cycles = w.cfg.VectorCycles(blk.Rows * blk.Cols)
	c.dep(in)
	c.dep(mm)
	ts.lastAdd = c.ID
	return c.ID, w.emit()
}

func (w *walker) c2Group(pm, pn int64, idx [3]int64) int64 {
	g := w.g
	return ((pm*g.sn+pn)*g.ga+idx[0])*g.gb + idx[1]
}

func (w *walker) setBM(c *Cmd, t int, x Operand) {
	e := w.bm[t][int(x)%len(w.bm[t])]
	c.Engine = kpu.Engine{Kind: kpu.BlockMover, Index: e}
	c.flat = w.base[1] + e
	eb := w.g.e
	if x == OpC {
		eb = w.g.ea
		if c.Final {
			eb = w.g.eo
		}
	}
	c.Cycles = w.cfg.TransferCycles(kpu.BlockMover, c.Bytes, eb)
}

// beginL2Visit starts occupancy o of operand x on tile t for the L2 step at
// idx (block blk) and emits its move_in (C: only when it holds a partial sum).
func (w *walker) beginL2Visit(t int, pm, pn, pk int64, x Operand, idx [3]int64, blk Block) (int, error) {
	g := w.g
	ts := &w.tiles[t]
	o := ts.occCount[x]
	ts.occCount[x]++
	slot := o % int(g.b2[x])
	l3slot := w.l3Cur[x] % int(g.b3[x])
	var grp int64
	switch x {
	case OpA:
		grp = pm*g.ga + idx[0]
	case OpB:
		grp = pn*g.gb + idx[1]
	case OpC:
		grp = w.c2Group(pm, pn, idx)
		// a K part after the first starts from zero and adds the running
		// sum at the end of the visit (reduceAdd)
		if pk > 0 || w.idx3[2]*g.tile3[2]+idx[2]*g.tile2[2] == 0 {
			ts.moveIn[OpC][slot] = -1
			return o, nil
		}
	}
	c := w.newCmd(CmdMoveIn, x, t)
	c.Block, c.L2Slot, c.L3Slot, c.Group = blk, slot, l3slot, grp
	switch x {
	case OpA:
		c.GroupRow, c.GroupCol = blk.Row, w.org3[2]
		c.Bytes = blk.Rows * blk.Cols * g.e
		c.dep(w.dmaLoad[x][l3slot][grp])
		c.dep(ts.lastFeed[x][slot])
	case OpB:
		c.GroupRow, c.GroupCol = w.org3[2], blk.Col
		c.Bytes = blk.Rows * blk.Cols * g.e
		c.dep(w.dmaLoad[x][l3slot][grp])
		c.dep(ts.lastFeed[x][slot])
	case OpC:
		c.GroupRow, c.GroupCol = blk.Row, blk.Col
		c.Bytes = blk.Rows * blk.Cols * g.ea
		if id := w.cWrite[l3slot][grp]; id >= 0 {
			c.dep(id)
		} else {
			c.dep(w.dmaLoad[OpC][l3slot][grp])
		}
		c.dep(ts.cOut[slot])
	}
	w.setBM(c, t, x)
	ts.moveIn[x][slot] = c.ID
	if x != OpC {
		w.addReader(x, l3slot, grp, c.flat, c.ID)
	}
	return o, w.emit()
}

// addReader records move id (on flat engine e) as the last reader of a group
// on its engine.
func (w *walker) addReader(x Operand, slot int, grp int64, e, id int) {
	r := w.readers[x][slot][grp]
	for i := 0; i+1 < len(r); i += 2 {
		if r[i] == e {
			r[i+1] = id
			return
		}
	}
	w.readers[x][slot][grp] = append(r, e, id)
}
