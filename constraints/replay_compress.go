package constraints

import (
	"context"
	"fmt"
	"math"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// Replay compression (docs/search.md, "Replay compression").
//
// The replay is a max-plus recurrence: a command starts at the maximum of its
// engine's free time and its dependencies' ends. Between two L3 steps, what
// the rest of the stream can observe is the walker's bookkeeping (the ids of
// the commands later commands depend on, slot and round-robin counters) and,
// for the timing, every engine's free time and the ends of those commands.
// Written relative to the next command id and to a reference time (the
// latest engine free time), that is the normalized state. The commands an L3
// step emits depend on that state and on the step's signature (which
// operands change from the previous step and to the next one, whether each
// index is the first or the last of its loop, batch changes), not on the
// absolute position. So when the normalized state before step s2 equals the
// one before an earlier step s1, and the signatures of the steps from s2 on
// repeat those of s1..s2-1 for n whole periods, the stream of those n
// periods is the stream of s1..s2-1 shifted by whole id and time offsets:
// the replay jumps over them, adding n times each per-period increment
// (busy times, bytes, MACs, counters, ids, times). The result is exactly the
// full replay's. Only plain streams (no residency) whose C3 blocks are never
// revisited (the C3 visit runs through all L3 k steps, or there is one) are
// compressed: a revisit reads state keyed by the absolute block position.

// replayState is the timing state of one replay.
type replayState struct {
	free, busy []int64
	end        []int64 // end time of command id at end[id-base]
	base       int
	old        map[int]int64 // end times of older commands still referenced
	tr         *Trace
	count      int64 // commands replayed (or jumped over)
	stepMax    int64 // latest end among the commands of the current L3 step
	// the cutoff's running figures (ReplayWithin)
	fabricLeft, stallLeft, fabricFree, dmaLeft, dmaFree int64
	chains                                              *chainCut // nil without a limit
}

// maxCompressSteps bounds the L3 steps of a compressed stream (it keeps a
// signature and a latest end per step from the first one it records).
const maxCompressSteps = 1 << 22

// compressLimits says which streams a replay compresses: those of at least
// minSteps L3 steps and (estimated from the commands per step so far)
// minCommands commands. Below that the bookkeeping costs more than it saves.
type compressLimits struct{ minSteps, minCommands int64 }

// defaultCompress are the limits of ReplayWithin.
var defaultCompress = compressLimits{minSteps: 32, minCommands: 1 << 15}

// giveUpSteps is how many L3 steps a replay records without finding a
// repeat before it stops looking.
const giveUpSteps = 256

// maxStoredKey bounds the recorded states a replay keeps, in words.
const maxStoredKey = 1 << 17

type compressEntry struct {
	step int64
	ref  int64
	key  []int64
	lin  []int64
	raw  []int // the id fields (compressor.ids order)
}

// compressor is the skip hook of a compressed replay.
type compressor struct {
	lim      compressLimits
	rs       *replayState
	disabled bool
	ready    bool
	total    int64 // L3 steps of the program
	s        int64 // index of the step about to run
	sig      []uint32
	mx       []int64
	byHash   map[uint64][]int
	entries  []compressEntry
	stored   int
	key      []int64
	// sig holds the signatures of steps [c.s0, sigN); the fill cursor is
	// the position of step sigN and of the one before it
	sigN              int64
	recording         bool  // sig and mx are kept, from step s0 on
	recorded          int   // steps recorded
	keyWork           int64 // int64s of normalized state built
	s0                int64
	fillPB, fillB     int64
	fillPIdx, fillIdx [3]int64
	jumps             int   // jumps made
	skipped           int64 // L3 steps jumped over
}

// setup sizes the program of w and decides whether its stream can be
// compressed.
func (c *compressor) setup(w *walker) {
	g := w.g
	c.ready = true
	c.total = g.p.Batch * g.t3[0] * g.t3[1] * g.t3[2]
	revisits := g.t3[2] > 1 && reuseLoads(g.ord3, g.t3, 0, 1) != g.t3[0]*g.t3[1]
	if w.res != nil || revisits || c.total < c.lim.minSteps || c.total > maxCompressSteps {
		c.disabled = true
		return
	}
	// a state too big to keep a few of (many compute tiles and groups)
	ids := 0
	c.ids(w, func(*int) { ids++ })
	if 8*(2*ids+2*len(c.rs.free)+8*len(w.tiles)) > maxStoredKey {
		c.disabled = true
	}
}

// adv moves (b, idx) to the next L3 step in program order; false at the end.
func (c *compressor) adv(w *walker, b *int64, idx *[3]int64) bool {
	g := w.g
	if (odometer{order: g.ord3, trips: g.t3}).next(idx) {
		return true
	}
	if *b+1 < g.p.Batch {
		*b++
		*idx = [3]int64{}
		return true
	}
	return false
}

// setMx records v as the latest end of the commands of step i (i >= s0-1;
// step s0-1's is not kept: no period starts before s0).
func (c *compressor) setMx(i, v int64) {
	if i < c.s0 {
		return
	}
	for int64(len(c.mx)) <= i-c.s0 {
		c.mx = append(c.mx, 0)
	}
	c.mx[i-c.s0] = v
}

// sigAt is the signature of step i (i >= the first recorded step).
func (c *compressor) sigAt(w *walker, i int64) uint32 {
	for c.sigN <= i {
		c.sig = append(c.sig, c.sigOf(w, c.fillPB, c.fillPIdx, c.fillB, c.fillIdx))
		c.fillPB, c.fillPIdx = c.fillB, c.fillIdx
		c.adv(w, &c.fillB, &c.fillIdx)
		c.sigN++
	}
	return c.sig[i-c.s0]
}

// sigOf is the signature of the step at (b, idx) after the step at (pb,
// pidx).
func (c *compressor) sigOf(w *walker, pb int64, pidx [3]int64, b int64, idx [3]int64) uint32 {
	t := w.g.t3
	nb, nxt := b, idx
	has := c.adv(w, &nb, &nxt)
	var s uint32
	for d := 0; d < 3; d++ {
		v := b2i(idx[d] == 0) | b2i(idx[d] == t[d]-1)<<1 | b2i(idx[d] != pidx[d])<<2
		if has {
			v |= b2i(nxt[d] == 0)<<3 | b2i(nxt[d] == t[d]-1)<<4 | b2i(nxt[d] != idx[d])<<5
		}
		s |= uint32(v) << (6 * d)
	}
	s |= uint32(b2i(b != pb))<<18 | uint32(b2i(has))<<19 | uint32(b2i(has && nb != b))<<20
	return s
}

// ids calls fn on every command id field of the walker's state, in a fixed
// order.
func (c *compressor) ids(w *walker, fn func(*int)) {
	for x := OpA; x <= OpC; x++ {
		for _, sl := range w.dmaLoad[x] {
			for i := range sl {
				fn(&sl[i])
			}
		}
		for _, sl := range w.readers[x] {
			for _, r := range sl {
				for i := 1; i < len(r); i += 2 {
					fn(&r[i])
				}
			}
		}
	}
	for s := range w.cStore {
		for i := range w.cStore[s] {
			fn(&w.cStore[s][i])
		}
		for i := range w.cWrite[s] {
			fn(&w.cWrite[s][i])
		}
	}
	for t := range w.tiles {
		ts := &w.tiles[t]
		for x := range ts.moveIn {
			fn(&ts.moveIn[x][0])
			fn(&ts.moveIn[x][1])
		}
		for x := range ts.lastFeed {
			fn(&ts.lastFeed[x][0])
			fn(&ts.lastFeed[x][1])
		}
		fn(&ts.cOut[0])
		fn(&ts.cOut[1])
		fn(&ts.mm[0])
		fn(&ts.mm[1])
		fn(&ts.lastAdd)
	}
}

// linear calls fn on every quantity that grows by a constant per period:
// the walker's counters and the replay's accumulators and times.
func (c *compressor) linear(w *walker, fi func(*int), fl func(*int64)) {
	fi(&w.next)
	fi(&w.dma)
	for x := 0; x < 3; x++ {
		fi(&w.l3Count[x])
		fi(&w.l3Cur[x])
		fi(&w.l3Pending[x])
	}
	for t := range w.tiles {
		ts := &w.tiles[t]
		for x := 0; x < 3; x++ {
			fi(&ts.occCount[x])
			fi(&ts.occCur[x])
			fi(&ts.occPending[x])
		}
		fi(&ts.step)
	}
	rs := c.rs
	for i := range rs.free {
		fl(&rs.free[i])
		fl(&rs.busy[i])
	}
	b := &rs.tr.Bytes
	for _, p := range []*int64{&b.DRAMRead, &b.DRAMWrite, &b.L3Read, &b.L3Write, &b.L2Read, &b.L2Write, &b.L1Read, &b.L1Write, &rs.tr.MACs, &rs.count, &rs.fabricLeft, &rs.stallLeft, &rs.fabricFree, &rs.dmaLeft, &rs.dmaFree} {
		fl(p)
	}
	if rs.chains != nil {
		for i := range rs.chains.left {
			fl(&rs.chains.left[i])
		}
	}
}

// buildKey writes the normalized state of w into c.key and returns its
// reference time.
func (c *compressor) buildKey(w *walker) int64 {
	rs := c.rs
	ref := int64(math.MinInt64)
	for _, f := range rs.free {
		ref = max(ref, f)
	}
	k := c.key[:0]
	for i, f := range rs.free {
		if rs.busy[i] > 0 {
			k = append(k, f-ref)
		} else {
			k = append(k, math.MinInt64)
		}
	}
	g := w.g
	rel := func(v, count int) int64 {
		if v < 0 {
			return math.MinInt64
		}
		return int64(v - count)
	}
	k = append(k, int64(w.dma%w.nDMA))
	for x := 0; x < 3; x++ {
		k = append(k, int64(w.l3Count[x]%int(g.b3[x])), rel(w.l3Cur[x], w.l3Count[x]), rel(w.l3Pending[x], w.l3Count[x]))
	}
	for t := range w.tiles {
		ts := &w.tiles[t]
		for x := 0; x < 3; x++ {
			k = append(k, int64(ts.occCount[x]%int(g.b2[x])), rel(ts.occCur[x], ts.occCount[x]), rel(ts.occPending[x], ts.occCount[x]))
		}
		k = append(k, int64(ts.step%2), int64(b2i(ts.c2Start)|b2i(ts.c2Reloaded)<<1|b2i(ts.c2Persist)<<2))
	}
	for x := OpA; x <= OpC; x++ {
		for _, sl := range w.readers[x] {
			for _, r := range sl {
				k = append(k, int64(len(r)))
				for i := 0; i < len(r); i += 2 {
					k = append(k, int64(r[i]))
				}
			}
		}
	}
	// an end no later than every used engine's free time never delays a
	// command on those engines: such a dependency is marked stale, whatever
	// its id (jump keeps stale ids that the period did not rewrite)
	floor := int64(math.MaxInt64)
	for i, f := range rs.free {
		if rs.busy[i] > 0 {
			floor = min(floor, f)
		}
	}
	c.ids(w, func(id *int) {
		if *id < 0 {
			k = append(k, -1)
			return
		}
		e, _ := rs.endOf(*id)
		if e <= floor {
			k = append(k, -2)
			return
		}
		k = append(k, int64(w.next-*id), e-ref)
	})
	c.key = k
	return ref
}

// endOf is the end time of command id (one still referenced).
func (rs *replayState) endOf(id int) (int64, bool) {
	if id >= rs.base {
		return rs.end[id-rs.base], true
	}
	v, ok := rs.old[id]
	return v, ok
}

// rawIDs lists the id fields of w.
func (c *compressor) rawIDs(w *walker) []int {
	v := make([]int, 0, len(c.key))
	c.ids(w, func(id *int) { v = append(v, *id) })
	return v
}

func hashKey(k []int64) uint64 {
	h := uint64(14695981039346656037)
	for _, v := range k {
		h ^= uint64(v)
		h *= 1099511628211
		h ^= h >> 29
	}
	return h
}

func equalKey(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// snapshot lists the linear quantities of the current state.
func (c *compressor) snapshot(w *walker) []int64 {
	v := make([]int64, 0, 2*len(c.rs.free)+8*len(w.tiles)+32)
	c.linear(w, func(p *int) { v = append(v, int64(*p)) }, func(p *int64) { v = append(v, *p) })
	return v
}

// skip is the walker's skip hook: before step c.s it records the step's
// signature and normalized state and, on a repeat, jumps ahead.
func (c *compressor) skip(w *walker, b *int64, idx *[3]int64) error {
	if !c.ready {
		c.setup(w)
	}
	c.s++
	if c.disabled {
		return nil
	}
	if !c.recording {
		// a short stream (by its rate so far) is not worth the bookkeeping
		if c.rs.count*c.total < c.lim.minCommands*c.s {
			return nil
		}
		c.recording, c.s0 = true, c.s
		c.sig = make([]uint32, 0, 256)
		c.byHash = map[uint64][]int{}
		// signatures are computed from here on, as far as needed
		c.sigN = c.s
		c.fillPB, c.fillPIdx, c.fillB, c.fillIdx = w.b, w.idx3, *b, *idx
	}
	c.setMx(c.s-1, c.rs.stepMax)
	c.recorded++
	if c.jumps == 0 && c.recorded > giveUpSteps {
		c.disabled = true
		return nil
	}
	c.rs.stepMax = 0
	for tries := 0; tries < 4; tries++ {
		jumped, err := c.tryJump(w, b, idx)
		if err != nil || !jumped {
			return err
		}
	}
	return nil
}

// tryJump records step c.s and jumps over whole periods when its state
// repeats an earlier one.
func (c *compressor) tryJump(w *walker, b *int64, idx *[3]int64) (bool, error) {
	s := c.s
	ref := c.buildKey(w)
	c.keyWork += int64(len(c.key))
	if c.jumps == 0 && c.keyWork > 16*c.rs.count {
		// recording the state costs a good share of the replay and no
		// repeat has paid for it yet: stop looking
		c.disabled = true
		return false, nil
	}
	h := hashKey(c.key)
	best, bestN := -1, int64(0)
	var bestB int64
	var bestIdx, bestPIdx [3]int64
	var bestPB int64
	cands := c.byHash[h]
	for ci := len(cands) - 1; ci >= 0 && ci >= len(cands)-8; ci-- {
		e := &c.entries[cands[ci]]
		if !equalKey(e.key, c.key) {
			continue
		}
		P := s - e.step
		// count the steps from s whose signatures repeat the period's
		var m int64
		for s+m < c.total && c.sigAt(w, s+m) == c.sig[e.step+m%P-c.s0] {
			m++
		}
		if n := m / P; n > bestN && s+n*P < c.total {
			best, bestN = cands[ci], n
		}
	}
	if best >= 0 {
		// the position of the step to jump to, and of the one before it
		bestPB, bestPIdx, bestB, bestIdx = w.b, w.idx3, *b, *idx
		for j := int64(0); j < bestN*(s-c.entries[best].step); j++ {
			bestPB, bestPIdx = bestB, bestIdx
			c.adv(w, &bestB, &bestIdx)
		}
	}
	if best < 0 {
		// an entry holds the key, the id fields and the linear figures
		size := 2*len(c.key) + 2*len(c.rs.free) + 8*len(w.tiles)
		if c.jumps == 0 && c.stored+size > maxStoredKey {
			c.disabled = true // a big state and no repeat yet: stop looking
			return false, nil
		}
		if c.stored+size <= maxStoredKey {
			c.entries = append(c.entries, compressEntry{step: s, ref: ref, key: append([]int64(nil), c.key...), lin: c.snapshot(w), raw: c.rawIDs(w)})
			c.byHash[h] = append(c.byHash[h], len(c.entries)-1)
			c.stored += size
		}
		return false, nil
	}
	return true, c.jump(w, &c.entries[best], bestN, ref, b, idx, bestB, bestIdx, bestPB, bestPIdx)
}

// jump moves the walk and the replay n periods ahead (the period from entry
// e's step to the current one).
func (c *compressor) jump(w *walker, e *compressEntry, n, ref int64, b *int64, idx *[3]int64, nb int64, nidx [3]int64, pb int64, pidx [3]int64) error {
	rs := c.rs
	s := c.s
	P := s - e.step
	dt := ref - e.ref
	q := w.next - int(e.lin[0])
	nq := int(n) * q
	// signatures and latest ends of the steps jumped over
	for j := int64(0); j < n*P; j++ {
		v := c.mx[e.step+j%P-c.s0] + (j/P+1)*dt
		c.setMx(s+j, v)
		rs.tr.Cycles = max(rs.tr.Cycles, v)
	}
	// the id fields the period rewrote move with it; the others (stale,
	// see buildKey) keep their command and its end time
	// commands older than the window (rs.base) go to the old table:
	// unchanged ones as they are, rewritten ones shifted
	next1 := int(e.lin[0])
	old := map[int]int64{}
	i := 0
	var bad error
	c.ids(w, func(id *int) {
		v := *id
		if v < 0 {
			i++
			return
		}
		end, ok := rs.endOf(v)
		switch {
		case !ok:
			bad = fmt.Errorf("replay compression: command %d (id field %d) has no end time", v, i)
		case v == e.raw[i]:
			old[v] = end
		case v < next1:
			bad = fmt.Errorf("replay compression: id field %d changed to %d, before the period's first command %d", i, v, next1)
		case v < rs.base:
			old[v+nq] = end + n*dt
		}
		i++
	})
	if bad != nil {
		return bad
	}
	// the window's commands that the period wrote move, shifted, to the
	// front of the same buffer
	lo := max(next1, rs.base)
	end := rs.end[:w.next-lo]
	copy(end, rs.end[lo-rs.base:])
	for i := range end {
		end[i] += n * dt
	}
	i = 0
	c.ids(w, func(id *int) {
		if *id >= 0 && *id != e.raw[i] {
			*id += nq
		}
		i++
	})
	rs.end, rs.base, rs.old = end, lo+nq, old
	// counters, accumulators and times
	cur := c.snapshot(w)
	i = 0
	c.linear(w, func(p *int) {
		*p += int(n * (cur[i] - e.lin[i]))
		i++
	}, func(p *int64) {
		*p += n * (cur[i] - e.lin[i])
		i++
	})
	c.s = s + n*P
	*b, *idx = nb, nidx
	w.b, w.idx3 = pb, pidx
	c.jumps++
	c.skipped += n * P
	if rs.end == nil || rs.base > w.next {
		return fmt.Errorf("replay compression: command window starts at %d after command %d", rs.base, w.next)
	}
	return nil
}

// ReplayWithin is Replay with a cutoff: when limit > 0 it stops with
// ErrExceeds as soon as compute tile 0's fabric, given the matmul work it has
// left, cannot finish (plus the final move_out and store latencies) before
// limit. The search uses it to drop a losing candidate early. Long streams
// are replayed compressed (see above): the trace is exactly the full
// replay's.
func ReplayWithin(ctx context.Context, p Problem, m model.Mapping, cfg *kpu.Config, limit int64) (*Trace, error) {
	tr, _, err := replayCompressed(ctx, p, m, cfg, limit, &defaultCompress)
	return tr, err
}

// replayCompressed is ReplayWithin, compressed within limits lim (nil: not
// compressed); it also returns the L3 steps jumped over.
func replayCompressed(ctx context.Context, p Problem, m model.Mapping, cfg *kpu.Config, limit int64, lim *compressLimits) (*Trace, int64, error) {
	return replayCompressedOf(ctx, p, m, cfg, limit, lim, false)
}

// replayCompressedOf is replayCompressed of the whole stream or, with
// tile0Only, of its DMA commands and compute tile 0's (relaxed.go). The
// cutoff's figures (DMA work, tile 0's fabric, the single-buffer chains)
// are the same in both streams.
func replayCompressedOf(ctx context.Context, p Problem, m model.Mapping, cfg *kpu.Config, limit int64, lim *compressLimits, tile0Only bool) (*Trace, int64, error) {
	rs := &replayState{tr: &Trace{}}
	var epi int64
	if limit > 0 {
		g, est, err := quickGeom(p, m, cfg)
		if err != nil {
			return nil, 0, err
		}
		rs.chains = newChainCut(g, &est)
		if est.LowerCycles >= limit {
			return nil, 0, ErrExceeds
		}
		rs.fabricLeft = est.FabricBusy
		epi = max(cfg.TransferLatency(kpu.BlockMover)+cfg.TransferLatency(kpu.DMA)+2, est.FinalMove+est.Tail)
		rs.stallLeft = est.Stall
		rs.dmaLeft = est.DMABusy
	}
	nd := int64(cfg.DMAEngines)
	nEng := cfg.DMAEngines + cfg.BlockMovers + cfg.Streamers + 2*cfg.ComputeTiles
	rs.free = make([]int64, nEng)
	rs.busy = make([]int64, nEng)
	endp := endPool.Get().(*[]int64)
	rs.end = (*endp)[:0]
	defer func() { *endp = rs.end[:0]; endPool.Put(endp) }()
	tr := rs.tr
	e, ea := p.ElemBytes(), p.AccBytes()
	cutoff := func() error {
		if ceilDiv(rs.dmaFree+rs.dmaLeft, nd) >= limit {
			return ErrExceeds
		}
		if rs.fabricFree > 0 && rs.fabricFree+rs.fabricLeft+max(rs.stallLeft, 0)+epi >= limit {
			return ErrExceeds
		}
		return nil
	}
	var hook func(*walker, *int64, *[3]int64) error
	cp := &compressor{rs: rs}
	if lim != nil {
		cp.lim = *lim
		hook = func(w *walker, b *int64, idx *[3]int64) error {
			j := cp.jumps
			if err := cp.skip(w, b, idx); err != nil {
				return err
			}
			if limit > 0 && cp.jumps > j {
				// the cutoff's figures only grow: check them where the
				// full replay would have
				return cutoff()
			}
			return nil
		}
	}
	w, err := newWalker(ctx, p, m, cfg, nil, hook, func(c *Cmd) error {
		start := rs.free[c.flat]
		for _, d := range c.Deps {
			if d >= c.ID {
				return fmt.Errorf("command %d depends on later command %d", c.ID, d)
			}
			v, ok := int64(0), true
			if d >= rs.base {
				v = rs.end[d-rs.base]
			} else {
				v, ok = rs.old[d]
			}
			if !ok {
				return fmt.Errorf("command %d depends on command %d, dropped by the replay's compression", c.ID, d)
			}
			if v > start {
				start = v
			}
		}
		fin := start + c.Cycles
		if limit > 0 && c.Engine.Kind == kpu.DMA {
			rs.dmaFree += fin - rs.free[c.flat]
			rs.dmaLeft -= c.Cycles
			if ceilDiv(rs.dmaFree+rs.dmaLeft, nd) >= limit {
				return ErrExceeds
			}
		}
		if limit > 0 && rs.chains.reaches(c, fin, limit) {
			return ErrExceeds
		}
		rs.free[c.flat] = fin
		rs.busy[c.flat] += c.Cycles
		rs.end = append(rs.end, fin)
		rs.count++
		if fin > tr.Cycles {
			tr.Cycles = fin
		}
		if fin > rs.stepMax {
			rs.stepMax = fin
		}
		tr.Bytes.account(c, e, ea)
		if c.Kind == CmdMatMul {
			tr.Bytes.L1Read += fabricRereads(cfg, c.Block.Rows, c.Block.Cols, c.KLen, e)
			tr.MACs += c.Block.Rows * c.Block.Cols * c.KLen
			if limit > 0 && c.Tile == 0 {
				rs.fabricLeft -= c.Cycles
				rs.stallLeft -= start - rs.fabricFree
				rs.fabricFree = fin
				if fin+rs.fabricLeft+max(rs.stallLeft, 0)+epi >= limit {
					return ErrExceeds
				}
			}
		}
		return nil
	})
	if err == nil {
		w.tile0Only = tile0Only
		err = w.run()
	}
	if err != nil {
		return nil, cp.skipped, err
	}
	tr.Commands = int(rs.count)
	kinds := []kpu.EngineKind{kpu.DMA, kpu.BlockMover, kpu.Streamer, kpu.Fabric, kpu.Vector}
	i := 0
	for _, k := range kinds {
		for j := 0; j < cfg.EngineCount(k); j++ {
			if rs.busy[i] > 0 {
				tr.Busy = append(tr.Busy, EngineBusy{Engine: kpu.Engine{Kind: k, Index: j}, Cycles: rs.busy[i]})
			}
			i++
		}
	}
	return tr, cp.skipped, nil
}
