package constraints

import (
	"context"
	"fmt"
	"sort"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// L3Range is a byte range [Start, End) of L3 in its flat address space: the
// byte at offset o of L3 tile t has flat address t*L3TileBytes + o (the
// memory planner's offsets, model.ResidentTensor.L3Offset, are flat).
type L3Range struct {
	Start, End int64
}

// Residency says which operands of a GEMM live in L3 for the whole operator
// (docs/graph-schedules.md, "Residency"): a resident A or B is read by the
// BlockMovers from its home (no DMA loads), a resident C is written to its
// home (no DMA stores and no DMA reloads of partial sums: they stay in the
// home between the L3 k steps). Reserved are the L3 ranges of every
// resident tensor live during the operator, the operands' homes included;
// the mapping's own buffers are placed around them.
type Residency struct {
	A, B, C  bool
	Reserved []L3Range
}

// has reports whether operand x is resident (false for a nil r).
func (r *Residency) has(x Operand) bool {
	if r == nil {
		return false
	}
	switch x {
	case OpA:
		return r.A
	case OpB:
		return r.B
	}
	return r.C
}

// Any reports whether some operand is resident.
func (r Residency) Any() bool { return r.A || r.B || r.C }

func (r *Residency) sortedReserved() []L3Range {
	out := make([]L3Range, 0, len(r.Reserved))
	for _, x := range r.Reserved {
		if x.End > x.Start {
			out = append(out, x)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Start != out[j].Start {
			return out[i].Start < out[j].Start
		}
		return out[i].End < out[j].End
	})
	return out
}

// addOne places one item of size bytes at the first position at or after
// the cursor that lies in one L3 tile and overlaps no reserved range.
func (f *nextFit) addOne(size int64) (int, int64) {
	for {
		if f.off+size > f.tileBytes {
			f.tile++
			f.off = 0
		}
		start := int64(f.tile)*f.tileBytes + f.off
		moved := false
		for _, r := range f.reserved {
			if r.Start < start+size && start < r.End {
				f.tile, f.off = int(r.End/f.tileBytes), r.End%f.tileBytes
				moved = true
				break
			}
		}
		if !moved {
			f.off += size
			return f.tile, f.off - size
		}
	}
}

// CheckResident checks mapping m of problem p under residency r: the
// mapping's legality and capacities with its L3 buffers placed around
// r.Reserved (an *InfeasibleError when they do not fit), and a resident C
// whose partial sums would need the accumulator type in a narrower home
// (an *InfeasibleError too: the home holds the output type). The graph
// search calls it to reject what the lowering cannot build.
func CheckResident(p Problem, m model.Mapping, cfg *kpu.Config, r Residency) error {
	g, err := newGeom(p, m, cfg)
	if err != nil {
		return err
	}
	return g.checkResident(&r)
}

func (g *geom) checkResident(r *Residency) error {
	if _, err := g.placeWith(false, r); err != nil {
		return err
	}
	if r.C && g.ea != g.eo && (g.t3[2] > 1 || g.sk > 1) {
		return g.infeasible(Shortfall{Level: "l3", What: fmt.Sprintf("a resident C home in %s holding %d-byte partial sums (the mapping splits K)", g.p.OutType(), g.ea), Need: g.ea, Have: g.eo})
	}
	return nil
}

// PlaceResident is Place under residency r: no L3 buffers for the resident
// operands, the others placed around r.Reserved.
func PlaceResident(p Problem, m model.Mapping, cfg *kpu.Config, r Residency) (*Placement, error) {
	g, err := newGeom(p, m, cfg)
	if err != nil {
		return nil, err
	}
	if err := g.checkResident(&r); err != nil {
		return nil, err
	}
	return g.placeWith(true, &r)
}

// ReplayResident times the stream of WalkResident with the simulator's rule
// (an engine runs its commands in program order; a command starts when its
// engine is free and its dependencies have ended) and counts its bytes per
// level, as Replay does for Walk.
func ReplayResident(ctx context.Context, p Problem, m model.Mapping, cfg *kpu.Config, r Residency) (*Trace, error) {
	nEng := cfg.DMAEngines + cfg.BlockMovers + cfg.Streamers + 2*cfg.ComputeTiles
	free := make([]int64, nEng)
	end := make([]int64, 0, 1024)
	tr := &Trace{}
	e, ea := p.ElemBytes(), p.AccBytes()
	err := WalkResident(ctx, p, m, cfg, r, func(c *Cmd) error {
		start := free[c.flat]
		for _, d := range c.Deps {
			if d >= c.ID {
				return fmt.Errorf("command %d depends on later command %d", c.ID, d)
			}
			start = max(start, end[d])
		}
		fin := start + c.Cycles
		free[c.flat] = fin
		end = append(end, fin)
		tr.Cycles = max(tr.Cycles, fin)
		tr.Bytes.account(c, e, ea)
		if c.Kind == CmdMatMul {
			tr.Bytes.L1Read += fabricRereads(cfg, c.Block.Rows, c.Block.Cols, c.KLen, e)
			tr.MACs += c.Block.Rows * c.Block.Cols * c.KLen
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	tr.Commands = len(end)
	return tr, nil
}

// ZeroBytes is the size of the zero block a convolution with a resident
// input keeps in L3 (one A2 slot): a padded A block is cleared in L2 by a
// move from it before its gathers, since a fill writes only L3.
func ZeroBytes(p Problem, m model.Mapping) int64 {
	return m.L2.M * m.L2.K * p.ElemBytes()
}

// FreeL3 finds room for n bytes in L3 beside placement pl's buffers: the
// first L3 tile whose space after its last buffer and after the ranges in
// taken holds them clear of pl.Reserved (an *InfeasibleError when none).
// It returns the L3 tile and offset.
func (pl *Placement) FreeL3(cfg *kpu.Config, n int64, taken []L3Range) (int, int64, error) {
	end := make([]int64, cfg.L3Tiles)
	for x := range pl.L3 {
		for _, slot := range pl.L3[x] {
			for _, it := range slot {
				if it.Tile >= 0 && it.Tile < len(end) {
					end[it.Tile] = max(end[it.Tile], it.Offset+it.Bytes)
				}
			}
		}
	}
	for _, r := range taken {
		t := int(r.Start / cfg.L3TileBytes)
		if t >= 0 && t < len(end) {
			end[t] = max(end[t], r.End-int64(t)*cfg.L3TileBytes)
		}
	}
	for t := range end {
		base := int64(t) * cfg.L3TileBytes
		if off := clearOf(pl.Reserved, base, alignUp(end[t], opAlign), n); off+n <= cfg.L3TileBytes {
			return t, off, nil
		}
	}
	return 0, 0, &InfeasibleError{Shortfall: Shortfall{Level: "l3", What: "a zero block beside the mapping's buffers and the resident tensors", Need: n, Have: cfg.L3TileBytes - minOf(end)}}
}
