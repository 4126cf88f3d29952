package placer

import (
	"cmp"
	"context"
	"math/bits"
	"math/rand/v2"
	"slices"

	"github.com/stillwater-sc/kpuopt/constraints/alloc"
)

// The exact search decides whether the buffers fit in a capacity C.
//
// Canonical solutions. Take any legal placement and repeatedly move a buffer
// down to the lowest aligned offset at or above the ends of the buffers below
// it that are live at the same time; this terminates and stays legal. In the
// result every buffer b sits at alignUp(max end of the overlapping buffers
// below b, align(b)), or at 0. Place the buffers in non-decreasing offset
// order: when b's turn comes, exactly the buffers below it are placed, so its
// offset is alignUp(maxTop(b)), where top[s] is the highest end of a placed
// buffer in time section s (sections are the intervals between consecutive
// lifetime endpoints). The search enumerates exactly these orders.
//
// Levels and sections. The search sweeps a level L upwards through the offsets
// at which something can start. At level L it picks one open section s (a
// section with unplaced buffers, top[s] <= L, and not closed at L) and
// branches: either some buffer live in s starts at L (one branch per buffer b
// with alignUp(maxTop(b)) == L), or none does, and s is closed at L. A
// section with no such buffer is closed without branching. Once no section is
// open, L moves to the smallest alignUp(maxTop(b)) > L over unplaced buffers,
// which is the next offset any canonical solution can use.
//
// Pruning. Every unplaced buffer has a lowest possible offset: the aligned
// highest end of the placed buffers in its lifetime, or the next height
// above L when it cannot start at L (a section of it is closed at L, or it
// waits for an interchangeable twin). In each section, for every height h,
// the unplaced buffers that cannot start below h must fit between h and C
// (bound). At the root this is the classic peak-load bound; in a fully
// loaded section it makes any waste fail at once. Buffers whose lower bound
// excludes L are not candidates at L. Buffers with identical lifetime, size
// and alignment are placed in index order only (symmetry breaking).
//
// The tight sections must also be covered by top-most buffers (ceiling).
//
// Beyond plain backtracking: a time boundary no unplaced buffer crosses
// splits the problem into parts solved one after the other (split); failed
// parts are remembered (key, failed); and the search restarts with growing
// node budgets and varied candidate orders (fit). Parts are solved smallest
// first (orderParts).
type bnb struct {
	ctx context.Context

	// Static data over the n buffers of non-zero size ("search indices").
	orig    []int // search index -> problem index
	sLo     []int32
	sHi     []int32 // buffer k is live in sections [sLo[k], sHi[k])
	size    []int64
	align   []int64
	twin    []int32   // previous interchangeable buffer, or -1
	live    [][]int32 // per section, the buffers live in it, preferred first
	startAt [][]int32 // per section, the buffers whose lifetime starts in it
	mates   [][]int32 // per buffer, the equal-size buffers adjacent to it in time
	nsec    int

	prob    *alloc.Problem
	sweep   *sweeper // the time sweep, run between restarts (see fit)
	foundBy string   // the engine that found the last placement
	// useGuil: run the guillotine search between restarts too (the race
	// sets it on both of its searches); guil is it for the current
	// capacity (nil: it does not apply), guilFit its nodes in this fit.
	useGuil bool
	guil    *guillotine
	guilFit int64

	// Partner rules (partnerRules): the flags for the current capacity (nil:
	// none), and per section the level at which the next buffer must end
	// (reqEndHi) or start (reqStartLo) at a given section boundary.
	pEnd, pStart           []bool
	reqEndLvl, reqStartLvl []int64
	reqEndHi, reqStartLo   []int32
	reqTrail               []int64
	flagSec                []bool // sections the partner rules look at (key)

	// Search state.
	capac  int64
	nodes  int64
	abort  bool
	placed []bool
	off    []int64
	top    []int64 // per section: highest end of a placed buffer
	topBuf []int32 // per section: the placed buffer that ends at top (-1: none)
	rem    []int64 // per section: total size of unplaced buffers
	// Per section, ul[t][:uln[t]] are the unplaced buffers live in t (in
	// no particular order); place swaps a buffer past the end, unplace
	// (strictly in reverse order) just extends the prefix again. upos holds
	// each buffer's index in ul[t], at uposBase[k]+t-sLo[k].
	ul       [][]int32
	uln      []int32
	upos     []int32
	uposBase []int32
	// ustart[t], uend[t]: how many unplaced buffers have sLo == t, sHi == t.
	// Where both are 0, sections t-1 and t hold the same unplaced buffers.
	ustart, uend []int32
	closed       []int64 // per section: level at which it is closed (notClosed: none)

	topTrail   []int64 // old tops and top buffers (pairs), pushed by place, popped by unplace
	closeTrail []int64 // (section, old closed level) pairs
	placeLog   []int32 // placed buffers in order, to unwind a failed conjunction
	lbv        []int64 // scratch: lower bounds of unplaced buffers
	isCand     []bool  // scratch: which buffers can start at the current level
	items      []item  // scratch for bound
	tight      []bool  // per section, no room for waste (bound; valid where !dirty)
	// dirty[t]: section t must be checked again by bound: since its last
	// check passed, a buffer live in it was placed or unplaced, or the
	// lower bound (lbv) of one of its unplaced buffers changed. Elsewhere
	// the last verdict (passed, and tight[t]) still holds.
	dirty []bool
	// Range table for the release heights (rangeTable): sp[j][i] is the
	// highest top of the 2^j sections from lo+i, cpre the prefix counts of
	// sections closed at the level. unplacedLife sums the lifetimes (in
	// sections) of the unplaced buffers.
	sp           [][]int64
	cpre         []int32
	unplacedLife int64
	// spLo, spHi: the sections the table covers; spOK: no buffer has been
	// placed or removed since it was built (so it still holds the tops).
	spLo, spHi int
	spOK       bool
	reach      []bool // scratch for ceiling
	cands      []cand // scratch for branching, used as a stack

	// Failed subproblems, keyed by a 128-bit hash of everything a subproblem
	// depends on (see key); cleared for every capacity.
	zob    []uint64 // random per buffer (two words per buffer)
	failed map[[2]uint64]struct{}

	// Restarts: each run tries candidates in its own order (valueOrders),
	// alternates the section rule (leftmost), and,
	// from the second round on, breaks ties at random and now and then
	// promotes a candidate by one point (bumpOdds); it gives up after
	// its node budget (limited), and the next run starts over, keeping the
	// proven failures. Budgets follow the Luby sequence, so they grow without
	// bound and the search stays complete.
	order     int
	leftmost  bool // branch on the leftmost open section, not the fewest-candidates one
	shuffle   *rand.Rand
	nodeLimit int64 // abort (limited = true) at this node count; 0: none
	limited   bool
	// fitBudget bounds the nodes of one fit call (0: none); a fit that
	// runs out returns false with abort and outOfBudget set.
	fitBudget   int64
	outOfBudget bool

	// Racing (see race): halt, when set, is asked every 256 nodes (of
	// either search) whether to give up; yes cancels ctx through cancel.
	// fitStart and sweepFit count the nodes at the start of the current fit
	// and the sweep nodes added since.
	halt     func() bool
	cancel   context.CancelFunc
	fitStart int64
	sweepFit int64
	ops      int64 // buffer-sections visited by the bound's passes (see work)
	fitOps   int64 // ops at the start of the current fit
}

const notClosed = -1

type item struct{ lb, size int64 }

// sections are the non-empty buffers of a problem on its time sections
// (the intervals between consecutive lifetime ends): buffer k is
// p.Buffers[orig[k]] and lives in sections [lo[k], hi[k]).
type sections struct {
	orig        []int
	lo, hi      []int32
	size, align []int64
	nsec        int
}

func sectionsOf(p *alloc.Problem) sections {
	var sec sections
	var times []int64
	for i, b := range p.Buffers {
		if b.Size == 0 {
			continue
		}
		sec.orig = append(sec.orig, i)
		times = append(times, b.Lower, b.Upper)
	}
	slices.Sort(times)
	times = slices.Compact(times)
	idx := func(t int64) int32 { i, _ := slices.BinarySearch(times, t); return int32(i) }
	if len(times) > 0 {
		sec.nsec = len(times) - 1
	}
	n := len(sec.orig)
	sec.lo, sec.hi = make([]int32, n), make([]int32, n)
	sec.size, sec.align = make([]int64, n), make([]int64, n)
	for k, i := range sec.orig {
		b := p.Buffers[i]
		sec.lo[k], sec.hi[k] = idx(b.Lower), idx(b.Upper)
		sec.size[k], sec.align[k] = b.Size, b.Align()
	}
	return sec
}

type cand struct {
	k     int32
	score int
}

func newBnb(ctx context.Context, p *alloc.Problem) *bnb {
	s := &bnb{ctx: ctx, prob: p}
	sec := sectionsOf(p)
	s.orig, s.nsec = sec.orig, sec.nsec
	s.sLo, s.sHi, s.size, s.align = sec.lo, sec.hi, sec.size, sec.align
	n := len(s.orig)
	s.twin = make([]int32, n)
	type key struct{ lo, hi, size, align int64 }
	last := map[key]int32{}
	for k, i := range s.orig {
		b := p.Buffers[i]
		kk := key{b.Lower, b.Upper, b.Size, b.Align()}
		if j, ok := last[kk]; ok {
			s.twin[k] = j
		} else {
			s.twin[k] = -1
		}
		last[kk] = int32(k)
	}
	// Preference: larger area first, then larger size, then index.
	order := make([]int32, n)
	for k := range order {
		order[k] = int32(k)
	}
	area := func(k int32) int64 { b := p.Buffers[s.orig[k]]; return b.Size * (b.Upper - b.Lower) }
	slices.SortStableFunc(order, func(a, b int32) int {
		if c := cmp.Compare(area(b), area(a)); c != 0 {
			return c
		}
		return cmp.Compare(s.size[b], s.size[a])
	})
	// Buffers of equal size that meet end to start in time: in a tight
	// packing they often continue one another at the same height.
	type edge struct {
		t    int32
		size int64
	}
	starts := map[edge][]int32{}
	for k := range s.orig {
		e := edge{s.sLo[k], s.size[k]}
		starts[e] = append(starts[e], int32(k))
	}
	s.mates = make([][]int32, n)
	for k := range s.orig {
		for _, j := range starts[edge{s.sHi[k], s.size[k]}] {
			s.mates[k] = append(s.mates[k], j)
			s.mates[j] = append(s.mates[j], int32(k))
		}
	}
	s.live = make([][]int32, s.nsec)
	s.startAt = make([][]int32, s.nsec)
	for _, k := range order {
		s.startAt[s.sLo[k]] = append(s.startAt[s.sLo[k]], k)
		for t := s.sLo[k]; t < s.sHi[k]; t++ {
			s.live[t] = append(s.live[t], k)
		}
	}
	s.ul = make([][]int32, s.nsec)
	s.uln = make([]int32, s.nsec)
	s.ustart = make([]int32, s.nsec+1)
	s.uend = make([]int32, s.nsec+1)
	s.uposBase = make([]int32, n)
	var total int32
	for k := range s.orig {
		s.uposBase[k] = total
		total += s.sHi[k] - s.sLo[k]
	}
	s.upos = make([]int32, total)
	for t := range s.ul {
		s.ul[t] = slices.Clone(s.live[t])
		for i, k := range s.ul[t] {
			s.upos[s.uposBase[k]+int32(t)-s.sLo[k]] = int32(i)
		}
	}
	s.placed = make([]bool, n)
	s.off = make([]int64, n)
	s.top = make([]int64, s.nsec)
	s.topBuf = make([]int32, s.nsec)
	s.rem = make([]int64, s.nsec)
	s.closed = make([]int64, s.nsec)
	s.lbv = make([]int64, n)
	s.isCand = make([]bool, n)
	s.tight = make([]bool, s.nsec)
	s.dirty = make([]bool, s.nsec)
	s.reach = make([]bool, s.nsec+1)
	rng := rand.New(rand.NewPCG(uint64(n), 0x9e3779b97f4a7c15))
	s.zob = make([]uint64, 2*n)
	for i := range s.zob {
		s.zob[i] = rng.Uint64()
	}
	s.failed = map[[2]uint64]struct{}{}
	return s
}

// fit searches for a placement within capacity c. It returns whether one was
// found (then offsets holds it, per problem buffer); s.abort tells whether a
// "not found" is a proof or a time-out.
func (s *bnb) fit(c int64, offsets []int64) bool {
	s.capac, s.abort = c, false
	if s.ctx.Err() != nil {
		s.abort = true
		return false
	}
	n := len(s.orig)
	for t := range s.top {
		s.dirty[t] = true
		s.top[t], s.rem[t], s.closed[t], s.topBuf[t] = 0, 0, notClosed, -1
		s.uln[t] = int32(len(s.ul[t]))
	}
	s.spOK = false
	clear(s.ustart)
	clear(s.uend)
	s.unplacedLife = 0
	for k := 0; k < n; k++ {
		s.placed[k] = false
		s.unplacedLife += int64(s.sHi[k] - s.sLo[k])
		s.ustart[s.sLo[k]]++
		s.uend[s.sHi[k]]++
		if s.size[k] > c {
			return false
		}
		for t := s.sLo[k]; t < s.sHi[k]; t++ {
			s.rem[t] += s.size[k]
		}
	}
	for t := range s.rem {
		if s.rem[t] > c {
			return false
		}
	}
	s.topTrail, s.closeTrail, s.placeLog = s.topTrail[:0], s.closeTrail[:0], s.placeLog[:0]
	clear(s.failed)
	if s.sweep == nil {
		s.sweep = newSweeper(s.ctx, s.prob)
	}
	s.sweep.ctx, s.sweep.halted = s.ctx, s.halted
	s.sweep.reset(c)
	s.fitStart, s.sweepFit, s.fitOps = s.nodes, 0, s.ops
	s.guil, s.guilFit = nil, 0
	if s.useGuil {
		s.guil = newGuillotine(s.ctx, s.prob, c)
		if s.guil != nil {
			s.guil.halted = s.halted
		}
	}
	s.pEnd, s.pStart = s.sweep.needEnd, s.sweep.needStart
	if s.pEnd != nil {
		s.reqEndLvl, s.reqStartLvl = make([]int64, s.nsec), make([]int64, s.nsec)
		s.reqEndHi, s.reqStartLo = make([]int32, s.nsec), make([]int32, s.nsec)
		for t := range s.reqEndLvl {
			s.reqEndLvl[t], s.reqStartLvl[t] = -1, -1
		}
	}
	s.reqTrail = s.reqTrail[:0]
	s.flagSec = nil
	if s.pEnd != nil {
		// The sections where the partner rules look (for the memo key).
		s.flagSec = make([]bool, s.nsec)
		for k := range s.orig {
			if s.pEnd[k] {
				s.flagSec[s.sHi[k]-1] = true
			}
			if s.pStart[k] {
				s.flagSec[s.sLo[k]] = true
			}
		}
	}
	sweepDone := false
	var bnbNodes int64
	var co *sweepCo
	defer func() {
		if co != nil {
			co.stop()
		}
	}()
	s.foundBy = "branch-and-bound"
	base := restartBase(n)
	startNodes := s.nodes
	s.outOfBudget = false
	for run := 0; ; run++ {
		// The budget counts the nodes of the branch and bound: the time
		// sweep and the guillotine search get their shares of those, and
		// their nodes, far cheaper, would use it up at once. (Where the
		// sweep is not complete, some time point having slack, its nodes
		// count too, as they always did: on the MiniMalloc files it then
		// mostly slows the probes down.)
		used := s.nodes - startNodes - s.guilFit
		if s.sweep.complete {
			used -= s.sweepFit
		}
		if s.fitBudget > 0 && used >= s.fitBudget {
			s.abort, s.outOfBudget = true, true
			return false
		}
		s.order = run % valueOrders
		s.leftmost = run%2 == 1
		s.shuffle = nil
		if run >= valueOrders {
			s.shuffle = rand.New(rand.NewPCG(uint64(run), 0x616c6c6f63))
		}
		before := s.nodes
		s.nodeLimit = s.nodes + base*luby(run+1)
		s.abort, s.limited = false, false
		if s.solve(0, s.nsec, 0) {
			break
		}
		if !s.limited || s.ctx.Err() != nil {
			s.abort = s.abort && s.ctx.Err() != nil
			return false
		}
		bnbNodes += s.nodes - before
		// The time sweep runs until its work (sections checked) catches
		// up with its share of the branch and bound's nodes
		// (sweepShare): on some instances one
		// engine is far better than the other, and counting work, not
		// time, keeps the answer repeatable.
		// It is one deterministic depth-first search that pauses when its
		// work reaches its share and resumes at the next turn (a coroutine:
		// never running at the same time as the branch and bound).
		for !sweepDone && s.sweep.work < s.sweepShare(bnbNodes) {
			w := s.sweep
			if co == nil {
				co = startSweep(w)
			}
			wBefore := w.nodes
			finished := co.step(s.sweepShare(bnbNodes) - w.work)
			s.nodes += w.nodes - wBefore
			s.sweepFit += w.nodes - wBefore
			if !finished {
				continue
			}
			co = nil
			if w.found {
				s.foundBy = "time-sweep"
				scatter(offsets, w.orig, w.off)
				return true
			}
			if s.ctx.Err() != nil {
				s.abort = true
				return false
			}
			// The sweep ran out of branches. Even when it is complete
			// (every start tight) its failure is not taken as the answer:
			// the proofs come from the branch and bound alone.
			sweepDone = true
		}
		// The guillotine search gets runs until its work catches up with
		// its share (guilShare) of the branch and bound's.
		for g := s.guil; g != nil && !g.done && guilNodeOps*s.guilFit < s.guilShare(); {
			before := g.nodes
			found := g.run(guilBase * luby(g.runs+1))
			s.nodes += g.nodes - before
			s.guilFit += g.nodes - before
			if found {
				s.foundBy = "guillotine"
				scatter(offsets, g.orig, g.off)
				return true
			}
			if s.ctx.Err() != nil {
				s.abort = true
				return false
			}
		}
	}
	scatter(offsets, s.orig, s.off)
	return true
}

// scatter writes a search's offsets (by search index, orig mapping them to
// problem indices) into offsets (by problem index); buffers of size 0,
// which have no search index, go to 0.
func scatter(offsets []int64, orig []int, off []int64) {
	clear(offsets)
	for k, i := range orig {
		offsets[i] = off[k]
	}
}

// solve completes the placement of the unplaced buffers live in sections
// [lo, hi) (no unplaced buffer crosses the scope's edges) at levels >= L. On
// success the placements stay; on failure the state is as on entry.
func (s *bnb) solve(lo, hi int, L int64) bool {
	k := s.key(lo, hi, L)
	if _, seen := s.failed[k]; seen {
		return false
	}
	if s.search(lo, hi, L) {
		return true
	}
	if !s.abort {
		s.failed[k] = struct{}{}
	}
	return false
}

// key hashes the subproblem solve(lo, hi, L) works on: the scope, the level,
// the skyline in the scope, the sections closed at L, and the set of placed
// buffers that lie inside the scope (which fixes the unplaced ones).
func (s *bnb) key(lo, hi int, L int64) [2]uint64 {
	const m1, m2 = 0x9e3779b97f4a7c15, 0xc2b2ae3d27d4eb4f
	h1 := uint64(lo)*m1 ^ uint64(hi)*m2 ^ uint64(L)
	h2 := uint64(hi)*m1 ^ uint64(lo)*m2 ^ uint64(L)*m1
	for t := lo; t < hi; t++ {
		v := uint64(s.top[t])
		if s.closed[t] == L {
			v |= 1 << 63
		}
		h1 = (h1 ^ v) * m1
		h2 = (h2 + v) * m2
		h2 ^= h2 >> 29
		for _, k := range s.startAt[t] {
			if s.placed[k] && int(s.sHi[k]) <= hi {
				h1 ^= s.zob[2*k]
				h2 ^= s.zob[2*k+1]
			}
		}
		if s.pEnd != nil && s.flagSec[t] {
			// The partner rules depend on the arrangement, not only on the
			// skyline: on the lifetime of the buffer on top of the section
			// and on the requirement it left.
			v := s.partnerState(t)
			h1 = (h1 ^ v) * m1
			h2 = (h2 + v) * m2
			h2 ^= h2 >> 29
		}
	}
	return [2]uint64{h1, h2}
}

// partnerState summarizes what the partner rules see in section t: the
// lifetime of the buffer on top and the requirements active at its top.
func (s *bnb) partnerState(t int) uint64 {
	const m = 0xc2b2ae3d27d4eb4f
	var v uint64
	if j := s.topBuf[t]; j >= 0 {
		v = uint64(s.sLo[j])<<32 | uint64(s.sHi[j]) | 1<<62
	}
	if s.reqEndLvl[t] == s.top[t] {
		v ^= uint64(s.reqEndHi[t]+1) * m
	}
	if s.reqStartLvl[t] == s.top[t] {
		v ^= (uint64(s.reqStartLo[t]+1) * m) << 1
	}
	return v
}

// search is solve without the memo.
func (s *bnb) search(lo, hi int, L int64) bool {
	s.nodes++
	if s.nodes&255 == 0 && s.halted() {
		s.abort = true
	}
	if s.nodeLimit > 0 && s.nodes >= s.nodeLimit {
		s.abort, s.limited = true, true
	}
	if s.abort {
		return false
	}
	cmark := len(s.closeTrail)
	defer s.undoClosures(cmark)
	// Close, without branching, every open section no buffer can start in at
	// L; closing one can empty another and changes the bounds, so repeat
	// until nothing changes. (The bound and the closures only ever tighten
	// each other, so the order reaches the same state; bounding first
	// spares a pass of the plain candidate test.)
	if !s.bound(lo, hi, L) {
		return false
	}
	s.markCandidates(lo, hi, L)
	for {
		closedAny := false
		for changed := true; changed; {
			changed = false
			for t := lo; t < hi; t++ {
				if s.open(t, L) && s.count(t, 1) == 0 {
					if !s.close(t, L) {
						return false
					}
					changed, closedAny = true, true
				}
			}
		}
		if !closedAny {
			break
		}
		if !s.bound(lo, hi, L) {
			return false
		}
		s.markCandidates(lo, hi, L)
	}
	// Independent parts: a section boundary no unplaced buffer crosses splits
	// the problem; solve the parts one after the other and never revisit a
	// part that succeeded when a later one fails (they share nothing).
	parts := s.split(lo, hi)
	if len(parts) == 2 {
		lo, hi = parts[0], parts[1]
	} else {
		if len(parts) == 0 {
			return true // nothing left in scope
		}
		pmark := len(s.placeLog)
		s.orderParts(parts)
		for i := 0; i < len(parts); i += 2 {
			if !s.solve(parts[i], parts[i+1], L) {
				s.unwind(pmark)
				return false
			}
		}
		return true
	}
	// Branch on the open section with the fewest candidates (fail first).
	// Ties go to the leftmost section, or to a random one in shuffled runs.
	// Runs with leftmost set take the leftmost open section instead (the
	// forced closures above leave every open section with a candidate).
	best, bestCount, ties := -1, 0, 0
	for t := lo; t < hi; t++ {
		if !s.open(t, L) {
			continue
		}
		if s.leftmost {
			best = t
			break
		}
		limit := 0 // count all in the first open section
		if best >= 0 {
			limit = bestCount + 1 // enough to tell less, equal and more apart
		}
		c := s.count(t, limit)
		if best < 0 || c < bestCount {
			best, bestCount, ties = t, c, 1
			if c == 1 {
				break
			}
		} else if c == bestCount && s.shuffle != nil {
			ties++
			if s.shuffle.IntN(ties) == 0 {
				best = t
			}
		}
	}
	if best >= 0 {
		base := len(s.cands)
		for _, k := range s.live[best] {
			if s.isCand[k] {
				sc := s.flush(k, L)
				if s.shuffle != nil && s.shuffle.IntN(bumpOdds) == 0 {
					sc += scoreUnit // see bumpOdds
				}
				s.cands = append(s.cands, cand{k, sc})
			}
		}
		mine := s.cands[base:]
		if s.shuffle != nil {
			s.shuffle.Shuffle(len(mine), func(i, j int) { mine[i], mine[j] = mine[j], mine[i] })
		}
		slices.SortStableFunc(mine, func(a, b cand) int { return cmp.Compare(b.score, a.score) })
		for i := base; i < len(s.cands); i++ {
			k := s.cands[i].k
			s.place(k, L)
			if s.solve(lo, hi, L) {
				s.cands = s.cands[:base]
				return true
			}
			s.unplace(k)
			if s.abort {
				s.cands = s.cands[:base]
				return false
			}
		}
		s.cands = s.cands[:base]
		if !s.close(best, L) {
			return false
		}
		return s.solve(lo, hi, L)
	}
	// No open section: rise to the next level. (The tops have not changed
	// since this node's bound, so its range table, if it built one, gives
	// the highest top over each lifetime in two lookups.)
	next := int64(-1)
	table := s.spOK && lo >= s.spLo && hi <= s.spHi
	for t := lo; t < hi; t++ {
		for _, k := range s.startAt[t] {
			if s.placed[k] {
				continue
			}
			var mt int64
			if table {
				mt = s.tableTop(k)
			} else {
				mt = s.maxTop(k)
			}
			if v := alignUp(mt, s.align[k]); v > L && (next < 0 || v < next) {
				next = v
			}
		}
	}
	if next < 0 {
		return false
	}
	return s.solve(lo, hi, next)
}

// split returns the independent parts of [lo, hi) as (lo, hi) pairs: maximal
// runs of sections with unplaced buffers that no section boundary without a
// crossing unplaced buffer separates.
func (s *bnb) split(lo, hi int) []int {
	var parts []int
	start := -1
	for t := lo; t < hi; t++ {
		// The unplaced buffers live in t that do not start there cross
		// the boundary before t; with none, a part ends there.
		if start >= 0 && s.uln[t] == s.ustart[t] {
			parts = append(parts, start, t)
			start = -1
		}
		if s.rem[t] == 0 {
			continue
		}
		if start < 0 {
			start = t
		}
	}
	if start >= 0 {
		parts = append(parts, start, hi)
	}
	return parts
}

// open reports whether section t is open at level L.
func (s *bnb) open(t int, L int64) bool {
	return s.rem[t] > 0 && s.top[t] <= L && s.closed[t] != L
}

// markCandidates records in isCand which unplaced buffers of [lo, hi) can
// start at L: those whose lower bound from the last bound call allows L (a
// cheap test, first) and that pass candidate. close keeps it up to date.
func (s *bnb) markCandidates(lo, hi int, L int64) {
	for t := lo; t < hi; t++ {
		s.ops += int64(len(s.startAt[t]))
		for _, k := range s.startAt[t] {
			s.isCand[k] = s.lbv[k] <= L && s.candidate(k, L)
		}
	}
}

// count returns the number of buffers marked as candidates in section t,
// counting no further than limit when limit > 0.
func (s *bnb) count(t int, limit int) int {
	c := 0
	for _, k := range s.ul[t][:s.uln[t]] {
		if s.isCand[k] {
			c++
			if c == limit {
				break
			}
		}
	}
	return c
}

// candidate reports whether buffer k can start at level L now.
func (s *bnb) candidate(k int32, L int64) bool {
	if s.placed[k] || (s.twin[k] >= 0 && !s.placed[s.twin[k]]) {
		return false
	}
	a := s.align[k]
	if L%a != 0 || L+s.size[k] > s.capac {
		return false
	}
	var mt int64
	for t := s.sLo[k]; t < s.sHi[k]; t++ {
		if s.top[t] > L || s.closed[t] == L {
			return false
		}
		mt = max(mt, s.top[t])
		// A buffer right below that must touch a partner here (see
		// partnerRules) admits only such a partner on top of it.
		if s.pEnd != nil && s.top[t] == L {
			if s.reqEndLvl[t] == L && s.sHi[k] != s.reqEndHi[t] || s.reqStartLvl[t] == L && s.sLo[k] != s.reqStartLo[t] {
				return false
			}
		}
	}
	if alignUp(mt, a) != L {
		return false
	}
	// k itself needs a partner: with none below, one must come on top, so
	// k cannot end at the capacity.
	if s.pEnd != nil && L+s.size[k] == s.capac {
		if s.pEnd[k] && !s.partnerBelow(k, s.sHi[k]-1, L, true) || s.pStart[k] && !s.partnerBelow(k, s.sLo[k], L, false) {
			return false
		}
	}
	return true
}

// partnerBelow reports whether the buffer right below offset L in section t
// (placed, ending exactly at L) ends (byEnd) or starts (else) with k.
func (s *bnb) partnerBelow(k int32, t int32, L int64, byEnd bool) bool {
	if L == 0 {
		return false
	}
	for _, j := range s.live[t] {
		if j != k && s.placed[j] && s.off[j]+s.size[j] == L {
			if byEnd {
				return s.sHi[j] == s.sHi[k]
			}
			return s.sLo[j] == s.sLo[k]
		}
	}
	return false
}

// partnerRules records, when k is placed at L, what must come on top of it:
// if k must touch a buffer that ends with it (pEnd: in its last section) or
// one that starts with it (pStart: in its first section), and the buffer
// below it there is not one, then the next buffer on top of it in that
// section must be. The flags come from the time sweep's partners (the
// argument is there); candidate enforces the records. Undone by unplace.
func (s *bnb) partnerRules(k int32, L int64) {
	te, ts := s.sHi[k]-1, s.sLo[k]
	s.reqTrail = append(s.reqTrail, s.reqEndLvl[te], int64(s.reqEndHi[te]), s.reqStartLvl[ts], int64(s.reqStartLo[ts]))
	if s.pEnd[k] && !s.partnerBelow(k, te, L, true) {
		s.reqEndLvl[te], s.reqEndHi[te] = L+s.size[k], s.sHi[k]
	}
	if s.pStart[k] && !s.partnerBelow(k, ts, L, false) {
		s.reqStartLvl[ts], s.reqStartLo[ts] = L+s.size[k], s.sLo[k]
	}
}

func (s *bnb) undoPartnerRules(k int32) {
	te, ts := s.sHi[k]-1, s.sLo[k]
	n := len(s.reqTrail)
	s.reqStartLvl[ts], s.reqStartLo[ts] = s.reqTrail[n-2], int32(s.reqTrail[n-1])
	s.reqEndLvl[te], s.reqEndHi[te] = s.reqTrail[n-4], int32(s.reqTrail[n-3])
	s.reqTrail = s.reqTrail[:n-4]
}

// flush scores how well candidate k fits the skyline at L: one point for each
// end of its lifetime that meets a wall (a section that is higher, or the
// edge of time), since buffers that fill a valley exactly are usually right;
// one point for each end where its new top (L+size) is level with the
// neighbouring section's top, since a flat skyline leaves room for long
// buffers; two when an equal-size buffer that meets it in time sits at L.
func (s *bnb) flush(k int32, L int64) int {
	score := 0
	if lo := s.sLo[k]; lo == 0 || s.top[lo-1] > L {
		score++
	}
	if hi := int(s.sHi[k]); hi == s.nsec || s.top[hi] > L {
		score++
	}
	// Its new top meets the top of a neighbour: the skyline stays flat.
	e := L + s.size[k]
	if lo := s.sLo[k]; lo > 0 && s.top[lo-1] == e {
		score++
	}
	if hi := int(s.sHi[k]); hi < s.nsec && s.top[hi] == e {
		score++
	}
	for _, j := range s.mates[k] {
		if s.placed[j] && s.off[j] == L {
			score += 2
			break
		}
	}
	// Within equal flush scores, each run's value order breaks ties its own way.
	const big = scoreUnit
	switch s.order {
	case 1:
		return score*big + int(min(s.size[k], big-1))
	case 2:
		return score*big - int(min(s.size[k], big-1))
	case 3:
		return score*big + int(s.sHi[k]-s.sLo[k])
	case 4:
		return score*big - int(s.sHi[k]-s.sLo[k])
	}
	return score
}

// scoreUnit is one point of flush's score (the tie-breaks live below it).
const scoreUnit = 1 << 40

// bumpOdds: in the randomized runs, each candidate gets one extra point with
// probability 1/bumpOdds at every branching, so that, run after run, the
// search also tries the candidates the score ranks second near the root of
// its dive. Random tie-breaking alone keeps repeating the same top-ranked
// choices; on the generated instances this was the difference between
// solving in a few hundred milliseconds and not within ten seconds.
const bumpOdds = 16

// valueOrders is the number of candidate orders the restarts cycle through.
const valueOrders = 5

// luby returns the i-th term (i >= 1) of the Luby sequence 1 1 2 1 1 2 4 ...
func luby(i int) int64 {
	for {
		k := 1
		for (1<<k)-1 < i {
			k++
		}
		if (1<<k)-1 == i {
			return 1 << (k - 1)
		}
		i -= (1 << (k - 1)) - 1
	}
}

func (s *bnb) maxTop(k int32) int64 {
	var mt int64
	for t := s.sLo[k]; t < s.sHi[k]; t++ {
		mt = max(mt, s.top[t])
	}
	return mt
}

// lowest returns a lower bound on the offset of unplaced buffer k, given that
// everything still to be placed starts at L or above: alignUp(maxTop(k)), but
// above L if k cannot start at L (it waits for a support, for its twin, or
// one of its sections is closed at L).
func (s *bnb) lowest(k int32, L int64) int64 {
	var mt int64
	closed := false
	s.ops += int64(s.sHi[k] - s.sLo[k])
	for t := s.sLo[k]; t < s.sHi[k]; t++ {
		mt = max(mt, s.top[t])
		closed = closed || s.closed[t] == L
	}
	return s.release(k, L, mt, closed)
}

// release is lowest given the highest top mt over k's lifetime and whether
// one of its sections is closed at L.
func (s *bnb) release(k int32, L, mt int64, closed bool) int64 {
	a := s.align[k]
	lb := alignUp(mt, a)
	if lb < L || lb == L && (closed || s.twin[k] >= 0 && !s.placed[s.twin[k]]) {
		lb = alignUp(L+1, a)
	}
	return lb
}

// rangeTable prepares lowestFast for the sections [lo, hi) at level L: a
// sparse table of the section tops (the maximum over any range in two
// lookups) and prefix counts of the sections closed at L. It pays where the
// unplaced lifetimes add up to more than its size.
func (s *bnb) rangeTable(lo, hi int, L int64) {
	n := hi - lo
	if s.sp == nil {
		s.sp = make([][]int64, bits.Len(uint(s.nsec)))
		for j := range s.sp {
			s.sp[j] = make([]int64, s.nsec)
		}
		s.cpre = make([]int32, s.nsec+1)
	}
	copy(s.sp[0][:n], s.top[lo:hi])
	s.spLo, s.spHi, s.spOK = lo, hi, true
	for j := 1; 1<<j <= n; j++ {
		prev, cur, h := s.sp[j-1], s.sp[j], 1<<(j-1)
		for i := 0; i+1<<j <= n; i++ {
			cur[i] = max(prev[i], prev[i+h])
		}
		s.ops += int64(n)
	}
	for i := 0; i < n; i++ {
		c := s.cpre[i]
		if s.closed[lo+i] == L {
			c++
		}
		s.cpre[i+1] = c
	}
	s.ops += int64(n)
}

// tableTop is maxTop through the table rangeTable built last (k's lifetime
// must lie in the sections it covers).
func (s *bnb) tableTop(k int32) int64 {
	a, b := int(s.sLo[k])-s.spLo, int(s.sHi[k])-s.spLo
	j := bits.Len(uint(b-a)) - 1
	return max(s.sp[j][a], s.sp[j][b-1<<j])
}

// lowestFast is lowest through the table rangeTable built last.
func (s *bnb) lowestFast(k int32, L int64) int64 {
	s.ops++
	a, b := int(s.sLo[k])-s.spLo, int(s.sHi[k])-s.spLo
	return s.release(k, L, s.tableTop(k), s.cpre[b] != s.cpre[a])
}

// bound checks, for every section of [lo, hi), that the unplaced buffers live
// in it fit between their lower bounds and the capacity: for every height h,
// the buffers whose offset is at least h must fit in [h, C).
func (s *bnb) bound(lo, hi int, L int64) bool {
	n := hi - lo
	table := s.unplacedLife > int64(2*n*bits.Len(uint(n)))
	if table {
		s.rangeTable(lo, hi, L)
	}
	for t := lo; t < hi; t++ {
		for _, k := range s.startAt[t] {
			if !s.placed[k] {
				var lb int64
				if table {
					lb = s.lowestFast(k, L)
				} else {
					lb = s.lowest(k, L)
				}
				if lb != s.lbv[k] {
					s.lbv[k] = lb
					s.markDirty(k)
				}
				if lb+s.size[k] > s.capac {
					return false
				}
			}
		}
	}
	for t := lo; t < hi; t++ {
		if s.rem[t] == 0 || !s.dirty[t] {
			continue
		}
		if t > lo && s.ustart[t] == 0 && s.uend[t] == 0 {
			// Same unplaced buffers as section t-1 (same bounds): same verdict.
			s.tight[t], s.dirty[t] = s.tight[t-1], false
			continue
		}
		// One pass over the section's unplaced buffers finds their lowest
		// bound (which covers them all), the size at it and the highest.
		ul := s.ul[t][:s.uln[t]]
		lbMin, lbMax, atMin := int64(-1), int64(-1), int64(0)
		for _, k := range ul {
			lb := s.lbv[k]
			switch {
			case lbMin < 0 || lb < lbMin:
				lbMin, atMin = lb, s.size[k]
			case lb == lbMin:
				atMin += s.size[k]
			}
			lbMax = max(lbMax, lb)
		}
		s.ops += int64(len(ul))
		if lbMin+s.rem[t] > s.capac {
			return false
		}
		s.tight[t] = lbMin+s.rem[t] == s.capac
		// Only the buffers with a higher bound can fail a height h; and only
		// a height above C-above can fail, where above is their total size
		// (each h has at most all of them above it). Sort just those.
		above := s.rem[t] - atMin
		if lbMax+above <= s.capac {
			s.dirty[t] = false
			continue
		}
		high := s.items[:0]
		for _, k := range ul {
			if lb := s.lbv[k]; lb > lbMin && lb+above > s.capac {
				high = append(high, item{lb, s.size[k]})
			}
		}
		s.items = high
		if len(high) == 0 {
			s.dirty[t] = false
			continue
		}
		slices.SortFunc(high, func(a, b item) int { return cmp.Compare(b.lb, a.lb) })
		var sum int64
		for _, it := range high {
			sum += it.size
			if it.lb+sum > s.capac {
				return false
			}
		}
		s.dirty[t] = false
	}
	return s.ceiling(lo, hi)
}

// ceiling checks the top layer. In a tight section (no room for waste: the
// unplaced buffers exactly fill the space above their lowest bound) the
// highest unplaced buffer ends exactly at C, so it is the highest in all its
// sections; two such buffers cannot share a time. So the tight sections of
// [lo, hi) must be covered by unplaced buffers that can end at C and whose
// lifetimes do not intersect: a left-to-right reachability over sections.
// bound computes tight.
func (s *bnb) ceiling(lo, hi int) bool {
	reach := s.reach[lo : hi+1]
	clear(reach)
	reach[0] = true
	need := false
	for t := lo; t < hi; t++ {
		need = need || s.rem[t] > 0 && s.tight[t]
	}
	if !need {
		return true
	}
	for t := lo; t < hi; t++ {
		if !reach[t-lo] {
			continue
		}
		if s.rem[t] == 0 || !s.tight[t] {
			reach[t+1-lo] = true
		}
		for _, k := range s.startAt[t] {
			if !s.placed[k] && s.capac-s.size[k] >= s.lbv[k] && (s.align[k] == 1 || (s.capac-s.size[k])%s.align[k] == 0) {
				reach[int(s.sHi[k])-lo] = true
			}
		}
	}
	return reach[hi-lo]
}

// close marks section t closed at level L and reports whether the section's
// remaining load still fits above L.
func (s *bnb) close(t int, L int64) bool {
	s.closeTrail = append(s.closeTrail, int64(t), s.closed[t])
	s.closed[t] = L
	for _, k := range s.live[t] {
		s.isCand[k] = false
	}
	return L+1+s.rem[t] <= s.capac
}

func (s *bnb) undoClosures(mark int) {
	for n := len(s.closeTrail); n > mark; n -= 2 {
		s.closed[s.closeTrail[n-2]] = s.closeTrail[n-1]
	}
	s.closeTrail = s.closeTrail[:mark]
}

// markDirty marks the sections of buffer k's lifetime for bound.
func (s *bnb) markDirty(k int32) {
	s.ops += int64(s.sHi[k] - s.sLo[k])
	for t := s.sLo[k]; t < s.sHi[k]; t++ {
		s.dirty[t] = true
	}
}

func (s *bnb) place(k int32, L int64) {
	s.spOK = false
	if s.pEnd != nil {
		s.partnerRules(k, L)
	}
	s.placed[k] = true
	s.off[k] = L
	s.placeLog = append(s.placeLog, k)
	s.markDirty(k)
	s.unplacedLife -= int64(s.sHi[k] - s.sLo[k])
	s.ustart[s.sLo[k]]--
	s.uend[s.sHi[k]]--
	e := L + s.size[k]
	for t := s.sLo[k]; t < s.sHi[k]; t++ {
		s.topTrail = append(s.topTrail, s.top[t], int64(s.topBuf[t]))
		s.top[t], s.topBuf[t] = e, k
		s.rem[t] -= s.size[k]
		ul := s.ul[t]
		i, last := s.upos[s.uposBase[k]+t-s.sLo[k]], s.uln[t]-1
		j := ul[last]
		ul[i], ul[last] = j, k
		s.upos[s.uposBase[j]+t-s.sLo[j]] = i
		s.upos[s.uposBase[k]+t-s.sLo[k]] = last
		s.uln[t] = last
	}
}

// unplace undoes the last place (placements are undone in reverse order).
func (s *bnb) unplace(k int32) {
	s.spOK = false
	for t := s.sHi[k] - 1; t >= s.sLo[k]; t-- {
		n := len(s.topTrail)
		s.top[t], s.topBuf[t] = s.topTrail[n-2], int32(s.topTrail[n-1])
		s.topTrail = s.topTrail[:n-2]
		s.rem[t] += s.size[k]
		s.uln[t]++ // k is still right past the prefix
	}
	s.placed[k] = false
	s.markDirty(k)
	s.unplacedLife += int64(s.sHi[k] - s.sLo[k])
	s.ustart[s.sLo[k]]++
	s.uend[s.sHi[k]]++
	s.placeLog = s.placeLog[:len(s.placeLog)-1]
	if s.pEnd != nil {
		s.undoPartnerRules(k)
	}
}

// unwind undoes every placement made after the log had length mark.
func (s *bnb) unwind(mark int) {
	for len(s.placeLog) > mark {
		s.unplace(s.placeLog[len(s.placeLog)-1])
	}
}

// orderParts sorts the (lo, hi) pairs of independent parts so that the part
// with the fewest unplaced buffers comes first: parts share nothing, so any
// order is complete, and a small part that cannot be completed is refuted
// before the work on the large ones is spent.
func (s *bnb) orderParts(parts []int) {
	if len(parts) <= 2 {
		return
	}
	type part struct{ lo, hi, n int }
	ps := make([]part, 0, len(parts)/2)
	for i := 0; i < len(parts); i += 2 {
		c := 0
		for t := parts[i]; t < parts[i+1]; t++ {
			for _, k := range s.startAt[t] {
				if !s.placed[k] {
					c++
				}
			}
		}
		ps = append(ps, part{parts[i], parts[i+1], c})
	}
	slices.SortStableFunc(ps, func(a, b part) int { return cmp.Compare(a.n, b.n) })
	for i, p := range ps {
		parts[2*i], parts[2*i+1] = p.lo, p.hi
	}
}

// halted reports whether the search must stop: its context is done, or
// halt says so (then the context is cancelled, so that both searches see
// it from then on).
func (s *bnb) halted() bool {
	if s.halt != nil && s.ctx.Err() == nil && s.halt() && s.cancel != nil {
		s.cancel()
	}
	return s.ctx.Err() != nil
}

// work is what the current fit has cost so far: the buffer-sections the
// branch and bound has visited in its bounds (ops: about 5.2 ns each, with
// the range tables), nodeOps per node of the branch and bound (the rest of a
// node), and sweepCheckOps per section check of the time sweep (with the
// rest of a sweep node). It only grows, it tracks the time spent within some
// 10% on the generated instances, and (unlike wall time) it is the same on
// every run, so racing searches can be ranked by it (see race).
func (s *bnb) work() int64 {
	w := s.bnbWork() + guilNodeOps*s.guilFit
	if s.sweep != nil {
		w += sweepCheckOps * s.sweep.work
	}
	return w
}

// bnbWork is the branch and bound's own part of work: its ops and its nodes
// (the sweep's and the guillotine search's taken out).
func (s *bnb) bnbWork() int64 {
	return s.ops - s.fitOps + nodeOps*(s.nodes-s.fitStart-s.sweepFit-s.guilFit)
}

// guilShare is the work (in ops) the guillotine search may have done so far
// in this fit: twice what the branch and bound has done. Where it applies
// and finds no cut it ends at once (on the sweep-generated instances in
// under a millisecond), so the share only counts where the memory is full
// and cut: on cut n=450 seeds 1-60, with half, equal, twice and four times
// the branch and bound's work, total 5.0, 3.7, 3.0 and 2.9 s, slowest 2.8,
// 1.8, 1.4 and 1.2 s; on cuts that pick the piece to cut uniformly, total
// 12.4, 9.9, 8.9 and 8.5 s.
func (s *bnb) guilShare() int64 {
	return 2 * s.bnbWork()
}

// guilNodeOps converts a node of the guillotine search into ops (about 50
// ns; its set-up work is counted in nodes too), and guilBase is the node
// budget of its first run (its runs follow the Luby sequence).
const (
	guilNodeOps = 10
	guilBase    = 100000
)

// nodeOps and sweepCheckOps convert a node of the branch and bound (beyond
// its ops) and a section check of the time sweep into ops (fitted on 3 s runs
// of the generated hard instances: 5.2 ns per op, 1.9 us per node, 0.68 us
// per check).
const (
	nodeOps       = 365
	sweepCheckOps = 130
)

// restartBase is the node budget of the first run: about two nodes per
// buffer, since a run that is on a good path places each buffer with little
// backtracking but also spends nodes on closing sections and rising levels
// (a dive without any backtracking takes 1.5-2 nodes per buffer on the
// generated instances, so a budget of n would cut the first runs short).
var restartBase = func(n int) int64 { return int64(2*n + 64) }

// sweepShare is the work the time sweep may have done by the time the branch
// and bound has spent bnbNodes: sweepWorkPerNode section checks per node
// times f squared, where f is the fraction of the time points the sweep has
// got through, and at least sweepWorkFloor per node. A sweep that stays
// stuck near the start of time (many buffers that start together, as on the
// recursive cuts, where f stays under 0.15) rarely finishes and gets the
// floor; one that has got far often finishes (on the sweep-generated
// instances it spends most of its work stuck at f = 0.35-0.75 before it
// does), and then it gets about as much time as the branch and bound.
//
// Where some time point has slack the sweep is not complete there (it tries
// a few places for the largest starting buffer, see fillSlack), and it gets
// 20 f checks per node, at least the floor: on the MiniMalloc files (slack
// everywhere) the larger share only slowed the branch and bound down.
func (s *bnb) sweepShare(bnbNodes int64) int64 {
	w := s.sweep
	f := min(1, float64(w.deepest+1)/float64(max(1, w.nsec)))
	if !w.complete {
		return int64(float64(bnbNodes) * max(sweepWorkFloor, sweepSlackPerNode*f))
	}
	return int64(float64(bnbNodes) * max(sweepWorkFloor, sweepWorkPerNode*f*f))
}

// sweepSlackPerNode is the share per node and unit of f of a sweep that is
// not complete.
const sweepSlackPerNode = 20

// sweepWorkPerNode converts branch-and-bound nodes into the time sweep's work
// units (sections checked). Measured on the sweep-generated instances (n =
// 300 and 450) before the nodes of both searches were made cheaper, a node
// of the branch and bound took about 40 us and a section check about 0.4 us:
// at f = 0.75 the two searches got about the same time (the share was kept
// when both got cheaper; see docs/alloc.md). (120 lost three instances at
// n = 450 to the 5 s target, and 20 with f instead of f squared, the earlier
// share, left the sweep a fifth of the time where it is the engine that
// finishes.)
const sweepWorkPerNode = 160

// sweepWorkFloor is the share per branch-and-bound node of a sweep stuck near
// the start (an eighth of 20 checks, as before the share grew with f
// squared).
const sweepWorkFloor = 2.5
