package constraints

import (
	"fmt"
	"sort"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// L2Slot is where one L2 buffer slot lives on every compute tile: a bank
// (local index within the compute tile) and a byte offset in it.
type L2Slot struct {
	Bank   int
	Offset int64
	Bytes  int64
}

// L3Item is where one group of an L3 buffer slot lives. Tile < 0 marks a
// group index that a full L3 tile does not have.
type L3Item struct {
	Tile   int
	Offset int64
	Bytes  int64
	Pitch  int64 // bytes between consecutive rows of the group (dense rows of a full L3 tile's group)
}

// Placement is the exact location of every buffer of a mapping
// (docs/mapping.md section 3).
type Placement struct {
	// L2[X][slot] for operand X and slot < L2 buffers of X.
	L2 [3][]L2Slot
	// Scratch is the reduction scratch slot (M2*N2 accumulators) of a
	// mapping that splits K across compute tiles (Split.K > 1): a tile with
	// a K part after the first brings the C3 group's running sum into it and
	// adds it to its C2 block (docs/mapping.md section 2). Bytes = 0 without
	// a K split.
	Scratch L2Slot
	// L3[X][slot][group] for operand X, slot < L3 buffers of X and group
	// index: A: pm*GA+g; B: pn*GB+g; C: ((pm*Sn+pn)*GA+gm)*GB+gn.
	L3 [3][][]L3Item
	// GA, GB are the groups per part along m and n.
	GA, GB  int64
	Summary model.Placement
	// Reserved are the L3 ranges of the resident tensors live during the
	// operator (PlaceResident): no buffer of the mapping, and no fused
	// constant (Fused.PlaceExt), lies in them.
	Reserved []L3Range
}

// Place checks every capacity of mapping m and places its buffers. It
// returns a plain error for a malformed mapping and an *InfeasibleError
// naming the short capacity otherwise.
func Place(p Problem, m model.Mapping, cfg *kpu.Config) (*Placement, error) {
	g, err := newGeom(p, m, cfg)
	if err != nil {
		return nil, err
	}
	return g.place(true)
}

// fits is the capacity check without building the placement.
func (g *geom) fits() error {
	_, err := g.place(false)
	return err
}

func (g *geom) place(build bool) (*Placement, error) { return g.placeWith(build, nil) }

func (g *geom) infeasible(s Shortfall) error {
	return &InfeasibleError{Problem: g.p.Name, Shortfall: s}
}

// l2Sizes are the byte sizes of one slot of A2, B2 and C2.
func (g *geom) l2Sizes() [3]int64 {
	m2, n2, k2 := g.tile2[0], g.tile2[1], g.tile2[2]
	return [3]int64{m2 * k2 * g.e, k2 * n2 * g.e, m2 * n2 * g.ea}
}

// placeWith places the buffers of the mapping; under residency r (nil: none)
// the resident operands get no L3 buffers and the others avoid r.Reserved.
func (g *geom) placeWith(build bool, r *Residency) (*Placement, error) {
	cfg := g.cfg
	pl := &Placement{GA: g.ga, GB: g.gb}
	sz := g.l2Sizes()
	// L1: every feed in one L1 buffer; four buffers per compute tile.
	if n := cfg.L1BuffersPerTile(); n < 4 {
		return nil, g.infeasible(Shortfall{Level: "l1", What: "the 4 feed buffers of a compute tile (A and B, double buffered)", Need: 4 * cfg.L1BufferBytes, Have: int64(n) * cfg.L1BufferBytes})
	}
	for x := OpA; x <= OpB; x++ {
		if sz[x] > cfg.L1BufferBytes {
			return nil, g.infeasible(Shortfall{Level: "l1", What: fmt.Sprintf("the %s feed of an L2 tile %dx%dx%d (one L1 buffer)", x, g.tile2[0], g.tile2[1], g.tile2[2]), Need: sz[x], Have: cfg.L1BufferBytes})
		}
	}
	// L2: first-fit decreasing, every buffer in one bank.
	banks := cfg.L2BanksPerTile()
	type buf struct {
		x    Operand
		slot int
		size int64
	}
	var bufs []buf
	var total int64
	for x := OpA; x <= OpC; x++ {
		for s := 0; s < int(g.b2[x]); s++ {
			bufs = append(bufs, buf{x, s, sz[x]})
			total += sz[x]
		}
	}
	if g.sk > 1 {
		bufs = append(bufs, buf{OpC, -1, sz[OpC]}) // the reduction scratch
		total += sz[OpC]
	}
	sort.SliceStable(bufs, func(i, j int) bool { return bufs[i].size > bufs[j].size })
	used := make([]int64, banks)
	for x := OpA; x <= OpC; x++ {
		pl.L2[x] = make([]L2Slot, g.b2[x])
	}
	for _, b := range bufs {
		name := func() string {
			if b.slot < 0 {
				return "R2 (reduction scratch)"
			}
			return fmt.Sprintf("%s2[%d]", b.x, b.slot)
		}
		if b.size > cfg.L2BankBytes {
			return nil, g.infeasible(Shortfall{Level: "l2", What: fmt.Sprintf("buffer %s of an L2 tile %dx%dx%d (one bank)", name(), g.tile2[0], g.tile2[1], g.tile2[2]), Need: b.size, Have: cfg.L2BankBytes})
		}
		placed := false
		for k := 0; k < banks; k++ {
			if used[k]+b.size <= cfg.L2BankBytes {
				if b.slot < 0 {
					pl.Scratch = L2Slot{Bank: k, Offset: used[k], Bytes: b.size}
				} else {
					pl.L2[b.x][b.slot] = L2Slot{Bank: k, Offset: used[k], Bytes: b.size}
				}
				used[k] += b.size
				placed = true
				break
			}
		}
		if !placed {
			what := fmt.Sprintf("the L2 buffers of a compute tile (A2 x%d, B2 x%d, C2 x%d, each in one bank, %d banks)", g.b2[0], g.b2[1], g.b2[2], banks)
			if g.sk > 1 {
				what = fmt.Sprintf("the L2 buffers of a compute tile (A2 x%d, B2 x%d, C2 x%d, R2 x1, each in one bank, %d banks)", g.b2[0], g.b2[1], g.b2[2], banks)
			}
			need, have := total, int64(banks)*cfg.L2BankBytes
			if need <= have {
				var free int64
				for _, u := range used {
					free = max(free, cfg.L2BankBytes-u)
				}
				what = fmt.Sprintf("buffer %s (first-fit into %d banks of a compute tile: largest free space in a bank)", name(), banks)
				need, have = b.size, free
			}
			return nil, g.infeasible(Shortfall{Level: "l2", What: what, Need: need, Have: have})
		}
	}
	// L3: next-fit of groups.
	nf := nextFit{tileBytes: cfg.L3TileBytes}
	if r != nil {
		nf.reserved = r.sortedReserved()
		pl.Reserved = nf.reserved
	}
	if build {
		nGroups := [3]int64{g.sm * g.ga, g.sn * g.gb, g.sm * g.sn * g.ga * g.gb}
		for x := OpA; x <= OpC; x++ {
			pl.L3[x] = make([][]L3Item, g.b3[x])
			for s := range pl.L3[x] {
				items := make([]L3Item, nGroups[x])
				for i := range items {
					items[i].Tile = -1
				}
				pl.L3[x][s] = items
			}
		}
	}
	var l3total int64
	for x := OpA; x <= OpC; x++ {
		if r.has(x) {
			continue
		}
		for s := 0; s < int(g.b3[x]); s++ {
			startTile, startOff := nf.tile, nf.off
			var bytes int64
			err := g.groupRuns(x, func(first, count, size, pitch int64) error {
				if size > cfg.L3TileBytes {
					return g.infeasible(Shortfall{Level: "l3", What: fmt.Sprintf("a group of buffer %s3[%d] (one L3 tile)", x, s), Need: size, Have: cfg.L3TileBytes})
				}
				bytes += count * size
				if build {
					for i := int64(0); i < count; i++ {
						t, o := nf.add(size, 1)
						pl.L3[x][s][first+i] = L3Item{Tile: t, Offset: o, Bytes: size, Pitch: pitch}
					}
				} else {
					nf.add(size, count)
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			l3total += bytes
			if build {
				pl.Summary.L3 = append(pl.Summary.L3, model.BufferPlace{Buffer: fmt.Sprintf("%s3[%d]", x, s), Unit: startTile, LastUnit: nf.tile, Offset: startOff, Bytes: bytes})
			}
		}
	}
	if nf.tile >= cfg.L3Tiles {
		need := int64(nf.tile)*cfg.L3TileBytes + nf.off
		return nil, g.infeasible(Shortfall{Level: "l3", What: fmt.Sprintf("the L3 buffers (A3 x%d, B3 x%d, C3 x%d: %d B of groups packed next-fit into %d tiles of %d B)", g.b3[0], g.b3[1], g.b3[2], l3total, cfg.L3Tiles, cfg.L3TileBytes), Need: need, Have: cfg.L3Bytes()})
	}
	if build {
		for x := OpA; x <= OpC; x++ {
			for s, sl := range pl.L2[x] {
				pl.Summary.L2 = append(pl.Summary.L2, model.BufferPlace{Buffer: fmt.Sprintf("%s2[%d]", x, s), Unit: sl.Bank, LastUnit: sl.Bank, Offset: sl.Offset, Bytes: sl.Bytes})
			}
		}
		if g.sk > 1 {
			sl := pl.Scratch
			pl.Summary.L2 = append(pl.Summary.L2, model.BufferPlace{Buffer: "R2", Unit: sl.Bank, LastUnit: sl.Bank, Offset: sl.Offset, Bytes: sl.Bytes})
		}
	}
	return pl, nil
}

// nextFit packs items into L3 tiles in order, skipping the reserved ranges
// (sorted by start, flat addresses tile*tileBytes+offset).
type nextFit struct {
	tileBytes int64
	tile      int
	off       int64
	reserved  []L3Range
}

// add places n items of size bytes (size <= tileBytes) and returns the
// position of the last one.
func (f *nextFit) add(size, n int64) (int, int64) {
	if n == 0 {
		return f.tile, f.off
	}
	if len(f.reserved) > 0 {
		var t int
		var o int64
		for i := int64(0); i < n; i++ {
			t, o = f.addOne(size)
		}
		return t, o
	}
	k := min(n, (f.tileBytes-f.off)/size)
	f.off += k * size
	n -= k
	if n == 0 {
		return f.tile, f.off - size
	}
	per := f.tileBytes / size
	f.tile += 1 + int((n-1)/per)
	f.off = ((n-1)%per + 1) * size
	return f.tile, f.off - size
}

// partLen is the length of part i of an extent cut into parts of size ps.
func partLen(extent, ps, i int64) int64 {
	return max(0, min(ps, extent-i*ps))
}

// groupRuns calls fn for the groups of one slot of operand x in a full L3
// tile, in placement order, as runs of consecutive group indices of equal size
// and row pitch. A group is dense row-major: A groups are rows x K3, B groups
// K3 x cols, C groups rows x cols (accumulator type).
func (g *geom) groupRuns(x Operand, fn func(first, count, size, pitch int64) error) error {
	m3, n3, k3 := g.tile3[0], g.tile3[1], g.tile3[2]
	m2, n2 := g.tile2[0], g.tile2[1]
	switch x {
	case OpA, OpB:
		parts, ps, ext, t2, per := g.sm, g.mp, m3, m2, g.ga
		if x == OpB {
			parts, ps, ext, t2, per = g.sn, g.np, n3, n2, g.gb
		}
		for pi := int64(0); pi < parts; pi++ {
			pl := partLen(ext, ps, pi)
			full, rem := pl/t2, pl%t2
			pf, pr := k3*g.e, k3*g.e
			if x == OpB {
				pf, pr = t2*g.e, rem*g.e
			}
			if err := fn(pi*per, full, t2*k3*g.e, pf); err != nil {
				return err
			}
			if rem > 0 {
				if err := fn(pi*per+full, 1, rem*k3*g.e, pr); err != nil {
					return err
				}
			}
		}
	case OpC:
		for pm := int64(0); pm < g.sm; pm++ {
			pr := partLen(m3, g.mp, pm)
			for pn := int64(0); pn < g.sn; pn++ {
				pc := partLen(n3, g.np, pn)
				fullN, remN := pc/n2, pc%n2
				base := (pm*g.sn + pn) * g.ga
				for gm := int64(0); gm*m2 < pr; gm++ {
					rows := min(m2, pr-gm*m2)
					first := (base + gm) * g.gb
					if err := fn(first, fullN, rows*n2*g.ea, n2*g.ea); err != nil {
						return err
					}
					if remN > 0 {
						if err := fn(first+fullN, 1, rows*remN*g.ea, remN*g.ea); err != nil {
							return err
						}
					}
				}
			}
		}
	}
	return nil
}
