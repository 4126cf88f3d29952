package placer

import (
	"cmp"
	"context"
	"math/rand/v2"
	"slices"

	"github.com/stillwater-sc/kpuopt/constraints/alloc"
)

// guillotine is the third search of the portfolio, for memories that are full
// at every time (the load equals the capacity wherever a buffer is live). It
// looks for a guillotine tiling: a region (addresses [a0, a0+h) over a time
// range, exactly filled by its buffers) is either one buffer, or cut across
// time at a point no buffer of it crosses, or cut across addresses at a
// height h' no buffer crosses at any time, each side again a guillotine
// tiling. Recursive cuts of the address x time rectangle produce such
// packings, and the branch and bound and the time sweep find some of them
// hard (they cannot see the cuts), while the cuts themselves are cheap to
// find:
//
//   - Time cuts are the time points no buffer of the region crosses; the
//     parts are independent.
//   - A buffer live over the whole time range of a region (after its time
//     cuts) is a layer on its own: it can go to the bottom (the layers of a
//     tiling can be stacked in any order), so it is placed there and the
//     rest tiles what is left.
//   - An address cut splits the region's buffers into a lower set L with a
//     constant load h' < h at every time and the rest. The layers can be
//     stacked in either order, so L contains a fixed buffer b (the first
//     that starts at the region's start). L is found by a search over time:
//     at the start, a subset of the buffers that start there with b among
//     them; at each later time point, a subset of the buffers that start
//     there whose sizes add up to those of the buffers of L that end there.
//     Each buffer decided in or out of L checks at once that the time point
//     where it ends can still balance (see balances), and the states (time
//     point and the open buffers of L) from which no L can be completed are
//     remembered, across runs (see deadFor). Each L found is tried: both
//     sides must tile, recursively.
//
// A set of buffers that cannot tile its rectangle never can, wherever it is,
// so failed sets are remembered across runs. The search is complete for
// guillotine tilings, not for tilings in general, so its failures prove
// nothing: a run that ends without a tiling only means there is none of this
// kind (the search then stops trying). It runs between the restarts of the
// branch and bound with a share of its work (see bnb.fit), in runs with
// growing node budgets and different orders of the buffers (sizes down,
// lifetimes' ends down, sizes up, each forwards and on the time-reversed
// problem, then alternating with random orders), since how long it takes
// depends heavily on the order.
type guillotine struct {
	ctx    context.Context
	halted func() bool     // asked every 1024 nodes whether to stop (nil: ctx only)
	orig   []int           // search index -> problem index (non-zero sizes)
	fwd    []alloc.Buffer  // the buffers by search index
	rev    []alloc.Buffer  // the same with time reversed
	b      []alloc.Buffer  // fwd or rev, for the current run
	zob    []uint64        // random per buffer, for the set keys
	bad    map[uint64]bool // sets that do not tile (any order, any direction)
	// deadBy: per set of buffers (and direction of time), the states of
	// its layer search from which no layer can be completed; that does not
	// depend on the order of the buffers, so runs share them (deadSize
	// counts them all, up to maxDead).
	deadBy   map[uint64]map[uint64]bool
	deadSize int
	off      []int64
	capa     int64

	order   int     // this run's order of the buffers (0-3), see less
	rank    []int32 // order 3: a random rank per buffer
	runs    int
	nodes   int64 // all runs
	limit   int64 // abort the run at this node count
	abort   bool
	reverse bool // this run works on rev
	done    bool // a run ended without a tiling: there is none
}

// newGuillotine returns the search for p at capacity c, or nil where it does
// not apply: somewhere the load is neither 0 nor c, or a buffer's alignment
// does not divide every size. (In a tiling every offset is a sum of sizes,
// so alignments that divide all of them always hold.)
func newGuillotine(ctx context.Context, p *alloc.Problem, c int64) *guillotine {
	g := &guillotine{ctx: ctx, capa: c, bad: map[uint64]bool{}, deadBy: map[uint64]map[uint64]bool{}}
	var end, unit int64
	for i, b := range p.Buffers {
		if b.Size == 0 {
			continue
		}
		unit = gcd(unit, b.Size)
		g.orig = append(g.orig, i)
		g.fwd = append(g.fwd, b)
		end = max(end, b.Upper)
	}
	if len(g.fwd) == 0 {
		return nil
	}
	for _, b := range g.fwd {
		if unit%b.Align() != 0 {
			return nil
		}
	}
	// Full wherever something is live: the load changes only at lifetime
	// ends; check it between consecutive event points.
	type event struct{ t, d int64 }
	ev := make([]event, 0, 2*len(g.fwd))
	for _, b := range g.fwd {
		ev = append(ev, event{b.Lower, b.Size}, event{b.Upper, -b.Size})
	}
	slices.SortFunc(ev, func(a, b event) int { return cmp.Compare(a.t, b.t) })
	var load int64
	for k, e := range ev {
		load += e.d
		if (k+1 == len(ev) || ev[k+1].t != e.t) && load != 0 && load != c {
			return nil
		}
	}
	g.rev = make([]alloc.Buffer, len(g.fwd))
	for k, b := range g.fwd {
		b.Lower, b.Upper = end-b.Upper, end-b.Lower
		g.rev[k] = b
	}
	rng := rand.New(rand.NewPCG(uint64(len(g.fwd)), 0x6775696c))
	g.zob = make([]uint64, len(g.fwd))
	for k := range g.zob {
		g.zob[k] = rng.Uint64()
	}
	g.off = make([]int64, len(g.fwd))
	return g
}

// deadFor returns the memo of dead layer-search states of the set with the
// given key in the current direction of time: shared by the runs, or a
// fresh one once the shared memos hold maxDead states.
func (g *guillotine) deadFor(key uint64) map[uint64]bool {
	if g.reverse {
		key = ^key
	}
	if d, ok := g.deadBy[key]; ok {
		return d
	}
	d := map[uint64]bool{}
	if g.deadSize < maxDead {
		g.deadBy[key] = d
	}
	return d
}

// maxDead bounds the dead states kept across runs (each costs some 40 bytes).
const maxDead = 1 << 20

// guillotineOrders is the number of buffer orders the runs cycle through
// (each forwards and backwards in time).
const guillotineOrders = 3

// run makes one attempt with a budget of nodes, in the next order. It
// reports whether it found a tiling (then g.off holds it, by search index).
func (g *guillotine) run(budget int64) bool {
	r := g.runs
	g.runs++
	// The fixed orders: all six first, then every other run.
	f := r
	if r >= 2*guillotineOrders {
		f = r / 2
	}
	g.order = f % guillotineOrders
	g.reverse = (f/guillotineOrders)%2 == 1
	if r >= 2*guillotineOrders && r%2 == 1 {
		// From then on: random orders (alternating directions), so that
		// the runs also try what the fixed orders keep putting last.
		g.order = guillotineOrders
		if g.rank == nil {
			g.rank = make([]int32, len(g.fwd))
		}
		rng := rand.New(rand.NewPCG(uint64(r), 0x72616e6b))
		for k, v := range rng.Perm(len(g.rank)) {
			g.rank[k] = int32(v)
		}
		g.reverse = r%4 == 3
	}
	g.b = g.fwd
	if g.reverse {
		g.b = g.rev
	}
	g.limit = g.nodes + budget
	g.abort = false
	all := make([]int, len(g.b))
	for k := range all {
		all[k] = k
	}
	if g.tile(all, 0, g.capa) {
		return true
	}
	if !g.abort {
		g.done = true
	}
	return false
}

// tick counts a node and reports whether the run must stop.
func (g *guillotine) tick() bool {
	g.nodes++
	if g.nodes >= g.limit {
		g.abort = true
	}
	if g.nodes&1023 == 0 && (g.halted != nil && g.halted() || g.ctx.Err() != nil) {
		g.abort = true
	}
	return g.abort
}

// less orders the buffers of a region for the search: by start, then by
// this run's order.
func (g *guillotine) less(x, y int) int {
	a, b := g.b[x], g.b[y]
	if c := cmp.Compare(a.Lower, b.Lower); c != 0 {
		return c
	}
	switch g.order {
	case 1:
		if c := cmp.Compare(b.Upper, a.Upper); c != 0 {
			return c
		}
	case 2:
		if c := cmp.Compare(a.Size, b.Size); c != 0 {
			return c
		}
	case 3:
		return int(g.rank[x] - g.rank[y])
	}
	if c := cmp.Compare(b.Size, a.Size); c != 0 {
		return c
	}
	return x - y
}

// tile places the buffers of set (which fill [a0, a0+h) at every time of
// their range) as a guillotine tiling; it reports success.
func (g *guillotine) tile(set []int, a0, h int64) bool {
	if g.tick() {
		return false
	}
	if len(set) == 1 {
		g.off[set[0]] = a0
		return true
	}
	var key uint64
	for _, k := range set {
		key ^= g.zob[k]
	}
	g.nodes += int64(len(set) / 16)
	if g.bad[key] {
		return false
	}
	ok := g.tile1(slices.Clone(set), a0, h, key)
	if !ok && !g.abort {
		g.bad[key] = true
	}
	return ok
}

// tile1 is tile for a set of at least two buffers, not known to fail; key
// is the set's (for the memo of its layer search).
func (g *guillotine) tile1(s []int, a0, h int64, key uint64) bool {
	g.nodes += int64(len(s) / 8) // the sort and the scans
	slices.SortFunc(s, g.less)
	// Time cuts.
	reach := g.b[s[0]].Upper
	start := 0
	var parts [][]int
	for k := 1; k < len(s); k++ {
		if g.b[s[k]].Lower >= reach {
			parts = append(parts, s[start:k])
			start = k
		}
		reach = max(reach, g.b[s[k]].Upper)
	}
	if len(parts) > 0 {
		parts = append(parts, s[start:])
		for _, part := range parts {
			if !g.tile(part, a0, h) {
				return false
			}
		}
		return true
	}
	// Buffers live over the whole range are layers of their own.
	lo, hi := g.b[s[0]].Lower, reach
	rest := make([]int, 0, len(s))
	for _, k := range s {
		if b := g.b[k]; b.Lower == lo && b.Upper == hi {
			g.off[k] = a0
			a0 += b.Size
			h -= b.Size
		} else {
			rest = append(rest, k)
		}
	}
	if len(rest) == 0 {
		return h == 0
	}
	if len(rest) < len(s) {
		return g.tile(rest, a0, h)
	}
	l := newLayerSearch(g, s, h)
	l.dead = g.deadFor(key)
	l.try = func(low []int, hl int64) bool {
		g.nodes += int64(len(s) / 4)
		high := make([]int, 0, len(s)-len(low))
		for _, k := range s {
			if !l.in[k] {
				high = append(high, k)
			}
		}
		// The side with fewer buffers first: it fails sooner. (tile works
		// on its own copy of the set.)
		if len(high) < len(low) {
			return g.tile(high, a0+hl, h-hl) && g.tile(low, a0, hl)
		}
		return g.tile(low, a0, hl) && g.tile(high, a0+hl, h-hl)
	}
	return l.firstLayer(0, 0)
}

// layerSearch enumerates the lower sets L of an address cut of one region
// (see guillotine).
type layerSearch struct {
	g      *guillotine
	h      int64
	times  []int64 // the start times of the region's buffers, ascending
	starts [][]int // per time point, the buffers that start there (in g.less order)
	suffix [][]int64
	endAt  []int32 // by buffer: the index of its end time in times (len(times): the region's end)
	in     []bool  // by buffer: in L
	low    []int
	endsL  []int64 // per time point, the size of the buffers of L that end there
	inRem  []int64 // per time point, the size of the undecided buffers that end there
	ends   [][]int // per time point, the buffers that end there
	undec  []bool  // by buffer: not decided yet
	unit   int64   // gcd of the sizes
	sums   [][]uint64
	dead   map[uint64]bool
	total  uint64                         // XOR of the keys of L's buffers
	keyEnd []uint64                       // per time point, XOR of the keys of L's buffers that end there
	leaves int64                          // complete sets L found so far
	try    func(low []int, hl int64) bool // tries a complete L of load hl: do both sides tile?
}

func newLayerSearch(g *guillotine, s []int, h int64) *layerSearch {
	l := &layerSearch{g: g, h: h, in: make([]bool, len(g.b)), endAt: make([]int32, len(g.b))}
	for _, k := range s {
		t := g.b[k].Lower
		if n := len(l.times); n == 0 || l.times[n-1] != t {
			l.times = append(l.times, t)
			l.starts = append(l.starts, nil)
		}
		l.starts[len(l.starts)-1] = append(l.starts[len(l.starts)-1], k)
	}
	nt := len(l.times)
	l.endsL = make([]int64, nt+1)
	l.keyEnd = make([]uint64, nt+1)
	l.inRem = make([]int64, nt+1)
	l.ends = make([][]int, nt+1)
	l.undec = make([]bool, len(g.b))
	for _, k := range s {
		u, found := slices.BinarySearch(l.times, g.b[k].Upper)
		if !found {
			u = nt
		}
		l.endAt[k] = int32(u)
		l.inRem[u] += g.b[k].Size
		l.ends[u] = append(l.ends[u], k)
		l.undec[k] = true
		l.unit = gcd(l.unit, g.b[k].Size)
	}
	l.suffix = make([][]int64, nt)
	for i, c := range l.starts {
		suf := make([]int64, len(c)+1)
		for j := len(c) - 1; j >= 0; j-- {
			suf[j] = suf[j+1] + g.b[c[j]].Size
		}
		l.suffix[i] = suf
	}
	// Subset sums of the starting sizes per time point (in units of the
	// gcd), where that stays small.
	if w := h / l.unit; w <= 1<<16 {
		words := int(w/64 + 1)
		l.sums = make([][]uint64, nt)
		for i, c := range l.starts {
			bs := make([]uint64, words)
			bs[0] = 1
			for _, k := range c {
				shiftOr(bs, int(g.b[k].Size/l.unit), words-1)
			}
			l.sums[i] = bs
		}
		// This costs about a node per 16 words.
		g.nodes += int64(len(s)*words) / 16
	}
	g.nodes += int64(len(g.b)/16 + len(s)) // the rest of the set-up
	return l
}

// decide records buffer k as in L or not: the time point where it ends has
// one undecided buffer fewer, and must still be able to balance (the sizes
// of L's buffers that end there, plus any of the undecided ones, must make a
// subset sum of the sizes that start there). It reports that; undecide
// reverts it (in reverse order).
func (l *layerSearch) decide(k int, in bool) bool {
	sz := l.g.b[k].Size
	u := l.endAt[k]
	l.inRem[u] -= sz
	l.undec[k] = false
	if in {
		l.in[k] = true
		l.low = append(l.low, k)
		l.endsL[u] += sz
		l.total ^= l.g.zob[k]
		l.keyEnd[u] ^= l.g.zob[k]
	}
	if l.sums == nil || int(u) == len(l.times) {
		return true
	}
	return l.balances(int(u))
}

// balances reports whether time point u can still balance: the sizes of
// L's buffers that end there plus those of some of the undecided ones that
// end there make a subset sum of the sizes that start there. (With many
// undecided ones, any total up to theirs is allowed.)
func (l *layerSearch) balances(u int) bool {
	var und [6]int64
	n := 0
	for _, k := range l.ends[u] {
		if l.undec[k] {
			if n == len(und) {
				lo := l.endsL[u] / l.unit
				hi := min((l.endsL[u]+l.inRem[u])/l.unit, l.h/l.unit)
				return anyBit(l.sums[u], lo, hi)
			}
			und[n] = l.g.b[k].Size / l.unit
			n++
		}
	}
	base := l.endsL[u] / l.unit
	bs := l.sums[u]
	for m := 0; m < 1<<n; m++ {
		v := base
		for i := 0; i < n; i++ {
			if m>>i&1 == 1 {
				v += und[i]
			}
		}
		if int(v>>6) < len(bs) && bs[v>>6]>>(v&63)&1 == 1 {
			return true
		}
	}
	return false
}

func (l *layerSearch) undecide(k int, in bool) {
	sz := l.g.b[k].Size
	u := l.endAt[k]
	l.inRem[u] += sz
	l.undec[k] = true
	if in {
		l.endsL[u] -= sz
		l.total ^= l.g.zob[k]
		l.keyEnd[u] ^= l.g.zob[k]
		l.low = l.low[:len(l.low)-1]
		l.in[k] = false
	}
}

// firstLayer chooses the buffers of L among those that start at the region's
// start: the first of them always, any others, their sizes below h; then
// the later time points (next).
func (l *layerSearch) firstLayer(j int, sum int64) bool {
	c := l.starts[0]
	if l.g.tick() {
		return false
	}
	if j == len(c) {
		if sum == 0 || sum >= l.h {
			return false
		}
		return l.next(1, sum, l.keyEnd[0])
	}
	k := c[j]
	if sum+l.g.b[k].Size < l.h {
		ok := l.decide(k, true) && l.firstLayer(j+1, sum+l.g.b[k].Size)
		l.undecide(k, true)
		if ok {
			return true
		}
	}
	if j == 0 {
		return false
	}
	ok := l.decide(k, false) && l.firstLayer(j+1, sum)
	l.undecide(k, false)
	return ok
}

// next continues L at time point i (the buffers that start before it are
// decided); hl is L's load, closed the XOR of the keys of L's buffers that
// end before i.
func (l *layerSearch) next(i int, hl int64, closed uint64) bool {
	g := l.g
	if i == len(l.times) {
		l.leaves++
		return l.try(l.low, hl)
	}
	// The future depends only on the buffers of L still live at i.
	key := uint64(i)*0x9e3779b97f4a7c15 ^ l.total ^ closed
	if l.dead[key] {
		return false
	}
	before := l.leaves
	if l.choose(i, 0, l.endsL[i], hl, closed) {
		return true
	}
	if l.leaves == before && !g.abort {
		l.dead[key] = true
		g.deadSize++
	}
	return false
}

// choose picks, among the buffers that start at time point i from the j-th
// on, a set of total size need for L (the rest stay out).
func (l *layerSearch) choose(i, j int, need, hl int64, closed uint64) bool {
	if l.g.tick() {
		return false
	}
	c := l.starts[i]
	if need == 0 {
		// The rest of them stay out.
		m := j
		ok := true
		for ; m < len(c) && ok; m++ {
			ok = l.decide(c[m], false)
		}
		ok = ok && l.next(i+1, hl, closed^l.keyEnd[i])
		for m--; m >= j; m-- {
			l.undecide(c[m], false)
		}
		return ok
	}
	if j == len(c) || l.suffix[i][j] < need {
		return false
	}
	k := c[j]
	if sz := l.g.b[k].Size; sz <= need {
		ok := l.decide(k, true) && l.choose(i, j+1, need-sz, hl, closed)
		l.undecide(k, true)
		if ok {
			return true
		}
	}
	ok := l.decide(k, false) && l.choose(i, j+1, need, hl, closed)
	l.undecide(k, false)
	return ok
}
