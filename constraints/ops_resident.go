package constraints

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// ErrResidentUnsupported marks a residency a vector plan cannot realize.
var ErrResidentUnsupported = errors.New("residency not supported for this operator stream")

// newResidentOpts marks the resident operands and measures the free L3.
func newResidentOpts(cfg *kpu.Config, homes map[int]int64, reserved []L3Range) *residentOpts {
	ro := &residentOpts{home: map[int]bool{}, holes: l3Holes(cfg, reserved)}
	for t := range homes {
		ro.home[t] = true
	}
	return ro
}

// PlanOpResident is PlanOp with some operands resident in L3: homes maps an
// operand index (OpPlan.Operands) to the flat L3 address of its home
// (tile*L3TileBytes + offset; the tensor in its storage order, in one L3
// tile), and reserved are the L3 ranges of every resident tensor live during
// the operator. The resident operands get no L3 staging and the job size is
// chosen so that the rest fits, per L3 tile, in the largest run of L3 clear
// of the reserved ranges; then ResidentPlan rewrites the stream. Its Cost
// is exact for the lowering; the job size depends on the reserved ranges.
func PlanOpResident(ctx context.Context, g *model.Graph, op *model.Operator, cfg *kpu.Config, homes map[int]int64, reserved []L3Range) (*OpPlan, error) {
	if len(homes) == 0 && len(reserved) == 0 {
		return PlanOp(ctx, g, op, cfg)
	}
	plan, err := planOp(ctx, g, op, cfg, newResidentOpts(cfg, homes, reserved))
	if err != nil {
		return nil, err
	}
	if plan.Alias {
		return plan, nil
	}
	return ResidentPlan(plan, cfg, homes, reserved)
}

// ResidentPlan rewrites a vector plan for resident operands
// (docs/graph-schedules.md, "Residency"): the DMA load of a resident input
// is dropped and the command reading its staging slot reads the home with
// the load's DRAM pattern instead; the DMA store of a resident output is
// dropped and the command writing its staging slot writes the home with the
// store's pattern. A DMA-only job (a strided copy) between two resident
// tensors becomes a BlockMover gather into an L2 buffer and a scatter out
// of it. Dependencies on a dropped command pass to its own dependencies.
// The remaining L3 staging of each L3 tile is shifted, as one span, to the
// lowest place that overlaps no reserved range (an *InfeasibleError when
// none is left). The result's Cost is the exact cost of what the lowering
// emits.
func ResidentPlan(plan *OpPlan, cfg *kpu.Config, homes map[int]int64, reserved []L3Range) (*OpPlan, error) {
	toHome := func(a *kpu.Access, flat int64) *kpu.Access {
		c := *a
		f := flat + a.Addr
		c.Level, c.Unit, c.Addr = kpu.L3, int(f/cfg.L3TileBytes), f%cfg.L3TileBytes
		return &c
	}
	n := len(plan.Cmds)
	cmds := make([]OpCmd, n)
	copy(cmds, plan.Cmds)
	drop := make([]bool, n)
	pairs := 0               // strided copies between resident tensors so far
	lastUse := map[int]int{} // L2 buffer -> its last scatter
	var slot int64           // L2 buffer size: the largest load's
	for i := range cmds {
		if c := &cmds[i]; c.Op == kpu.OpLoad && c.Dst != nil {
			slot = max(slot, alignUp(accessElems(c.Dst)*c.Dst.DType.Size(), opAlign))
		}
	}
	for i := range cmds {
		c := &cmds[i]
		switch {
		case c.Op == kpu.OpLoad && c.SrcT >= 0:
			if _, ok := homes[c.SrcT]; ok {
				drop[i] = true
			}
		case c.Op == kpu.OpStore && c.DstT >= 0:
			flat, ok := homes[c.DstT]
			if !ok {
				continue
			}
			if len(c.Deps) != 1 || cmds[c.Deps[0]].Dst == nil || cmds[c.Deps[0]].Dst.Level != kpu.L3 {
				return nil, fmt.Errorf("operator %s: command %d stores resident %q from no single writer: %w", plan.Op, i, plan.Operands[c.DstT], ErrResidentUnsupported)
			}
			w := c.Deps[0]
			if drop[w] {
				// a strided copy between two resident tensors
				if err := viaL2(cfg, cmds, w, i, pairs, slot, lastUse, toHome(cmds[w].Src, homes[cmds[w].SrcT]), toHome(c.Dst, flat)); err != nil {
					return nil, fmt.Errorf("operator %s: %w", plan.Op, err)
				}
				pairs++
				drop[w] = false
				cmds[w].SrcHome, cmds[w].SrcT = cmds[w].SrcT+1, -1
				cmds[i].DstHome, cmds[i].DstT = c.DstT+1, -1
				continue
			}
			cmds[w].Dst = toHome(c.Dst, flat)
			cmds[w].DstHome = c.DstT + 1
			drop[i] = true
		}
	}
	for i := range cmds {
		c := &cmds[i]
		if drop[i] || c.Src == nil || c.Src.Level != kpu.L3 || c.SrcHome > 0 {
			continue
		}
		for _, d := range c.Deps {
			if !drop[d] || cmds[d].Op != kpu.OpLoad {
				continue
			}
			ld := &cmds[d]
			if ld.Dst.Unit != c.Src.Unit || ld.Dst.Addr != c.Src.Addr {
				return nil, fmt.Errorf("operator %s: command %d reads part of resident %q's staging: %w", plan.Op, i, plan.Operands[ld.SrcT], ErrResidentUnsupported)
			}
			c.Src = toHome(ld.Src, homes[ld.SrcT])
			c.SrcHome = ld.SrcT + 1
		}
	}
	// the staging left, per L3 tile
	lo, hi := map[int]int64{}, map[int]int64{}
	staging := func(a *kpu.Access) bool { return a != nil && a.Level == kpu.L3 }
	for i := range cmds {
		c := &cmds[i]
		if drop[i] {
			continue
		}
		for _, a := range []*kpu.Access{c.Src, c.Src2, c.Dst} {
			if !staging(a) || a == c.Src && c.SrcHome > 0 || a == c.Dst && c.DstHome > 0 {
				continue
			}
			end := a.Addr + accessElems(a)*a.DType.Size()
			if l, ok := lo[a.Unit]; !ok || a.Addr < l {
				lo[a.Unit] = a.Addr
			}
			hi[a.Unit] = max(hi[a.Unit], end)
		}
	}
	shift := map[int]int64{}
	for u := 0; u < cfg.L3Tiles; u++ {
		l, ok := lo[u]
		if !ok {
			continue
		}
		base := int64(u) * cfg.L3TileBytes
		d := -l
		for moved := true; moved; {
			moved = false
			for _, r := range reserved {
				if r.Start < base+hi[u]+d && base+l+d < r.End {
					d = alignUp(r.End-base, opAlign) - l
					moved = true
				}
			}
		}
		if hi[u]+d > cfg.L3TileBytes {
			return nil, &InfeasibleError{Problem: plan.Op, Shortfall: Shortfall{Level: "l3", What: fmt.Sprintf("the L3 staging of %s in L3 tile %d beside the resident tensors", plan.Op, u), Need: hi[u] - l, Have: cfg.L3TileBytes}}
		}
		shift[u] = d
	}
	move := func(a *kpu.Access, home bool) *kpu.Access {
		if !staging(a) || home {
			return a
		}
		c := *a
		c.Addr += shift[a.Unit]
		return &c
	}
	// renumber, forwarding the dependencies of dropped commands
	out := *plan
	out.Cmds = make([]OpCmd, 0, n)
	ids := make([]int, n)
	fwd := make([][]int, n)
	for i := range cmds {
		c := cmds[i]
		var deps []int
		for _, d := range c.Deps {
			if d >= i {
				return nil, fmt.Errorf("operator %s: command %d depends on later command %d", plan.Op, i, d)
			}
			if drop[d] {
				deps = append(deps, fwd[d]...)
			} else {
				deps = append(deps, ids[d])
			}
		}
		if drop[i] {
			fwd[i], ids[i] = deps, -1
			continue
		}
		c.Src, c.Src2, c.Dst = move(c.Src, c.SrcHome > 0), move(c.Src2, false), move(c.Dst, c.DstHome > 0)
		c.Deps = uniqueInts(deps)
		ids[i] = len(out.Cmds)
		c.ID = ids[i]
		out.Cmds = append(out.Cmds, c)
	}
	return &out, nil
}

func uniqueInts(s []int) []int {
	if len(s) == 0 {
		return nil
	}
	seen := map[int]bool{}
	out := make([]int, 0, len(s))
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// viaL2 turns the DMA load w and store st of the k-th DMA-only job whose
// input and output are both resident into BlockMover moves through an L2
// buffer: w gathers from the input's home (src) into it, st scatters it to
// the output's home (dst). The buffers are bank 0 of every compute tile,
// each cut into slots of size bytes (the largest job's); job k takes buffer k mod their
// number, and its gather waits for the last scatter out of that buffer
// (lastUse).
func viaL2(cfg *kpu.Config, cmds []OpCmd, w, st, k int, size int64, lastUse map[int]int, src, dst *kpu.Access) error {
	ld := &cmds[w]
	tiles := max(cfg.ComputeTiles, 1)
	per := int(cfg.L2BankBytes / size)
	if per < 1 {
		return fmt.Errorf("an L2 buffer of %d B for a strided copy between resident tensors exceeds an L2 bank of %d B: %w", size, cfg.L2BankBytes, ErrResidentUnsupported)
	}
	q := k % (tiles * per)
	tile := q % tiles
	buf := &kpu.Access{Level: kpu.L2, Unit: tile * cfg.L2BanksPerTile(), Addr: int64(q/tiles) * size, Shape: ld.Dst.Shape, DType: ld.Dst.DType}
	bm := kpu.Engine{Kind: kpu.BlockMover, Index: tile % cfg.BlockMovers}
	ld.Op, ld.Engine, ld.Src, ld.Dst = kpu.OpMove, bm, src, buf
	if prev, ok := lastUse[q]; ok {
		if prev >= w {
			return fmt.Errorf("L2 holds %d buffers of %d B for a strided copy between resident tensors, fewer than two rounds of jobs: %w", tiles*per, size, ErrResidentUnsupported)
		}
		ld.Deps = append(append([]int(nil), ld.Deps...), prev)
	}
	s := &cmds[st]
	s.Op, s.Engine, s.Src, s.Dst = kpu.OpMove, bm, buf, dst
	lastUse[q] = st
	return nil
}

// BiasOnDrainResident is BiasOnDrain with the mapping's buffers placed
// under residency r: the bias's drain work when its constant fits beside
// them and clear of r.Reserved (nil, nil without a bias), else an
// *InfeasibleError (the bias then takes a separate pass, PlanBias with
// ResidentPlan).
func BiasOnDrainResident(g *model.Graph, op *model.Operator, m model.Mapping, cfg *kpu.Config, r Residency) (*Fused, error) {
	return biasOnDrain(g, op, cfg, func(p Problem) (*Placement, error) { return PlaceResident(p, m, cfg, r) })
}

// GEMMStepResident is the exact cost of a GEMM step of a graph schedule
// with resident operands, as the whole-graph lowering emits it: op with the
// fused chain (or its bias on the drain when it fits, else a separate bias
// pass after it, in place on the output: in its L3 home homeC when C is
// resident) under residency r. homeC is the flat L3 address of C's home
// (ignored unless r.C).
func GEMMStepResident(ctx context.Context, g *model.Graph, op *model.Operator, chain []*model.Operator, m model.Mapping, cfg *kpu.Config, r Residency, homeC int64) (*Cost, error) {
	var f *Fused
	var err error
	bias := false
	switch {
	case len(chain) > 0:
		if f, err = NewFused(g, op, chain); err != nil {
			return nil, err
		}
	case len(op.Inputs) == 3:
		f, err = BiasOnDrainResident(g, op, m, cfg, r)
		if err != nil && !IsInfeasible(err) {
			return nil, err
		}
		bias = err != nil
	}
	c, err := EvaluateGEMMOpResident(ctx, g, op, m, f, cfg, r)
	if err != nil || !bias {
		return c, err
	}
	plan, err := BiasPlanResident(ctx, g, op, cfg, r, homeC)
	if err != nil {
		return nil, err
	}
	bc, err := plan.Cost(cfg)
	if err != nil {
		return nil, err
	}
	c.LatencyCycles += bc.Cycles
	c.EnergyPJ += bc.EnergyPJ
	c.DRAMBytes += bc.Bytes.DRAM()
	b := &c.Bytes
	b.DRAMRead, b.DRAMWrite = b.DRAMRead+bc.Bytes.DRAMRead, b.DRAMWrite+bc.Bytes.DRAMWrite
	b.L3Read, b.L3Write = b.L3Read+bc.Bytes.L3Read, b.L3Write+bc.Bytes.L3Write
	b.L2Read, b.L2Write = b.L2Read+bc.Bytes.L2Read, b.L2Write+bc.Bytes.L2Write
	b.L1Read, b.L1Write = b.L1Read+bc.Bytes.L1Read, b.L1Write+bc.Bytes.L1Write
	c.Commands += bc.Commands
	return c, nil
}

// BiasPlanResident is PlanBias with the output resident at homeC when r.C,
// its staging clear of r.Reserved.
func BiasPlanResident(ctx context.Context, g *model.Graph, op *model.Operator, cfg *kpu.Config, r Residency, homeC int64) (*OpPlan, error) {
	homes := map[int]int64{}
	if r.C {
		homes[0], homes[2] = homeC, homeC
	}
	if len(homes) == 0 && len(r.Reserved) == 0 {
		return PlanBias(ctx, g, op, cfg)
	}
	plan, err := planBias(ctx, g, op, cfg, newResidentOpts(cfg, homes, r.Reserved))
	if err != nil {
		return nil, err
	}
	return ResidentPlan(plan, cfg, homes, r.Reserved)
}

// residentOpts are the resident operands of a vector plan (operand index)
// and, per L3 tile, the largest run of bytes clear of the reserved ranges.
type residentOpts struct {
	home  map[int]bool
	holes []int64
}

// units chooses the L3 tiles that hold the staging of used compute tiles
// and the bytes each compute tile's staging may take: the k tiles with the
// largest holes, k maximizing hole_k / ceil(used/k) (the larger k on ties;
// ties between tiles go to the lower index).
func (ro *residentOpts) units(used int) ([]int, int64) {
	ord := make([]int, len(ro.holes))
	for i := range ord {
		ord[i] = i
	}
	sort.SliceStable(ord, func(a, b int) bool { return ro.holes[ord[a]] > ro.holes[ord[b]] })
	bestK, best := 1, int64(-1)
	for k := 1; k <= len(ord); k++ {
		share := int64((used + k - 1) / k)
		if per := ro.holes[ord[k-1]] / share / opAlign * opAlign; per >= best {
			bestK, best = k, per
		}
	}
	return ord[:bestK], max(best, 0)
}

// resident reports whether input i of the pipeline's jobs is resident.
func (p *pipeline) resident(i int) bool {
	if p.res == nil || len(p.jobs) == 0 || i >= len(p.jobs[0].ins) {
		return false
	}
	return p.res.home[p.jobs[0].ins[i].t]
}

// residentOut reports whether the pipeline's output is resident.
func (p *pipeline) residentOut() bool {
	return p.res != nil && len(p.jobs) > 0 && p.res.home[p.jobs[0].out.t]
}

// l3Holes is, per L3 tile, the largest run of bytes clear of the reserved
// ranges starting at an aligned offset (rounded down to the alignment).
func l3Holes(cfg *kpu.Config, reserved []L3Range) []int64 {
	out := make([]int64, cfg.L3Tiles)
	for t := range out {
		base, end := int64(t)*cfg.L3TileBytes, int64(t+1)*cfg.L3TileBytes
		best, at := int64(0), base
		for at < end {
			next := end
			skip := int64(-1)
			for _, r := range reserved {
				if r.End > at && r.Start < next {
					if r.Start <= at {
						skip = max(skip, r.End)
					} else {
						next = r.Start
					}
				}
			}
			if skip >= 0 {
				at = base + alignUp(min(skip, end)-base, opAlign)
				continue
			}
			best = max(best, next-at)
			at = next
		}
		out[t] = best / opAlign * opAlign
	}
	return out
}
