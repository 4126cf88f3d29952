package placer

import (
	"cmp"
	"context"
	"math"
	"slices"

	"github.com/stillwater-sc/kpuopt/constraints/alloc"
)

// The time sweep is the second engine of the portfolio (fit runs it in turns
// with the branch and bound, between its restarts). It places the buffers in the order
// of their start times: at each time point, the buffers that end there free
// their space, and the buffers that start there are put into the free space.
//
// Tight time points. Where the load of the section that starts at a time
// point equals the capacity, the starting buffers must tile the free space
// exactly, and every tiling puts some buffer at the lowest free address; so
// branching on which starting buffer goes there enumerates every placement.
// Where the section has slack, the sweep only tries the largest starting
// buffer at the bottom or the top of each free gap (best fit first), which
// is not complete: then a failed sweep proves nothing. When every time point
// at which buffers start is tight, the sweep is complete (complete; the tests
// hold it to that), but fit still never takes its failure as a proof.
//
// Forward check. At each time point, and after each placement for the
// section where the placed buffer ends (see check), the free gaps left by
// the placed buffers live in a section must hold the unplaced buffers live
// there: the largest must fit the largest gap, and each gap of size g must
// be fillable to within the section's slack: some subset of the unplaced
// sizes must sum into [g - slack, g] (a subset-sum bitset over the sizes
// in units of their gcd). This sees early that a choice fragments the memory
// so that a buffer starting later has no room. Two more checks: a run of placed
// buffers that end together, closed on both sides by placed buffers that
// live on, must be refilled by a subset of the buffers that start then
// (closedRuns); and a placed buffer that must touch a partner (partners)
// still has one right below or above it, or room for one (endSides).
//
// Failed states are remembered (see key), and buffers that start and end
// together are stacked in one order only. The search is deterministic; fit
// runs it as a coroutine beside the branch and bound (sweepCo).
type sweeper struct {
	ctx    context.Context
	orig   []int // search index -> problem index (buffers of non-zero size)
	lo, hi []int32
	size   []int64
	align  []int64
	nsec   int
	starts [][]int32 // per section, the buffers starting at its left end, largest first
	liveIn [][]int32 // per section, the buffers live in it
	load   []int64   // per section, the total size live in it
	unit   int64     // gcd of the sizes and the capacity, for subset sums (0: off)

	capac    int64
	complete bool // every time point where buffers start is tight
	placed   []bool
	off      []int64
	live     []int32 // placed buffers live at the current time, by offset
	nodes    int64
	abort    bool
	failed   map[[2]uint64]struct{}
	bits     []uint64   // scratch: subset sums
	nbits    [][]uint64 // per section, subset sums of the sizes starting there
	// needEnd[k]: buffer k must touch (in its last section) another buffer
	// that ends with it; needStart[k]: it must touch (in its first section)
	// another buffer that starts with it. See partners.
	needEnd, needStart []bool
	mates              [][]int32          // for needEnd: the buffers that end with it
	mateReach          []int64            // for needEnd: the largest size among mates
	tried              []int32            // scratch: candidates (a stack)
	items              []int32            // scratch (checkSection): unplaced buffers
	gaps               []int64            // scratch (checkSection): free gaps
	units              []int64            // per buffer, its size in units (when unit > 0)
	laterCache         map[int]*laterSums // per (ti, t), see later; cleared by reset
	deepest            int                // the latest time point any run has reached
	work               int64              // sections checked (the cost of the search)
	co                 *sweepCo
	pauseWork          int64 // under a coroutine: pause when work reaches this
	found              bool  // under a coroutine: the search found a placement
	// halted, when set, replaces the plain context check (the branch and
	// bound's, see bnb.halted).
	halted func() bool
}

func newSweeper(ctx context.Context, p *alloc.Problem) *sweeper {
	w := &sweeper{ctx: ctx}
	sec := sectionsOf(p)
	w.orig, w.nsec = sec.orig, sec.nsec
	w.lo, w.hi, w.size, w.align = sec.lo, sec.hi, sec.size, sec.align
	n := len(w.orig)
	w.starts = make([][]int32, w.nsec+1)
	w.liveIn = make([][]int32, w.nsec)
	w.load = make([]int64, w.nsec)
	for k, i := range w.orig {
		b := p.Buffers[i]
		w.starts[w.lo[k]] = append(w.starts[w.lo[k]], int32(k))
		for t := w.lo[k]; t < w.hi[k]; t++ {
			w.liveIn[t] = append(w.liveIn[t], int32(k))
			w.load[t] += b.Size
		}
	}
	for _, st := range w.starts {
		slices.SortStableFunc(st, func(a, b int32) int {
			if c := cmp.Compare(w.size[b], w.size[a]); c != 0 {
				return c
			}
			return cmp.Compare(w.hi[a], w.hi[b])
		})
	}
	w.placed = make([]bool, n)
	w.off = make([]int64, n)
	w.failed = map[[2]uint64]struct{}{}
	return w
}

// maxSubsetBits bounds the subset-sum bitset (capacity / unit + 1 bits).
const maxSubsetBits = 1 << 15

// reset prepares a search for capacity c, forgetting earlier failures.
func (w *sweeper) reset(c int64) {
	w.capac = c
	w.work, w.deepest = 0, 0
	clear(w.failed)
	w.laterCache = map[int]*laterSums{}
	w.complete = true
	for t, st := range w.starts[:w.nsec] {
		if len(st) > 0 && w.load[t] != c {
			w.complete = false
		}
	}
	w.unit = c
	for _, s := range w.size {
		w.unit = gcd(w.unit, s)
	}
	if w.unit <= 0 || c/w.unit+1 > maxSubsetBits {
		w.unit = 0
		w.needEnd, w.needStart = nil, nil
	} else {
		w.units = make([]int64, len(w.size))
		for k, s := range w.size {
			w.units[k] = s / w.unit
		}
		words := int((c/w.unit)/64 + 1)
		w.bits = make([]uint64, words)
		// Per section, the subset sums of the sizes that start there.
		w.nbits = make([][]uint64, w.nsec)
		for t := range w.nbits {
			b := make([]uint64, words)
			b[0] = 1
			top := 0
			for _, k := range w.starts[t] {
				if w.size[k] > c {
					continue
				}
				top = min(top+int(w.size[k]/w.unit), words*64-1)
				shiftOr(b, int(w.size[k]/w.unit), top/64)
			}
			w.nbits[t] = b
		}
		w.partners(c, words)
	}
}

// stopped reports whether the search must stop.
func (w *sweeper) stopped() bool {
	if w.halted != nil {
		return w.halted()
	}
	return w.ctx.Err() != nil
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// run searches for a placement (then w.off holds it). After a false return,
// w.abort reports a cancelled context or a stop (sweepCo).
func (w *sweeper) run() bool {
	w.abort = false
	for k := range w.placed {
		w.placed[k] = false
	}
	w.live = w.live[:0]
	return w.step(0)
}

// step processes time point ti: buffers ending there leave, buffers starting
// there are placed, then the sweep moves on. On failure the state is as on
// entry.
func (w *sweeper) step(ti int) bool {
	if ti >= w.nsec {
		return true
	}
	w.deepest = max(w.deepest, ti)
	gone := w.leave(ti)
	restore := func() {
		for _, k := range gone {
			w.insert(k)
		}
	}
	key := w.key(ti)
	if _, seen := w.failed[key]; seen {
		restore()
		return false
	}
	if w.check(ti, ti) && w.fill(ti) {
		return true
	}
	if !w.abort {
		w.failed[key] = struct{}{}
	}
	restore()
	return false
}

// leave takes the buffers that end at or before time point ti out of the
// live set (kept in offset order) and returns them.
func (w *sweeper) leave(ti int) (gone []int32) {
	keep := w.live[:0]
	for _, k := range w.live {
		if int(w.hi[k]) <= ti {
			gone = append(gone, k)
		} else {
			keep = append(keep, k)
		}
	}
	w.live = keep
	return gone
}

// key hashes the state at the start of time point ti: the point and the
// space the live buffers hold with the times they free it. Which buffer holds
// which part does not matter to what follows (all buffers that start before
// ti are placed, the others are not), so adjacent live buffers that end at the
// same time are hashed as one segment: states that differ only by the order
// of such buffers share their memo entry.
func (w *sweeper) key(ti int) [2]uint64 {
	const m1, m2 = 0x9e3779b97f4a7c15, 0xc2b2ae3d27d4eb4f
	h1, h2 := uint64(ti)*m1, uint64(ti)*m2+1
	mix := func(v uint64) {
		h1 = (h1 ^ v) * m1
		h1 ^= h1 >> 31
		h2 = (h2 + v) * m2
		h2 ^= h2 >> 29
	}
	segLo, segHi, segEnd := int64(-1), int64(-1), int32(-1)
	for _, k := range w.live {
		if w.off[k] == segHi && w.hi[k] == segEnd {
			segHi += w.size[k]
			continue
		}
		if segLo >= 0 {
			mix(uint64(segLo))
			mix(uint64(segHi))
			mix(uint64(segEnd))
		}
		segLo, segHi, segEnd = w.off[k], w.off[k]+w.size[k], w.hi[k]
	}
	if segLo >= 0 {
		mix(uint64(segLo))
		mix(uint64(segHi))
		mix(uint64(segEnd))
	}
	return [2]uint64{h1, h2}
}

func (w *sweeper) insert(k int32) {
	i, _ := slices.BinarySearchFunc(w.live, w.off[k], func(j int32, o int64) int { return cmp.Compare(w.off[j], o) })
	w.live = slices.Insert(w.live, i, k)
}

func (w *sweeper) remove(k int32) {
	i := slices.Index(w.live, k)
	w.live = slices.Delete(w.live, i, i+1)
}

func (w *sweeper) place(k int32, o int64) {
	w.placed[k] = true
	w.off[k] = o
	w.insert(k)
}

func (w *sweeper) unplace(k int32) {
	w.placed[k] = false
	w.remove(k)
}

// fill places the buffers that start at time point ti, then steps on.
func (w *sweeper) fill(ti int) bool {
	w.nodes++
	if w.co != nil && w.work >= w.pauseWork {
		w.co.pause()
	}
	if w.nodes&255 == 0 && w.stopped() {
		w.abort = true
	}
	if w.abort {
		return false
	}
	var need, used int64
	for _, k := range w.starts[ti] {
		if !w.placed[k] {
			need += w.size[k]
		}
	}
	if need == 0 {
		return w.step(ti + 1)
	}
	for _, k := range w.live {
		used += w.size[k]
	}
	base := len(w.tried)
	defer func() { w.tried = w.tried[:base] }()
	if used+need == w.capac {
		return w.fillTight(ti)
	}
	return w.fillSlack(ti)
}

// fillTight: the free space must be tiled exactly; branch on which starting
// buffer sits at the lowest free address.
func (w *sweeper) fillTight(ti int) bool {
	p, g1 := int64(0), w.capac
	below, above := int32(-1), int32(-1)
	for i, k := range w.live {
		if w.off[k] > p {
			g1, above = w.off[k], k
			break
		}
		p, below = w.off[k]+w.size[k], k
		if i == len(w.live)-1 {
			g1, above = w.capac, -1
		}
	}
	if p >= w.capac {
		return false
	}
	base := len(w.tried)
	type scored struct {
		k     int32
		score int64
	}
	var cands []scored
	for _, k := range w.starts[ti] {
		if w.placed[k] || w.size[k] > g1-p || p%w.align[k] != 0 {
			continue
		}
		// Symmetry: two buffers that start and end together and sit one
		// on the other hold the same space either way round (see key), so
		// only the order with the lower index below is tried.
		if below >= 0 && w.lo[below] == int32(ti) && w.hi[below] == w.hi[k] && below > k {
			continue
		}
		dup := false
		for _, j := range w.tried[base:] {
			if w.size[j] == w.size[k] && w.hi[j] == w.hi[k] && w.align[j] == w.align[k] {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		w.tried = append(w.tried, k)
		var sc int64
		if w.size[k] == g1-p {
			sc += 2
			if above >= 0 && w.hi[above] == w.hi[k] {
				sc++
			}
		}
		if below >= 0 && w.hi[below] == w.hi[k] {
			sc++
		}
		cands = append(cands, scored{k, sc*scoreUnit + min(w.size[k], scoreUnit-1)})
	}
	slices.SortStableFunc(cands, func(a, b scored) int { return cmp.Compare(b.score, a.score) })
	for _, c := range cands {
		// A buffer that must touch another one starting with it (needStart)
		// cannot fill the gap up to a buffer already there when the one
		// below it did not start with it either.
		if w.needStart != nil && w.needStart[c.k] && w.size[c.k] == g1-p &&
			(below < 0 || w.lo[below] != w.lo[c.k]) {
			continue
		}
		w.place(c.k, p)
		if w.touching(c.k) && w.check(ti, int(w.hi[c.k])) && w.fill(ti) {
			return true
		}
		w.unplace(c.k)
		if w.abort {
			return false
		}
	}
	return false
}

// fillSlack: the largest starting buffer goes at the bottom or the top of a
// free gap, tightest gap first (not complete).
func (w *sweeper) fillSlack(ti int) bool {
	var k int32 = -1
	for _, j := range w.starts[ti] {
		if !w.placed[j] {
			k = j
			break
		}
	}
	a, sz := w.align[k], w.size[k]
	type pos struct{ off, waste int64 }
	var ps []pos
	prev := int64(0)
	for i := 0; i <= len(w.live); i++ {
		g1 := w.capac
		if i < len(w.live) {
			g1 = w.off[w.live[i]]
		}
		g0 := prev
		if i < len(w.live) {
			prev = max(prev, w.off[w.live[i]]+w.size[w.live[i]])
		}
		bot := alignUp(g0, a)
		if bot+sz > g1 {
			continue
		}
		top := (g1 - sz) / a * a
		ps = append(ps, pos{bot, g1 - g0 - sz})
		if top != bot {
			ps = append(ps, pos{top, g1 - g0 - sz})
		}
	}
	slices.SortStableFunc(ps, func(x, y pos) int { return cmp.Compare(x.waste, y.waste) })
	for _, q := range ps {
		w.place(k, q.off)
		if w.touching(k) && w.check(ti, int(w.hi[k])) && w.fill(ti) {
			return true
		}
		w.unplace(k)
		if w.abort {
			return false
		}
	}
	return false
}

// check runs the forward check on section t (at most the last one). step
// checks the section that starts at its time point; after a placement, fill
// checks the section where the placed buffer has just ended, in which the
// space it leaves must be refilled by the buffers that start then (closedRuns)
// and the unplaced buffers live there must still fit. The sections inside
// its lifetime are checked as the sweep reaches them. Checking them at every
// placement as well (the next 16 and the last, as the sweep once did) took
// 8-12 section checks per node instead of one, about four to five times the
// time per node, for 1-5% fewer nodes (docs/alloc.md).
func (w *sweeper) check(ti, t int) bool {
	return w.checkSection(ti, min(t, w.nsec-1))
}

// checkSection: the unplaced buffers live in section t must fit the gaps
// the placed ones leave there (see the type's comment).
func (w *sweeper) checkSection(ti, t int) bool {
	w.work++
	// The unplaced buffers live in t are those that start after ti (see
	// later) and those that start at ti and are not placed yet.
	later := w.later(ti, t)
	maxItem, n := later.maxItem, later.n
	extra := w.items[:0]
	for _, k := range w.starts[ti] {
		if !w.placed[k] && int(w.hi[k]) > t {
			maxItem = max(maxItem, w.size[k])
			extra = append(extra, k)
		}
	}
	w.items = extra
	if n+len(extra) == 0 {
		return true
	}
	slack := w.capac - w.load[t]
	if slack < 0 {
		return false
	}
	// Gaps between the placed buffers live in t (w.live is in offset order
	// and holds every placed buffer live at the current time, which covers
	// those live in t).
	var maxGap int64
	prev := int64(0)
	gaps := w.gaps[:0] // from the bottom up, the last one up to C
	for _, k := range w.live {
		if int(w.hi[k]) <= t || int(w.lo[k]) > t {
			continue
		}
		gaps = append(gaps, w.off[k]-prev)
		maxGap = max(maxGap, w.off[k]-prev)
		prev = max(prev, w.off[k]+w.size[k])
	}
	gaps = append(gaps, w.capac-prev)
	w.gaps = gaps
	maxGap = max(maxGap, w.capac-prev)
	if maxItem > maxGap {
		return false
	}
	if w.unit == 0 {
		return true
	}
	// Runs of adjacent placed buffers that end at t, closed on both sides by
	// placed buffers live in t (or by 0 and C): at t only the buffers that
	// start at t can use that space (a buffer that started earlier was live
	// together with those in the run), so some of them must fill it.
	if t > 0 && !w.closedRuns(t, slack) {
		return false
	}
	// Subset sums of the unplaced sizes, in units.
	bits := w.bits
	copy(bits, later.bits)
	top := later.top // highest reachable sum so far, in units
	for _, k := range extra {
		s := int(w.units[k])
		top = min(top+s, len(bits)*64-1)
		shiftOr(bits, s, top/64)
	}
	for _, g := range gaps {
		if g <= 0 {
			continue
		}
		lo := max(0, g-slack)
		if !anyBit(bits, (lo+w.unit-1)/w.unit, g/w.unit) {
			return false
		}
	}
	return true
}

// laterSums describes the buffers live in section t that start after time
// point ti: while the sweep is at ti, none of them is placed, so their
// largest size, count and subset sums (in units; nil without) depend on
// (ti, t) alone and are computed once (see later).
type laterSums struct {
	maxItem int64
	n       int
	top     int // highest sum reachable, in units
	bits    []uint64
}

// later returns the laterSums of (ti, t), t >= ti, from the cache.
func (w *sweeper) later(ti, t int) *laterSums {
	key := ti*w.nsec + t
	if c := w.laterCache[key]; c != nil {
		return c
	}
	c := &laterSums{}
	if w.unit > 0 {
		c.bits = make([]uint64, len(w.bits))
		c.bits[0] = 1
	}
	for _, k := range w.liveIn[t] {
		if int(w.lo[k]) <= ti {
			continue
		}
		c.maxItem = max(c.maxItem, w.size[k])
		c.n++
		if c.bits != nil {
			s := int(w.units[k])
			c.top = min(c.top+s, len(c.bits)*64-1)
			shiftOr(c.bits, s, c.top/64)
		}
	}
	w.laterCache[key] = c
	return c
}

// shiftOr sets bits |= bits << s, for the words up to hiWord.
func shiftOr(bits []uint64, s, hiWord int) {
	ws, bs := s/64, uint(s%64)
	for i := hiWord; i >= ws; i-- {
		v := bits[i-ws] << bs
		if bs != 0 && i-ws-1 >= 0 {
			v |= bits[i-ws-1] >> (64 - bs)
		}
		bits[i] |= v
	}
}

// anyBit reports whether a bit in [a, b] is set.
func anyBit(bits []uint64, a, b int64) bool {
	if b >= int64(len(bits))*64 {
		b = int64(len(bits))*64 - 1
	}
	for i := a; i <= b; i++ {
		if i%64 == 0 && i+63 <= b {
			if bits[i/64] != 0 {
				return true
			}
			i += 63
			continue
		}
		if bits[i/64]>>(uint(i)%64)&1 != 0 {
			return true
		}
	}
	return false
}

// closedRuns checks section t's closed runs of placed buffers that end at t
// (see checkSection) against the subset sums of the sizes starting at t.
func (w *sweeper) closedRuns(t int, slack int64) bool {
	const (
		free    = iota // nothing placed here yet: unknown
		ended          // a placed buffer that ends exactly at t
		blocked        // a placed buffer live in t
	)
	bits := w.nbits[t]
	prevKind, prevEnd := blocked, int64(0) // address 0 closes like a wall
	var runStart int64 = -1
	closeRun := func(end int64) bool {
		g := end - runStart
		lo := max(0, g-slack)
		return anyBit(bits, (lo+w.unit-1)/w.unit, g/w.unit)
	}
	for _, k := range w.live {
		h := int(w.hi[k])
		if h < t {
			continue // ended before t: its space is unknown at t
		}
		kind := blocked
		if h == t {
			kind = ended
		}
		adjacent := w.off[k] == prevEnd
		if !adjacent {
			prevKind = free
			runStart = -1
		}
		switch {
		case kind == ended && runStart < 0 && prevKind == blocked:
			runStart = w.off[k]
		case kind == ended:
			// continues a run, or starts an open one (after free space)
		case kind == blocked && runStart >= 0:
			if !closeRun(w.off[k]) {
				return false
			}
			runStart = -1
		}
		prevKind, prevEnd = kind, w.off[k]+w.size[k]
	}
	if runStart >= 0 && prevEnd == w.capac {
		return closeRun(w.capac)
	}
	return true
}

// partners derives the flags needEnd and needStart for capacity c. Take a
// time point t where the sections on both sides are full (load == c). The
// space that the buffers ending at t (E) free is exactly the space that the
// buffers starting at t (N) take: nothing else is free, and nothing else may
// go there. So the free space that one e in E leaves is covered by buffers of
// N, which, unless some of them sum to exactly e's size, reach past e into the
// space of a neighbour, which must then be in E too: e touches another buffer
// of E. The same holds with the roles of E and N exchanged.
func (w *sweeper) partners(c int64, words int) {
	n := len(w.orig)
	w.needEnd, w.needStart = make([]bool, n), make([]bool, n)
	w.mates = make([][]int32, n)
	w.mateReach = make([]int64, n)
	ends := make([][]int32, w.nsec+1)
	for k := range w.orig {
		ends[w.hi[k]] = append(ends[w.hi[k]], int32(k))
	}
	ebits := make([]uint64, words)
	for t := 1; t < w.nsec; t++ {
		if w.load[t-1] != c || w.load[t] != c || len(ends[t]) < 2 && len(w.starts[t]) < 2 {
			continue
		}
		clear(ebits)
		ebits[0] = 1
		top := 0
		for _, k := range ends[t] {
			top = min(top+int(w.size[k]/w.unit), words*64-1)
			shiftOr(ebits, int(w.size[k]/w.unit), top/64)
		}
		for _, k := range ends[t] {
			if len(ends[t]) > 1 && w.size[k]%w.unit == 0 && !anyBit(w.nbits[t], w.size[k]/w.unit, w.size[k]/w.unit) {
				w.needEnd[k] = true
				for _, q := range ends[t] {
					if q != k {
						w.mates[k] = append(w.mates[k], q)
						w.mateReach[k] = max(w.mateReach[k], w.size[q])
					}
				}
			}
		}
		for _, k := range w.starts[t] {
			if len(w.starts[t]) > 1 && w.size[k]%w.unit == 0 && !anyBit(ebits, w.size[k]/w.unit, w.size[k]/w.unit) {
				w.needStart[k] = true
			}
		}
	}
}

// endSides checks placed buffer e's need for a touching buffer that ends with
// it (needEnd): some such partner must be placed right below or right above
// it, or be unplaced and still fit there (no placed buffer in the way during
// its lifetime).
func (w *sweeper) endSides(e int32) bool {
	if !w.needEnd[e] {
		return true
	}
	for _, q := range w.mates[e] {
		if w.placed[q] {
			if w.off[q]+w.size[q] == w.off[e] || w.off[q] == w.off[e]+w.size[e] {
				return true
			}
			continue
		}
		if w.fits(q, w.off[e]+w.size[e]) || w.fits(q, w.off[e]-w.size[q]) {
			return true
		}
	}
	return false
}

// fits reports whether unplaced buffer q could still go at offset o: inside
// the capacity, aligned, and clear of every placed buffer live with it (all
// of which are in w.live, since q starts at the current time or later).
func (w *sweeper) fits(q int32, o int64) bool {
	if o < 0 || o+w.size[q] > w.capac || o%w.align[q] != 0 {
		return false
	}
	// The live buffers are disjoint and in offset order, so their ends are
	// in order too: start at the first one that ends above o.
	i, _ := slices.BinarySearchFunc(w.live, o+1, func(y int32, v int64) int { return cmp.Compare(w.off[y]+w.size[y], v) })
	for _, y := range w.live[i:] {
		if w.off[y] >= o+w.size[q] {
			break
		}
		if w.hi[y] > w.lo[q] {
			return false
		}
	}
	return true
}

// touching checks endSides for k and for every placed buffer live now that
// placing k may have hurt: one that k could be a partner of (it ends with k),
// or whose partners' possible places (right below or right above it,
// mateReach bytes at most) k's addresses meet. The others passed when they or
// the latest buffer were placed, and nothing has happened since that could
// change their answer (buffers that leave only make room, and a partner
// placed next to one stays there).
func (w *sweeper) touching(k int32) bool {
	if w.needEnd == nil {
		return true
	}
	if !w.endSides(k) {
		return false
	}
	lo, hi := w.off[k], w.off[k]+w.size[k]
	for _, e := range w.live {
		if e == k || !w.needEnd[e] {
			continue
		}
		if w.hi[e] != w.hi[k] && (hi <= w.off[e]-w.mateReach[e] || w.off[e]+w.size[e]+w.mateReach[e] <= lo) {
			continue
		}
		if !w.endSides(e) {
			return false
		}
	}
	return true
}

// sweepCo runs a sweeper's search as a coroutine: step lets it work until
// its work count grows by a given amount, then it pauses inside the search
// and control returns; stop makes it unwind and end. Exactly one of the
// caller and the search runs at any moment (unbuffered channels hand control
// over), so the result does not depend on scheduling.
type sweepCo struct {
	w      *sweeper
	resume chan int64 // allowance of work, or -1: stop
	yield  chan bool  // true: the search has ended (see w.found)
}

func startSweep(w *sweeper) *sweepCo {
	co := &sweepCo{w: w, resume: make(chan int64), yield: make(chan bool)}
	w.co = co
	go func() {
		allow := <-co.resume
		if allow < 0 {
			w.co = nil
			co.yield <- true
			return
		}
		w.pauseWork = w.work + allow
		w.found = w.run()
		w.co = nil
		co.yield <- true
	}()
	return co
}

// step lets the search work for allow more units; it reports whether the
// search has ended.
func (co *sweepCo) step(allow int64) bool {
	co.resume <- max(1, allow)
	return <-co.yield
}

// pause is called by the search: it hands control back and waits for the
// next step (or for stop, which aborts the search).
func (co *sweepCo) pause() {
	co.yield <- false
	allow := <-co.resume
	if allow < 0 {
		co.w.abort = true
		co.w.pauseWork = math.MaxInt64
		return
	}
	co.w.pauseWork = co.w.work + allow
}

// stop ends a paused (or not yet started) search and waits for it.
func (co *sweepCo) stop() {
	co.resume <- -1
	<-co.yield
}
