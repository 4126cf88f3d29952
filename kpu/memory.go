package kpu

import "math/bits"

// Memories are byte-addressable and sparse: each unit (DRAM channel, L3
// tile, L2 bank, L1 buffer) is split into pages allocated on first touch, so
// a large DRAM costs only what a program uses. Each page also carries a
// bitmap of the bytes ever written, for the uninitialized-read check.
const (
	pageShift = 16
	pageSize  = 1 << pageShift
	pageMask  = pageSize - 1
)

// unitMem is one memory unit.
type unitMem struct {
	capacity int64
	data     [][]byte   // page -> bytes (functional mode only)
	written  [][]uint64 // page -> one bit per byte
}

func newUnitMem(capacity int64) *unitMem {
	pages := (capacity + pageSize - 1) >> pageShift
	return &unitMem{capacity: capacity, data: make([][]byte, pages), written: make([][]uint64, pages)}
}

// bytesAt returns the page slice holding addr, at most n bytes long,
// allocating the page.
func (m *unitMem) bytesAt(addr int64, n int64) []byte {
	p := addr >> pageShift
	pg := m.data[p]
	if pg == nil {
		pg = make([]byte, pageSize)
		m.data[p] = pg
	}
	off := addr & pageMask
	end := off + n
	if end > pageSize {
		end = pageSize
	}
	return pg[off:end]
}

// read copies len(dst) bytes at addr into dst (unwritten bytes read as 0).
func (m *unitMem) read(addr int64, dst []byte) {
	for len(dst) > 0 {
		src := m.bytesAt(addr, int64(len(dst)))
		k := copy(dst, src)
		dst = dst[k:]
		addr += int64(k)
	}
}

// write copies src to addr.
func (m *unitMem) write(addr int64, src []byte) {
	for len(src) > 0 {
		dst := m.bytesAt(addr, int64(len(src)))
		k := copy(dst, src)
		src = src[k:]
		addr += int64(k)
	}
}

func (m *unitMem) bitmap(p int64) []uint64 {
	w := m.written[p]
	if w == nil {
		w = make([]uint64, pageSize/64)
		m.written[p] = w
	}
	return w
}

// markWritten records bytes [lo, hi) as written.
func (m *unitMem) markWritten(lo, hi int64) {
	for lo < hi {
		p := lo >> pageShift
		end := min(hi, (p+1)<<pageShift)
		setBits(m.bitmap(p), lo&pageMask, end-(p<<pageShift))
		lo = end
	}
}

// firstUnwritten returns the first byte of [lo, hi) never written, and the
// end of that unwritten stretch within [lo, hi) (at most 1 MiB is scanned); ok is false when all are written.
func (m *unitMem) firstUnwritten(lo, hi int64) (from, to int64, ok bool) {
	for a := lo; a < hi; {
		p := a >> pageShift
		end := min(hi, (p+1)<<pageShift)
		w := m.written[p]
		base := p << pageShift
		var off int64
		if w == nil {
			off = a - base
		} else {
			off = firstClear(w, a-base, end-base)
		}
		if off < end-base {
			from = base + off
			to = from
			for to < hi && to-from < 1<<20 && !m.isWritten(to) {
				to++
			}
			return from, to, true
		}
		a = end
	}
	return 0, 0, false
}

func (m *unitMem) isWritten(a int64) bool {
	w := m.written[a>>pageShift]
	if w == nil {
		return false
	}
	off := a & pageMask
	return w[off>>6]&(1<<(off&63)) != 0
}

// setBits sets bits [lo, hi) of w.
func setBits(w []uint64, lo, hi int64) {
	for lo < hi {
		i := lo >> 6
		b := lo & 63
		if b == 0 && hi-lo >= 64 {
			w[i] = ^uint64(0)
			lo += 64
			continue
		}
		n := min(64-b, hi-lo)
		w[i] |= (uint64(1)<<n - 1) << b // n < 64 here
		lo += n
	}
}

// firstClear returns the first clear bit in [lo, hi) of w, or hi.
func firstClear(w []uint64, lo, hi int64) int64 {
	for lo < hi {
		i := lo >> 6
		b := lo & 63
		x := ^w[i] >> b
		if x != 0 {
			pos := lo + int64(bits.TrailingZeros64(x))
			if pos < hi {
				return pos
			}
			return hi
		}
		lo = (i + 1) << 6
	}
	return hi
}

// memory is the whole machine's storage, indexed by global unit.
type memory struct {
	cp    *compiled
	units []*unitMem
}

func newMemory(cp *compiled) *memory {
	return &memory{cp: cp, units: make([]*unitMem, cp.units)}
}

func (mem *memory) unit(g int) *unitMem {
	u := mem.units[g]
	if u == nil {
		lvl := 3
		for lvl > 0 && g < mem.cp.unitBase[lvl] {
			lvl--
		}
		u = newUnitMem(mem.cp.unitCap[lvl])
		mem.units[g] = u
	}
	return u
}
