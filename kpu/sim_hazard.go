package kpu

import "context"

// Hazard checking. Commands are visited in a topological order; each memory
// unit keeps, per 1 KiB chunk, the byte intervals last written and the
// intervals read since, tagged with the command that did it. A new access
// that overlaps a conflicting interval (read after write, write after read,
// write after write) must be ordered after that command by happens-before:
// the transitive closure of deps and engine queue order. Happens-before is
// decided by a backward search from the later command, pruned by topological
// position, by queue position on the earlier command's engine, and by the
// timing pass (x before c implies end(x) <= start(c)).

const (
	chunkShift     = 10
	chunksPerPage  = pageSize >> chunkShift
	initialCommand = -1
)

type ivRec struct {
	lo, hi int64
	cmd    int32
}

type chunk struct {
	writes, reads []ivRec
}

type shadowUnit struct {
	pages []*[chunksPerPage]chunk
}

func (s *shadowUnit) chunk(addr int64) *chunk {
	p := addr >> pageShift
	pg := s.pages[p]
	if pg == nil {
		pg = new([chunksPerPage]chunk)
		s.pages[p] = pg
	}
	return &pg[(addr&pageMask)>>chunkShift]
}

type hazardState struct {
	cp       *compiled
	prog     *Program
	mem      *memory
	res      *SimResult
	shadow   []*shadowUnit
	stamp    []int32
	gen      int32
	stack    []int32
	cache    []hbEntry // per current command
	reported []int32   // partners already reported for the current command
	c        checker
}

type hbEntry struct {
	x  int32
	ok bool
}

func (cp *compiled) hazards(ctx context.Context, prog *Program, mem *memory, res *SimResult) []Violation {
	h := &hazardState{cp: cp, prog: prog, mem: mem, res: res,
		shadow: make([]*shadowUnit, cp.units), stamp: make([]int32, cp.n)}
	for k, i := range cp.order {
		if k&0x3fff == 0x3fff && ctx.Err() != nil {
			return h.c.vs
		}
		if h.c.full() {
			break
		}
		h.cache = h.cache[:0]
		h.reported = h.reported[:0]
		rs, ws := cp.readsOf(int(i)), cp.writesOf(int(i))
		for fi := range rs {
			h.read(i, &rs[fi])
		}
		for fi := range ws {
			h.write(i, &ws[fi])
		}
	}
	return h.c.vs
}

func (h *hazardState) unit(g int) *shadowUnit {
	s := h.shadow[g]
	if s == nil {
		u := h.mem.unit(g)
		s = &shadowUnit{pages: make([]*[chunksPerPage]chunk, len(u.written))}
		h.shadow[g] = s
	}
	return s
}

func (h *hazardState) read(i int32, f *footprint) {
	u := h.mem.unit(f.gunit)
	s := h.unit(f.gunit)
	uninit := false
	f.eachRun(func(lo, hi int64) {
		if !uninit {
			if a, b, bad := u.firstUnwritten(lo, hi); bad {
				uninit = true
				h.c.add(h.cp.ids[i], VUninit, "%s reads %s %d bytes [%d, %d) that no earlier command wrote",
					h.cp.engines[h.cp.engine[i]], unitName(levelNames[f.level]), f.unit, a, b)
			}
		}
		for a := lo; a < hi; {
			end := min(hi, (a>>chunkShift+1)<<chunkShift)
			ch := s.chunk(a)
			for _, r := range ch.writes {
				if r.cmd != i && r.hi > a && r.lo < end {
					h.order(r.cmd, i, "writes", "reads", f, max(r.lo, a), min(r.hi, end))
				}
			}
			h.addRead(ch, a, end, i)
			a = end
		}
	})
}

// addRead records that i reads [a, end) of a chunk. A record of the same
// range by an earlier command of the same engine is replaced: that command
// happens before i, so a write ordered after i is ordered after it too.
func (h *hazardState) addRead(ch *chunk, a, end int64, i int32) {
	n := len(ch.reads)
	if n > 0 && ch.reads[n-1].cmd == i && ch.reads[n-1].hi == a {
		ch.reads[n-1].hi = end
		return
	}
	eng := h.cp.engine
	for k := range ch.reads {
		r := &ch.reads[k]
		if r.lo == a && r.hi == end && eng[r.cmd] == eng[i] {
			r.cmd = i
			return
		}
	}
	ch.reads = append(ch.reads, ivRec{a, end, i})
}

func (h *hazardState) write(i int32, f *footprint) {
	u := h.mem.unit(f.gunit)
	s := h.unit(f.gunit)
	f.eachRun(func(lo, hi int64) {
		u.markWritten(lo, hi)
		for a := lo; a < hi; {
			end := min(hi, (a>>chunkShift+1)<<chunkShift)
			ch := s.chunk(a)
			ch.writes = h.trim(ch.writes, i, a, end, f, "writes")
			ch.reads = h.trim(ch.reads, i, a, end, f, "reads")
			if n := len(ch.writes); n > 0 && ch.writes[n-1].cmd == i && ch.writes[n-1].hi == a {
				ch.writes[n-1].hi = end
			} else {
				ch.writes = append(ch.writes, ivRec{a, end, i})
			}
			a = end
		}
	})
}

// trim checks every record of recs overlapping [a, end) against writer i and
// removes the overlapped part.
func (h *hazardState) trim(recs []ivRec, i int32, a, end int64, f *footprint, did string) []ivRec {
	n := len(recs)
	first := 0
	for first < n && (recs[first].hi <= a || recs[first].lo >= end) {
		first++
	}
	if first == n {
		return recs
	}
	k := first
	for j := first; j < n; j++ {
		r := recs[j]
		if r.hi <= a || r.lo >= end {
			if k != j {
				recs[k] = r
			}
			k++
			continue
		}
		if r.cmd != i {
			h.order(r.cmd, i, did, "writes", f, max(r.lo, a), min(r.hi, end))
		}
		if r.lo < a {
			recs[k] = ivRec{r.lo, a, r.cmd}
			k++
		}
		if r.hi > end {
			// The right piece goes to the tail; it lies beyond end and is
			// not revisited for this interval.
			recs = append(recs, ivRec{end, r.hi, r.cmd})
		}
	}
	// Compact the appended tail after the kept records.
	if len(recs) > n {
		k += copy(recs[k:], recs[n:])
	}
	return recs[:k]
}

// order reports a race unless x happens before c.
func (h *hazardState) order(x, c int32, xdid, cdid string, f *footprint, lo, hi int64) {
	if x == initialCommand || h.hb(x, c) {
		return
	}
	for _, r := range h.reported {
		if r == x {
			return
		}
	}
	h.reported = append(h.reported, x)
	cp := h.cp
	h.c.add(cp.ids[c], VRace, "race: %s %s %s %d bytes [%d, %d) that command %d (%s) %s, and no dep or queue order puts command %d first",
		cp.engines[cp.engine[c]], cdid, unitName(levelNames[f.level]), f.unit, lo, hi, cp.ids[x], cp.engines[cp.engine[x]], xdid, cp.ids[x])
}

// hb reports whether x happens before c (x precedes c in topological order).
func (h *hazardState) hb(x, c int32) bool {
	cp := h.cp
	if cp.engine[x] == cp.engine[c] {
		return cp.qpos[x] < cp.qpos[c]
	}
	for _, e := range h.cache {
		if e.x == x {
			return e.ok
		}
	}
	ok := h.search(x, c)
	h.cache = append(h.cache, hbEntry{x, ok})
	return ok
}

func (h *hazardState) search(x, c int32) bool {
	cp := h.cp
	start, end := h.res.Start, h.res.End
	if end[x] > start[c] {
		return false
	}
	ex, qx, tx, endx := cp.engine[x], cp.qpos[x], cp.topo[x], end[x]
	h.gen++
	if h.gen == 0 {
		clear(h.stamp)
		h.gen = 1
	}
	h.stack = append(h.stack[:0], c)
	for len(h.stack) > 0 {
		y := h.stack[len(h.stack)-1]
		h.stack = h.stack[:len(h.stack)-1]
		for _, p := range cp.preds[cp.predOff[y]:cp.predOff[y+1]] {
			if p == x {
				return true
			}
			if cp.engine[p] == ex {
				if cp.qpos[p] > qx {
					return true
				}
				continue
			}
			if cp.topo[p] < tx || start[p] < endx || h.stamp[p] == h.gen {
				continue
			}
			h.stamp[p] = h.gen
			h.stack = append(h.stack, p)
		}
	}
	return false
}
