package lowering

import (
	"fmt"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// l3Home is where an L3-resident tensor lives while it is resident: its
// bytes in storage order (the layout it would have in DRAM) from flat L3
// address flat (tile*L3TileBytes + offset), inside one L3 tile; a striped
// home is addressed here as one flat range, and stripeHomes then moves
// every access into its stripe.
type l3Home struct {
	tensor string
	flat   int64
	mat    *matrix // the operand's view of the tensor (GEMM lowering)
}

// access is the L3 side of block blk of the operand whose home h is: the
// block's DRAM access pattern under the tensor's storage, moved to the home.
func (h *l3Home) access(cfg *kpu.Config, blk constraints.Block, dt model.DType) *kpu.Access {
	a := h.mat.access(blk.Batch, blk.Row, blk.Col, blk.Rows, blk.Cols)
	flat := h.flat + a.Addr - h.mat.place.Addr
	a.Level, a.Unit, a.Addr, a.DType = kpu.L3, int(flat/cfg.L3TileBytes), flat%cfg.L3TileBytes, dt
	return a
}

// gemmResidency is what a graph schedule keeps in L3 for one GEMM step:
// the resident operands with their homes (flat L3 offsets, -1 when not
// resident) and every resident tensor's range live during the step.
type gemmResidency struct {
	r    constraints.Residency
	home [3]int64
	name [3]string
}

// setHomes points the resident operands of l at their homes; out is the
// matrix the final C blocks go to (the fused chain's output).
func (l *gemmLowering) setHomes(res *gemmResidency, out *matrix) error {
	mats := [3]*matrix{&l.gop.a, &l.gop.b, out}
	for x := constraints.OpA; x <= constraints.OpC; x++ {
		if res.home[x] < 0 {
			continue
		}
		l.home[x] = &l3Home{tensor: res.name[x], flat: res.home[x], mat: mats[x]}
	}
	if l.home[constraints.OpC] != nil {
		// partial sums stay in the home: they must have its element size
		m := l.gop.m
		split := m.L3.K < l.gop.p.K || m.Split.K > 1
		if split && l.gop.p.DType.Accumulator().Size() != out.place.DType.Size() {
			return fmt.Errorf("resident output %q (%s) cannot hold the %s partial sums of a K-split mapping: %w", out.tensor, out.place.DType, l.gop.p.DType.Accumulator(), ErrUnsupported)
		}
	}
	return nil
}

// wroteHome records move id as a write of the resident C tensor.
func (l *gemmLowering) wroteHome(id int) {
	if h := l.home[constraints.OpC]; h != nil {
		l.bl.Wrote(h.tensor, id)
	}
}

// lastOfEngines is the last command of every engine so far, sorted.
func (bl *Builder) lastOfEngines() []int {
	last := map[kpu.Engine]int{}
	for i := range bl.prog.Commands {
		c := &bl.prog.Commands[i]
		last[c.Engine] = c.ID
	}
	ids := make([]int, 0, len(last))
	for _, id := range last {
		ids = append(ids, id)
	}
	sortInts(ids)
	return ids
}

// residentHomes are the L3 homes of a graph schedule's resident tensors
// (aliases included) and their lifetimes.
type residentHomes struct {
	flat  map[string]int64
	spans []model.ResidentTensor
	cfg   *kpu.Config
}

// newResidentHomes checks the schedule's resident tensors and fixes their
// homes: planned (an L3 offset) and within L3. An access of the simulator
// never spans two L3 tiles (docs/graph-schedules.md, section 6): a home
// lies inside one L3 tile, and a planned home that crosses a tile boundary
// is moved to the lowest offset inside one tile that no other resident
// tensor live at the same time uses (in order of First; an error when
// none); a tensor larger than an L3 tile has a striped home, from the start
// of an L3 tile over constraints.StripedHomeTiles whole tiles (stripeHomes
// cuts it).
func newResidentHomes(gs *model.GraphSchedule, cfg *kpu.Config) (*residentHomes, error) {
	h := &residentHomes{flat: map[string]int64{}, cfg: cfg}
	tb := cfg.L3TileBytes
	spans := append([]model.ResidentTensor(nil), gs.Resident...)
	for _, r := range spans {
		if r.L3Offset < 0 {
			return nil, fmt.Errorf("resident tensor %q has no L3 offset (the memory planner did not place it: %s)", r.Tensor, gs.L3Plan)
		}
		if hr := constraints.HomeRange(r, cfg); hr.End > cfg.L3Bytes() {
			return nil, fmt.Errorf("resident tensor %q: L3 bytes [%d, %d) beyond the %d B of L3", r.Tensor, hr.Start, hr.End, cfg.L3Bytes())
		}
		if r.Bytes > tb && r.L3Offset%tb != 0 {
			return nil, fmt.Errorf("resident tensor %q: %d B exceed one L3 tile of %d B, and its striped home at %d does not start an L3 tile: %w", r.Tensor, r.Bytes, tb, r.L3Offset, ErrUnsupported)
		}
	}
	if i := constraints.MoveHomesIntoTiles(spans, cfg); i >= 0 {
		r := &spans[i]
		return nil, fmt.Errorf("resident tensor %q (%d B): no place inside one L3 tile beside the tensors live with it: %w", r.Tensor, r.Bytes, ErrUnsupported)
	}
	for _, r := range spans {
		h.flat[r.Tensor] = r.L3Offset
		for _, a := range r.Aliases {
			h.flat[a] = r.L3Offset
		}
		h.spans = append(h.spans, r)
	}
	return h, nil
}

// live are the L3 ranges of the resident tensors live at step i.
func (h *residentHomes) live(i int) []constraints.L3Range {
	var out []constraints.L3Range
	for _, r := range h.spans {
		if r.First <= i && i <= r.Last {
			out = append(out, constraints.HomeRange(r, h.cfg))
		}
	}
	return out
}

// home is the flat L3 offset of tensor name, or -1 when it is not resident.
func (h *residentHomes) home(name string) int64 {
	if f, ok := h.flat[name]; ok {
		return f
	}
	return -1
}
