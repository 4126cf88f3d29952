package lowering

import (
	"context"
	"fmt"
	"strings"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// HomeError says why the lowering could not stripe the homes of resident
// tensors Tensors (docs/graph-schedules.md §6): their accesses leave no
// cuts within the tiles their homes reserve. Err is the first tensor's
// reason. The graph search then keeps those tensors out of L3.
type HomeError struct {
	Tensors []string
	Err     error
}

func (e *HomeError) Error() string {
	return fmt.Sprintf("striped L3 home of %q: %v", strings.Join(e.Tensors, `", "`), e.Err)
}

func (e *HomeError) Unwrap() error { return e.Err }

// HomeTensors names the tensors (graph.Options.Check keeps them in DRAM).
func (e *HomeError) HomeTensors() []string { return e.Tensors }

// CheckSchedule reports whether gs lowers (LowerGraphSchedule); a striped
// home it cannot cut is a *HomeError. It is graph.Options.Check.
func CheckSchedule(g *model.Graph, cfg *kpu.Config) func(ctx context.Context, gs *model.GraphSchedule) error {
	return func(ctx context.Context, gs *model.GraphSchedule) error {
		_, err := LowerGraphSchedule(ctx, g, gs, cfg)
		return err
	}
}

// homeRef is one L3 access of a command to a striped home, at byte off of
// the tensor's storage (the steps address the home as one flat range from
// its start, tile boundaries ignored, until stripeHomes rewrites them).
type homeRef struct {
	cmd  int
	slot int // 0 Src, 1 Src2, 2 Dst
	off  int64
}

// accessExtent is the number of bytes from a's first byte to one past its
// last (kpu's rule: dense row-major without strides).
func accessExtent(a *kpu.Access, def model.DType) int64 {
	dt := a.DType
	if dt == "" {
		dt = def
	}
	e := dt.Size()
	ext := e
	dense := e
	for i := len(a.Shape) - 1; i >= 0; i-- {
		s := dense
		if len(a.Strides) == len(a.Shape) {
			s = a.Strides[i]
		}
		ext += (a.Shape[i] - 1) * s
		dense = s * a.Shape[i]
	}
	return ext
}

// stripeHomes cuts every striped home (a resident tensor larger than one L3
// tile) into stripes no access crosses (constraints.StripeCuts over every
// access the steps of its lifetime emit) and rewrites those accesses: byte
// x of the tensor, in the stripe starting at byte c_i, lives at offset x -
// c_i of the home's i-th tile. steps[i] is the range of command indices of
// schedule step i.
func (b *Builder) stripeHomes(h *residentHomes, steps [][2]int) error {
	cfg := b.cfg
	tb := cfg.L3TileBytes
	cmds := b.prog.Commands
	var bad *HomeError
	fail := func(tensor string, err error) {
		if bad == nil {
			bad = &HomeError{Err: err}
		}
		bad.Tensors = append(bad.Tensors, tensor)
	}
spans:
	for _, r := range h.spans {
		k := constraints.StripedHomeTiles(r.Bytes, cfg)
		if k == 0 {
			continue
		}
		var refs []homeRef
		var ext []constraints.L3Range
		for i := r.First; i <= r.Last && i < len(steps); i++ {
			for ci := steps[i][0]; ci < steps[i][1]; ci++ {
				c := &cmds[ci]
				for slot, a := range []*kpu.Access{c.Src, c.Src2, c.Dst} {
					if a == nil || a.Level != kpu.L3 {
						continue
					}
					flat := int64(a.Unit)*tb + a.Addr
					if flat < r.L3Offset || flat >= r.L3Offset+r.Bytes {
						continue
					}
					off := flat - r.L3Offset
					refs = append(refs, homeRef{cmd: ci, slot: slot, off: off})
					ext = append(ext, constraints.L3Range{Start: off, End: off + accessExtent(a, c.DType)})
				}
			}
		}
		cuts, err := constraints.StripeCuts(r.Bytes, tb, int(k), ext)
		if err != nil {
			fail(r.Tensor, err)
			continue
		}
		for j, ref := range refs {
			s := 0
			for s+1 < len(cuts) && cuts[s+1] <= ref.off {
				s++
			}
			if s+1 < len(cuts) && ext[j].End > cuts[s+1] {
				fail(r.Tensor, fmt.Errorf("access [%d, %d) crosses the cut at %d", ext[j].Start, ext[j].End, cuts[s+1]))
				continue spans
			}
			flat := r.L3Offset + int64(s)*tb + ref.off - cuts[s]
			c := &cmds[ref.cmd]
			p := [3]**kpu.Access{&c.Src, &c.Src2, &c.Dst}[ref.slot]
			na := **p
			na.Unit, na.Addr = int(flat/tb), flat%tb
			*p = &na
		}
	}
	if bad != nil {
		return bad
	}
	return nil
}
