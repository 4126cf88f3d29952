package alloc

import (
	"fmt"
	"sort"
)

// Buffer is one block of memory with a lifetime.
//
// Invariants (checked by Problem.Validate): ID is non-empty and unique within a
// problem; Lower < Upper; Size >= 0; Alignment >= 1 (0 in a literal means 1).
type Buffer struct {
	ID        string // name, unique within the problem
	Lower     int64  // first time step at which the buffer is live
	Upper     int64  // first time step at which it is no longer live (half-open)
	Size      int64  // bytes
	Alignment int64  // the offset must be a multiple of this; 0 or 1 means none
}

// Align returns the buffer's effective alignment (at least 1).
func (b Buffer) Align() int64 {
	if b.Alignment < 1 {
		return 1
	}
	return b.Alignment
}

// Overlaps reports whether the lifetimes of a and b intersect.
func (b Buffer) Overlaps(o Buffer) bool { return b.Lower < o.Upper && o.Lower < b.Upper }

// Problem is a set of buffers to place into Capacity bytes. Capacity 0 means
// "unbounded" (the caller minimizes the peak instead).
type Problem struct {
	Buffers  []Buffer
	Capacity int64
}

// Validate checks the invariants of every buffer and of the capacity.
func (p *Problem) Validate() error {
	if p.Capacity < 0 {
		return fmt.Errorf("capacity %d is negative", p.Capacity)
	}
	seen := make(map[string]int, len(p.Buffers))
	for i, b := range p.Buffers {
		if err := b.validate(); err != nil {
			return fmt.Errorf("buffer %d (id %q): %w", i, b.ID, err)
		}
		if j, dup := seen[b.ID]; dup {
			return fmt.Errorf("buffer %d: id %q duplicates buffer %d", i, b.ID, j)
		}
		seen[b.ID] = i
	}
	return nil
}

func (b Buffer) validate() error {
	switch {
	case b.ID == "":
		return fmt.Errorf("id is empty")
	case b.Upper <= b.Lower:
		return fmt.Errorf("upper %d must be greater than lower %d", b.Upper, b.Lower)
	case b.Size < 0:
		return fmt.Errorf("size %d is negative", b.Size)
	case b.Alignment < 0:
		return fmt.Errorf("alignment %d is negative", b.Alignment)
	}
	return nil
}

// Conflict describes why an assignment of offsets is illegal.
type Conflict struct {
	A, B   int    // buffer indices (B = -1 for a single-buffer violation)
	Reason string // what is wrong
}

func (c Conflict) Error() string { return c.Reason }

// Check reports whether offsets (one per buffer, same order) are a legal
// placement of p within capacity (capacity <= 0: no capacity limit): every
// offset is non-negative and aligned, every buffer ends within capacity, and
// no two buffers live at the same time share an address. The first violation
// found is returned as a *Conflict (buffers in index order, deterministic).
func (p *Problem) Check(offsets []int64, capacity int64) error {
	if len(offsets) != len(p.Buffers) {
		return fmt.Errorf("%d offsets for %d buffers", len(offsets), len(p.Buffers))
	}
	for i, b := range p.Buffers {
		o := offsets[i]
		switch {
		case o < 0:
			return &Conflict{A: i, B: -1, Reason: fmt.Sprintf("buffer %q: offset %d is negative", b.ID, o)}
		case o%b.Align() != 0:
			return &Conflict{A: i, B: -1, Reason: fmt.Sprintf("buffer %q: offset %d is not a multiple of its alignment %d", b.ID, o, b.Align())}
		case capacity > 0 && o+b.Size > capacity:
			return &Conflict{A: i, B: -1, Reason: fmt.Sprintf("buffer %q: end %d exceeds capacity %d", b.ID, o+b.Size, capacity)}
		}
	}
	// Sweep over time: sort by lower bound, compare each buffer with the ones
	// still live when it starts.
	order := make([]int, len(p.Buffers))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(x, y int) bool { return p.Buffers[order[x]].Lower < p.Buffers[order[y]].Lower })
	var live []int
	for _, i := range order {
		b := p.Buffers[i]
		kept := live[:0]
		for _, j := range live {
			if p.Buffers[j].Upper > b.Lower {
				kept = append(kept, j)
			}
		}
		live = kept
		if b.Size > 0 {
			for _, j := range live {
				o := p.Buffers[j]
				if o.Size == 0 {
					continue
				}
				if offsets[i] < offsets[j]+o.Size && offsets[j] < offsets[i]+b.Size {
					a, c := i, j
					if c < a {
						a, c = c, a
					}
					return &Conflict{A: a, B: c, Reason: fmt.Sprintf("buffers %q [%d,%d) and %q [%d,%d) are live together and overlap in address",
						p.Buffers[a].ID, offsets[a], offsets[a]+p.Buffers[a].Size, p.Buffers[c].ID, offsets[c], offsets[c]+p.Buffers[c].Size)}
				}
			}
		}
		live = append(live, i)
	}
	return nil
}

// Peak returns the highest address used by a placement: max(offset + size).
func (p *Problem) Peak(offsets []int64) int64 {
	var peak int64
	for i, b := range p.Buffers {
		if e := offsets[i] + b.Size; e > peak {
			peak = e
		}
	}
	return peak
}

// PeakLoad returns the largest total size of buffers live at one time step: a
// lower bound on the capacity any placement needs. It also returns a time at
// which that load is reached (the smallest such time).
func (p *Problem) PeakLoad() (load int64, at int64) {
	type event struct {
		t     int64
		delta int64
	}
	ev := make([]event, 0, 2*len(p.Buffers))
	for _, b := range p.Buffers {
		ev = append(ev, event{b.Lower, b.Size}, event{b.Upper, -b.Size})
	}
	// At equal times, ends come before starts (half-open lifetimes).
	sort.Slice(ev, func(i, j int) bool {
		if ev[i].t != ev[j].t {
			return ev[i].t < ev[j].t
		}
		return ev[i].delta < ev[j].delta
	})
	var cur int64
	for i := 0; i < len(ev); {
		t := ev[i].t
		for i < len(ev) && ev[i].t == t {
			cur += ev[i].delta
			i++
		}
		if cur > load {
			load, at = cur, t
		}
	}
	return load, at
}
