package lowering

import (
	"context"
	"fmt"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// LowerFused appends GEMM-like operator op (MATMUL, LINEAR or CONV2D, with
// or without a bias) with its bias and the elementwise operators of chain
// run on the drain path (constraints.NewFused): the constants are loaded
// into L3 and the L2 of every compute tile in use before the GEMM's stream,
// every final C2 block gets one vector command per step in L2 before it
// moves out, and only the chain's output reaches DRAM.
// constraints.EvaluateGEMMOp with the same Fused predicts it exactly.
func (bl *Builder) LowerFused(ctx context.Context, g *model.Graph, op *model.Operator, chain []*model.Operator, m model.Mapping) error {
	f, err := constraints.NewFused(g, op, chain)
	if err != nil {
		return err
	}
	return bl.lowerGEMMOp(ctx, g, op, m, f)
}

// extLowering extends the GEMM lowering with a convolution's gathers and
// per-image C transfers (cv set) and fused drain work (f set).
type extLowering struct {
	*gemmLowering
	cv       *constraints.Conv
	f        *constraints.Fused
	ext      []constraints.ExtPlace
	extMoves [][]int // per compute tile: the moves of the constants into its L2
	out      matrix  // where final C blocks go (the chain's output when fused)
	// a convolution with a resident input: the L3 zero block padded A
	// blocks are cleared from, and its fill
	zeroTile int
	zeroOff  int64
	zeroFill int
}

// lowerGEMMOp lowers op (its first two inputs) with the extensions.
func (bl *Builder) lowerGEMMOp(ctx context.Context, g *model.Graph, op *model.Operator, m model.Mapping, f *constraints.Fused) error {
	return bl.lowerGEMMOpRes(ctx, g, op, m, f, nil)
}

// lowerGEMMOpRes is lowerGEMMOp with the operands res keeps in L3 (nil:
// none): constraints.WalkResident's stream, the mapping's buffers placed
// around the live resident tensors (constraints.PlaceResident).
func (bl *Builder) lowerGEMMOpRes(ctx context.Context, g *model.Graph, op *model.Operator, m model.Mapping, f *constraints.Fused, res *gemmResidency) error {
	core := *op
	core.Inputs = op.Inputs[:min(2, len(op.Inputs))]
	var gop *gemmOp
	var cv *constraints.Conv
	var err error
	if op.Type == model.OpConv2D || op.Type == model.OpConv2DDW {
		c, err := constraints.NewConv(g, &core)
		if err != nil {
			return err
		}
		cv = &c
		gop, err = bl.convGemmOp(g, &core, m, c)
		if err != nil {
			return err
		}
	} else if gop, err = bl.newGemmOp(g, &core, m); err != nil {
		return err
	}
	cfg := bl.cfg
	var pl *constraints.Placement
	if res != nil {
		pl, err = constraints.PlaceResident(gop.p, m, cfg, res.r)
	} else {
		pl, err = constraints.Place(gop.p, m, cfg)
	}
	if err != nil {
		return fmt.Errorf("operator %q: %w", op.Name, err)
	}
	xl := &extLowering{cv: cv, f: f, out: gop.c}
	if f != nil {
		if xl.ext, err = f.PlaceExt(pl, cfg); err != nil {
			return fmt.Errorf("operator %q: %w", op.Name, err)
		}
		inputs := graphInputs(g)
		for _, name := range f.Ext {
			t := g.Tensors[name]
			if _, err := bl.PlaceTensor(name, t.Shape, t.DType, inputs[name]); err != nil {
				return fmt.Errorf("operator %q: %w", op.Name, err)
			}
		}
		ot := g.Tensors[f.Out]
		opl, err := bl.PlaceTensor(f.Out, ot.Shape, ot.DType, false)
		if err != nil {
			return fmt.Errorf("operator %q: %w", op.Name, err)
		}
		xl.out.tensor, xl.out.place = f.Out, opl
	}
	fence := bl.beginOp()
	l := &gemmLowering{bl: bl, gop: gop, pl: pl, fence: fence, fenced: map[kpu.Engine]bool{}}
	l.e, l.ea = gop.p.ElemBytes(), gop.p.AccBytes()
	l.banksPerTile, l.l1PerTile = cfg.L2BanksPerTile(), cfg.L1BuffersPerTile()
	l.final = make([][]bool, max(m.L3Buffers.C, 1))
	for s := range l.final {
		l.final[s] = make([]bool, len(pl.L3[constraints.OpC][0]))
	}
	l.lastFinal = map[int]bool{}
	l.inDeps = [2][]int{bl.ReadDeps(gop.a.tensor), bl.ReadDeps(gop.b.tensor)}
	xl.gemmLowering = l
	if res != nil {
		if err := l.setHomes(res, &xl.out); err != nil {
			return fmt.Errorf("operator %q: %w", op.Name, err)
		}
	}
	if f != nil {
		xl.loadConstants(m.Split.M * m.Split.N)
	}
	if cv != nil && res != nil && res.r.A {
		if err := xl.fillZero(); err != nil {
			return fmt.Errorf("operator %q: %w", op.Name, err)
		}
	}
	if res != nil {
		err = constraints.WalkResident(ctx, gop.p, m, cfg, res.r, xl.visit)
	} else {
		err = constraints.Walk(ctx, gop.p, m, cfg, xl.visit)
	}
	if err != nil {
		return fmt.Errorf("operator %q: lowering: %w", op.Name, err)
	}
	return nil
}

// loadConstants emits the DMA load of every constant (engine i mod DMA
// engines) and its move into the L2 of each compute tile in use (the tile's
// first BlockMover), before the GEMM's stream.
func (xl *extLowering) loadConstants(used int) {
	l, f, cfg := xl.gemmLowering, xl.f, xl.bl.cfg
	loads := make([]int, len(f.Ext))
	for i, name := range f.Ext {
		t := l.bl.prog.Tensors[name]
		n := f.ExtBytes(i) / f.ExtDType(i).Size()
		cmd := kpu.Command{Label: l.gop.op.Name + ":" + name, Engine: kpu.Engine{Kind: kpu.DMA, Index: i % cfg.DMAEngines}, Op: kpu.OpLoad, DType: t.DType,
			Src: &kpu.Access{Level: kpu.DRAM, Unit: t.Channel, Addr: t.Addr, Shape: []int64{n}, DType: t.DType},
			Dst: &kpu.Access{Level: kpu.L3, Unit: xl.ext[i].L3Tile, Addr: xl.ext[i].L3Offset, Shape: []int64{n}, DType: t.DType}}
		loads[i] = l.emit(cmd, nil, l.bl.ReadDeps(name)...)
	}
	xl.extMoves = make([][]int, cfg.ComputeTiles)
	for tile := 0; tile < used; tile++ {
		for i, name := range f.Ext {
			t := l.bl.prog.Tensors[name]
			n := f.ExtBytes(i) / f.ExtDType(i).Size()
			cmd := kpu.Command{Label: l.gop.op.Name + ":" + name, Engine: kpu.Engine{Kind: kpu.BlockMover, Index: tile % cfg.BlockMovers}, Op: kpu.OpMove, DType: t.DType,
				Src: &kpu.Access{Level: kpu.L3, Unit: xl.ext[i].L3Tile, Addr: xl.ext[i].L3Offset, Shape: []int64{n}, DType: t.DType},
				Dst: &kpu.Access{Level: kpu.L2, Unit: tile*l.banksPerTile + xl.ext[i].L2Bank, Addr: xl.ext[i].L2Offset, Shape: []int64{n}, DType: t.DType}}
			xl.extMoves[tile] = append(xl.extMoves[tile], l.emit(cmd, nil, loads[i]))
		}
	}
}

// visit lowers what the extensions change and hands the rest to the GEMM
// lowering.
func (xl *extLowering) visit(c *constraints.Cmd) error {
	l := xl.gemmLowering
	accT := l.gop.p.DType.Accumulator()
	var id int
	homeA, homeC := xl.cv != nil && l.home[constraints.OpA] != nil, xl.cv != nil && l.home[constraints.OpC] != nil
	switch {
	case homeA && c.Kind == constraints.CmdMoveIn && c.Operand == constraints.OpA:
		id = xl.gatherA(c)
	case homeC && c.Kind == constraints.CmdMoveIn && c.Operand == constraints.OpC:
		id = xl.convHomeC(c, l.l2Access(c.Tile, constraints.OpC, c.L2Slot, c.Block.Rows, c.Block.Cols, accT), accT, false)
	case homeC && c.Kind == constraints.CmdReduceIn:
		sc := l.pl.Scratch
		on := &kpu.Access{Level: kpu.L2, Unit: c.Tile*l.banksPerTile + sc.Bank, Addr: sc.Offset, Shape: []int64{c.Block.Rows, c.Block.Cols}, DType: accT}
		id = xl.convHomeC(c, on, accT, false)
	case homeC && c.Kind == constraints.CmdMoveOut && !(xl.f != nil && l.lastFinal[c.Tile]):
		id = xl.convMoveOut(c)
	case xl.cv != nil && c.Kind == constraints.CmdLoad && c.Operand == constraints.OpA:
		id = xl.loadA(c)
	case xl.cv != nil && c.Kind == constraints.CmdLoad && c.Operand == constraints.OpC:
		id = xl.moveC(c, l.gop.acc, accT, true)
	case c.Kind == constraints.CmdStore && (xl.cv != nil || xl.f != nil):
		final := l.final[c.L3Slot][c.Group]
		switch {
		case final && xl.cv != nil:
			id = xl.moveC(c, xl.out, xl.out.place.DType, false)
		case final:
			dt := xl.out.place.DType
			cmd := kpu.Command{Label: l.label(constraints.OpC, c.Block), Engine: c.Engine, Op: kpu.OpStore, DType: dt,
				Src: l.l3Access(c, dt), Dst: xl.out.access(c.Block.Batch, c.Block.Row, c.Block.Col, c.Block.Rows, c.Block.Cols)}
			id = l.emit(cmd, c.Deps)
			l.bl.Wrote(xl.out.tensor, id)
		case xl.cv != nil:
			id = xl.moveC(c, l.gop.acc, accT, false)
		default:
			return l.visit(c)
		}
	case c.Kind == constraints.CmdMoveOut && xl.f != nil && l.lastFinal[c.Tile]:
		id = xl.drain(c)
	default:
		return l.visit(c)
	}
	if c.ID != len(l.ids) {
		return fmt.Errorf("command stream ids out of order: got %d, want %d", c.ID, len(l.ids))
	}
	l.ids = append(l.ids, id)
	return nil
}

// drain runs the fused steps on a final C2 block in place in L2 and moves
// the result (in the chain output's dtype) to its L3 group.
func (xl *extLowering) drain(c *constraints.Cmd) int {
	l, f := xl.gemmLowering, xl.f
	blk := c.Block
	t := c.Tile
	src := l.l2Access(t, constraints.OpC, c.L2Slot, blk.Rows, blk.Cols, l.gop.p.DType.Accumulator())
	last := -1
	for j, st := range f.Steps {
		dst := l.l2Access(t, constraints.OpC, c.L2Slot, blk.Rows, blk.Cols, st.DType)
		cmd := kpu.Command{Label: l.label(constraints.OpC, blk), Engine: kpu.Engine{Kind: kpu.Vector, Index: t}, Op: kpu.OpVector,
			VectorOp: st.VectorOp, DType: src.DType, Src: src, Dst: dst}
		if st.Ext >= 0 {
			first, n := f.Slice(st.Ext, blk.Batch, l.gop.p.N, blk.Col, blk.Cols)
			dt := f.ExtDType(st.Ext)
			ep := xl.ext[st.Ext]
			cmd.Src2 = &kpu.Access{Level: kpu.L2, Unit: t*l.banksPerTile + ep.L2Bank, Addr: ep.L2Offset + first*dt.Size(), Shape: []int64{1, n}, DType: dt}
		}
		if j == 0 {
			last = l.emit(cmd, c.Deps, xl.extMoves[t]...)
		} else {
			last = l.bl.Emit(cmd)
		}
		src = dst
	}
	l.final[c.L3Slot][c.Group] = true
	dt := f.OutT
	if xl.cv != nil && l.home[constraints.OpC] != nil {
		return xl.convHomeC(c, l.l2Access(t, constraints.OpC, c.L2Slot, blk.Rows, blk.Cols, dt), dt, true, last)
	}
	cmd := kpu.Command{Label: l.label(constraints.OpC, blk), Engine: c.Engine, Op: kpu.OpMove, DType: dt,
		Src: l.l2Access(t, constraints.OpC, c.L2Slot, blk.Rows, blk.Cols, dt), Dst: l.l3Access(c, dt)}
	id := l.emit(cmd, c.Deps, last)
	l.wroteHome(id)
	return id
}
