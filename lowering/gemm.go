package lowering

import (
	"context"
	"fmt"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// matrix locates one operand matrix of a GEMM in DRAM: element (r, c) of
// product b lies at Addr + batchOff(b) + r*RowStride + c*ColStride, where for
// a transposed operand RowStride is the element size and ColStride the
// stored row pitch.
type matrix struct {
	tensor    string
	place     kpu.TensorPlacement
	rows      int64 // logical rows (A: M, B: K, C: M)
	cols      int64 // logical cols (A: K, B: N, C: N)
	trans     bool  // stored as [cols, rows]
	batchDims []int64
	outBatch  []int64 // the output's batch dims (broadcast target)
}

func (x *matrix) esize() int64 { return x.place.DType.Size() }

// batchOffset is the byte offset of product b (an index over outBatch).
func (x *matrix) batchOffset(b int64) int64 {
	if len(x.outBatch) == 0 {
		return 0
	}
	// unravel b over outBatch, map to x's (right-aligned, broadcast) dims
	idx := int64(0)
	stride := int64(1)
	rem := b
	for i := len(x.outBatch) - 1; i >= 0; i-- {
		d := rem % x.outBatch[i]
		rem /= x.outBatch[i]
		j := i - (len(x.outBatch) - len(x.batchDims))
		if j < 0 {
			continue
		}
		if x.batchDims[j] != 1 {
			idx += d * stride
		}
		stride *= x.batchDims[j]
	}
	return idx * x.rows * x.cols * x.esize()
}

// access is the DRAM access of the block (row, col, rows, cols) of product b,
// in storage order: [rows, cols] or, transposed, [cols, rows].
func (x *matrix) access(b, row, col, rows, cols int64) *kpu.Access {
	e := x.esize()
	a := &kpu.Access{Level: kpu.DRAM, Unit: x.place.Channel, DType: x.place.DType}
	base := x.place.Addr + x.batchOffset(b)
	if x.trans {
		a.Addr = base + col*x.rows*e + row*e
		a.Shape = []int64{cols, rows}
		a.Strides = []int64{x.rows * e, e}
	} else {
		a.Addr = base + row*x.cols*e + col*e
		a.Shape = []int64{rows, cols}
		a.Strides = []int64{x.cols * e, e}
	}
	return a
}

// gemmOp is everything needed to lower one GEMM-like operator.
type gemmOp struct {
	op      *model.Operator
	p       constraints.Problem
	m       model.Mapping
	a, b, c matrix
	acc     matrix // where partial sums of C go (C itself when C is in the accumulator type)
	narrow  bool   // C's dtype differs from the accumulator: convert on the final write
}

// newGemmOp resolves the operands of a GEMM-like operator and places its
// tensors in DRAM.
func (bl *Builder) newGemmOp(g *model.Graph, op *model.Operator, m model.Mapping) (*gemmOp, error) {
	shape, ok, err := g.GEMM(op)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("operator %q (%s) is not GEMM-like", op.Name, op.Type)
	}
	p, err := constraints.NewProblem(op.Name, shape)
	if err != nil {
		return nil, err
	}
	t := func(name string) (*model.Tensor, error) {
		tt := g.Tensors[name]
		if tt == nil {
			return nil, fmt.Errorf("operator %q: tensor %q is not declared", op.Name, name)
		}
		return tt, nil
	}
	if len(op.Outputs) != 1 {
		return nil, fmt.Errorf("operator %q: %d outputs, want 1", op.Name, len(op.Outputs))
	}
	ta, err := t(op.Inputs[0])
	if err != nil {
		return nil, err
	}
	tb, err := t(op.Inputs[1])
	if err != nil {
		return nil, err
	}
	tc, err := t(op.Outputs[0])
	if err != nil {
		return nil, err
	}
	gop := &gemmOp{op: op, p: p, m: m}
	switch op.Type {
	case model.OpMatMul:
		if len(op.Inputs) != 2 {
			return nil, fmt.Errorf("operator %q (MATMUL): %d inputs: %w (the lowering supports 2)", op.Name, len(op.Inputs), ErrUnsupported)
		}
		out := tc.Shape[:len(tc.Shape)-2]
		gop.a = matrix{tensor: ta.Name, rows: p.M, cols: p.K, trans: p.TransA, batchDims: ta.Shape[:len(ta.Shape)-2], outBatch: out}
		gop.b = matrix{tensor: tb.Name, rows: p.K, cols: p.N, trans: p.TransB, batchDims: tb.Shape[:len(tb.Shape)-2], outBatch: out}
		gop.c = matrix{tensor: tc.Name, rows: p.M, cols: p.N, batchDims: out, outBatch: out}
	case model.OpLinear:
		if len(op.Inputs) != 2 {
			return nil, fmt.Errorf("operator %q (LINEAR): a bias input is %w (only x and W)", op.Name, ErrUnsupported)
		}
		gop.a = matrix{tensor: ta.Name, rows: p.M, cols: p.K}
		gop.b = matrix{tensor: tb.Name, rows: p.K, cols: p.N}
		gop.c = matrix{tensor: tc.Name, rows: p.M, cols: p.N}
	default:
		return nil, fmt.Errorf("operator %q (%s): %w (the lowering supports MATMUL and LINEAR; implicit-GEMM convolution is not lowered)", op.Name, op.Type, ErrUnsupported)
	}
	inputs := map[string]bool{}
	for _, n := range g.Inputs() {
		inputs[n] = true
	}
	for _, x := range []*matrix{&gop.a, &gop.b, &gop.c} {
		tt := g.Tensors[x.tensor]
		pl, err := bl.PlaceTensor(x.tensor, tt.Shape, tt.DType, inputs[x.tensor])
		if err != nil {
			return nil, fmt.Errorf("operator %q: %w", op.Name, err)
		}
		x.place = pl
	}
	accT := p.DType.Accumulator()
	gop.acc = gop.c
	if tc.DType != accT {
		gop.narrow = true
		// A scratch tensor for partial sums, placed only if the mapping
		// stores any (k split at L3).
		if ceilDiv(p.K, m.L3.K) > 1 {
			name := tc.Name + "#acc"
			pl, err := bl.PlaceTensor(name, tc.Shape, accT, false)
			if err != nil {
				return nil, fmt.Errorf("operator %q: partial sums: %w", op.Name, err)
			}
			gop.acc.tensor, gop.acc.place = name, pl
		}
	}
	return gop, nil
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// LowerGEMM appends the commands of GEMM-like operator op of graph g under
// mapping m: the stream of constraints.Walk with addresses from
// constraints.Place. The problem carries the output tensor's dtype, so when
// it differs from the accumulator Walk's stream itself holds the conversion
// of every final C2 block and the narrow final moves and stores
// (docs/mapping.md), and constraints.Evaluate predicts the program exactly.
func (bl *Builder) LowerGEMM(ctx context.Context, g *model.Graph, op *model.Operator, m model.Mapping) error {
	gop, err := bl.newGemmOp(g, op, m)
	if err != nil {
		return err
	}
	gop.p.OutDType = gop.c.place.DType
	if err := gop.p.Validate(); err != nil {
		return fmt.Errorf("operator %q: %w", op.Name, err)
	}
	cfg := bl.cfg
	pl, err := constraints.Place(gop.p, m, cfg)
	if err != nil {
		return fmt.Errorf("operator %q: %w", op.Name, err)
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
	if err := constraints.Walk(ctx, gop.p, m, cfg, l.visit); err != nil {
		return fmt.Errorf("operator %q: lowering: %w", op.Name, err)
	}
	return nil
}

// beginOp returns the fence a new operator's commands start after: the last
// command of every DMA engine so far. Every command of an operator lowered
// here precedes one of its DMA stores, so this fence orders the new
// operator's reuse of on-chip memory after everything before it.
func (bl *Builder) beginOp() []int {
	if bl.fullFence {
		return bl.lastOfEngines()
	}
	last := map[int]int{}
	for i := range bl.prog.Commands {
		c := &bl.prog.Commands[i]
		if c.Engine.Kind == kpu.DMA {
			last[c.Engine.Index] = c.ID
		}
	}
	ids := make([]int, 0, len(last))
	for _, id := range last {
		ids = append(ids, id)
	}
	sortInts(ids)
	return ids
}

type gemmLowering struct {
	bl           *Builder
	gop          *gemmOp
	pl           *constraints.Placement
	e, ea        int64
	banksPerTile int
	l1PerTile    int
	ids          []int // Walk id -> program id
	fence        []int
	fenced       map[kpu.Engine]bool
	inDeps       [2][]int
	final        [][]bool     // [C3 slot][group]: the last write into the group was final
	lastFinal    map[int]bool // per compute tile: the last matmul ended the reduction
	// home[X] is the L3 home of a resident operand X (nil: in DRAM)
	home [3]*l3Home
}

func (l *gemmLowering) emit(c kpu.Command, walkDeps []int, extra ...int) int {
	deps := make([]int, 0, len(walkDeps)+len(extra))
	for _, d := range walkDeps {
		deps = append(deps, l.ids[d])
	}
	deps = append(deps, extra...)
	if len(l.fence) > 0 && !l.fenced[c.Engine] {
		l.fenced[c.Engine] = true
		deps = append(deps, l.fence...)
	}
	if len(deps) > 0 {
		c.Deps = deps
	}
	return l.bl.Emit(c)
}

func (l *gemmLowering) label(x constraints.Operand, blk constraints.Block) string {
	if l.gop.p.Batch > 1 {
		return fmt.Sprintf("%s:%s%d[%d,%d]", l.gop.op.Name, x, blk.Batch, blk.Row, blk.Col)
	}
	return fmt.Sprintf("%s:%s[%d,%d]", l.gop.op.Name, x, blk.Row, blk.Col)
}

// l3Access is the L3 side of a group: the block (storage order) inside the
// group of operand x, slot, group index.
func (l *gemmLowering) l3Access(c *constraints.Cmd, dt model.DType) *kpu.Access {
	x := c.Operand
	if h := l.home[x]; h != nil {
		return h.access(l.bl.cfg, c.Block, dt)
	}
	it := l.pl.L3[x][c.L3Slot][c.Group]
	k3 := l.gop.m.L3.K
	blk := c.Block
	es := dt.Size()
	a := &kpu.Access{Level: kpu.L3, Unit: it.Tile, DType: dt}
	dr, dc := blk.Row-c.GroupRow, blk.Col-c.GroupCol
	switch {
	case x == constraints.OpA && l.gop.a.trans:
		// stored [k, rows of the group]: pitch = group rows * e
		pitch := it.Bytes / k3
		a.Addr = it.Offset + dc*pitch + dr*es
		a.Shape, a.Strides = []int64{blk.Cols, blk.Rows}, []int64{pitch, es}
	case x == constraints.OpB && l.gop.b.trans:
		// stored [cols of the group, k]: pitch = K3 * e
		pitch := k3 * es
		a.Addr = it.Offset + dc*pitch + dr*es
		a.Shape, a.Strides = []int64{blk.Cols, blk.Rows}, []int64{pitch, es}
	default:
		a.Addr = it.Offset + dr*it.Pitch + dc*es
		a.Shape, a.Strides = []int64{blk.Rows, blk.Cols}, []int64{it.Pitch, es}
	}
	return a
}

// l2Access is an L2 slot of compute tile t, dense [rows, cols].
func (l *gemmLowering) l2Access(t int, x constraints.Operand, slot int, rows, cols int64, dt model.DType) *kpu.Access {
	s := l.pl.L2[x][slot]
	return &kpu.Access{Level: kpu.L2, Unit: t*l.banksPerTile + s.Bank, Addr: s.Offset, Shape: []int64{rows, cols}, DType: dt}
}

// l1Access is an L1 feed buffer of compute tile t: A in local buffers 0, 1,
// B in 2, 3 (by L1 slot), dense at address 0.
func (l *gemmLowering) l1Access(t int, x constraints.Operand, slot int, rows, cols int64, dt model.DType) *kpu.Access {
	return &kpu.Access{Level: kpu.L1, Unit: t*l.l1PerTile + 2*int(x) + slot, Shape: []int64{rows, cols}, DType: dt}
}

func (l *gemmLowering) visit(c *constraints.Cmd) error {
	gop := l.gop
	dt := gop.p.DType
	accT := dt.Accumulator()
	outT := gop.c.place.DType
	blk := c.Block
	var id int
	switch c.Kind {
	case constraints.CmdLoad:
		cmd := kpu.Command{Label: l.label(c.Operand, blk), Engine: c.Engine, Op: kpu.OpLoad, DType: dt}
		var extra []int
		switch c.Operand {
		case constraints.OpA:
			cmd.Src = gop.a.access(blk.Batch, blk.Row, blk.Col, blk.Rows, blk.Cols)
			extra = l.inDeps[0]
		case constraints.OpB:
			cmd.Src = gop.b.access(blk.Batch, blk.Row, blk.Col, blk.Rows, blk.Cols)
			extra = l.inDeps[1]
		default:
			cmd.DType = accT
			cmd.Src = gop.acc.access(blk.Batch, blk.Row, blk.Col, blk.Rows, blk.Cols)
		}
		cmd.Dst = l.l3Access(c, cmd.DType)
		id = l.emit(cmd, c.Deps, extra...)
	case constraints.CmdStore:
		final := l.final[c.L3Slot][c.Group]
		if gop.p.OutDType != "" {
			final = c.Final
		}
		cmd := kpu.Command{Label: l.label(constraints.OpC, blk), Engine: c.Engine, Op: kpu.OpStore, DType: accT}
		dst := &gop.acc
		if final {
			dst = &gop.c
			cmd.DType = outT
		}
		cmd.Src = l.l3Access(c, cmd.DType)
		cmd.Dst = dst.access(blk.Batch, blk.Row, blk.Col, blk.Rows, blk.Cols)
		id = l.emit(cmd, c.Deps)
		l.bl.Wrote(dst.tensor, id)
	case constraints.CmdMoveIn:
		cmd := kpu.Command{Label: l.label(c.Operand, blk), Engine: c.Engine, Op: kpu.OpMove, DType: dt}
		if c.Operand == constraints.OpC {
			cmd.DType = accT
		}
		cmd.Src = l.l3Access(c, cmd.DType)
		if (c.Operand == constraints.OpA && gop.a.trans) || (c.Operand == constraints.OpB && gop.b.trans) {
			cmd.Op = kpu.OpTranspose
		}
		cmd.Dst = l.l2Access(c.Tile, c.Operand, c.L2Slot, blk.Rows, blk.Cols, cmd.DType)
		var extra []int
		if l.home[c.Operand] != nil && c.Operand != constraints.OpC {
			extra = l.inDeps[c.Operand]
		}
		id = l.emit(cmd, c.Deps, extra...)
	case constraints.CmdConvert:
		src := l.l2Access(c.Tile, constraints.OpC, c.L2Slot, blk.Rows, blk.Cols, accT)
		dst := l.l2Access(c.Tile, constraints.OpC, c.L2Slot, blk.Rows, blk.Cols, outT)
		cmd := kpu.Command{Label: l.label(constraints.OpC, blk), Engine: c.Engine,
			Op: kpu.OpVector, VectorOp: "copy", DType: accT, Src: src, Dst: dst}
		id = l.emit(cmd, c.Deps)
	case constraints.CmdReduceIn:
		cmd := kpu.Command{Label: l.label(constraints.OpC, blk), Engine: c.Engine, Op: kpu.OpMove, DType: accT}
		cmd.Src = l.l3Access(c, accT)
		sc := l.pl.Scratch
		cmd.Dst = &kpu.Access{Level: kpu.L2, Unit: c.Tile*l.banksPerTile + sc.Bank, Addr: sc.Offset, Shape: []int64{blk.Rows, blk.Cols}, DType: accT}
		id = l.emit(cmd, c.Deps)
	case constraints.CmdAdd:
		sc := l.pl.Scratch
		cslot := l.l2Access(c.Tile, constraints.OpC, c.L2Slot, blk.Rows, blk.Cols, accT)
		cmd := kpu.Command{Label: l.label(constraints.OpC, blk), Engine: c.Engine, Op: kpu.OpVector, VectorOp: "add", DType: accT,
			Src: cslot, Src2: &kpu.Access{Level: kpu.L2, Unit: c.Tile*l.banksPerTile + sc.Bank, Addr: sc.Offset, Shape: []int64{blk.Rows, blk.Cols}, DType: accT},
			Dst: l.l2Access(c.Tile, constraints.OpC, c.L2Slot, blk.Rows, blk.Cols, accT)}
		id = l.emit(cmd, c.Deps)
	case constraints.CmdMoveOut:
		slot := c.L2Slot
		final := l.lastFinal[c.Tile]
		dtOut := accT
		var extra []int
		if gop.p.OutDType != "" {
			// Walk's stream carries the conversion (CmdConvert, a dependency)
			final = c.Final
			if final {
				dtOut = outT
			}
		} else if final && gop.narrow {
			// a problem without an output type (the extension lowerings):
			// convert here, outside Walk's stream
			dtOut = outT
			src := l.l2Access(c.Tile, constraints.OpC, slot, blk.Rows, blk.Cols, accT)
			dst := l.l2Access(c.Tile, constraints.OpC, slot, blk.Rows, blk.Cols, outT)
			conv := kpu.Command{Label: l.label(constraints.OpC, blk), Engine: kpu.Engine{Kind: kpu.Vector, Index: c.Tile},
				Op: kpu.OpVector, VectorOp: "copy", DType: accT, Src: src, Dst: dst}
			extra = []int{l.emit(conv, c.Deps)}
		}
		l.final[c.L3Slot][c.Group] = final
		cmd := kpu.Command{Label: l.label(constraints.OpC, blk), Engine: c.Engine, Op: kpu.OpMove, DType: dtOut}
		cmd.Src = l.l2Access(c.Tile, constraints.OpC, slot, blk.Rows, blk.Cols, dtOut)
		cmd.Dst = l.l3Access(c, dtOut)
		id = l.emit(cmd, c.Deps, extra...)
		l.wroteHome(id)
	case constraints.CmdFeed:
		cmd := kpu.Command{Label: l.label(c.Operand, blk), Engine: c.Engine, Op: kpu.OpFeedRows, DType: dt}
		if c.Operand == constraints.OpB {
			cmd.Op = kpu.OpFeedCols
		}
		cmd.Src = l.l2Access(c.Tile, c.Operand, c.L2Slot, blk.Rows, blk.Cols, dt)
		cmd.Dst = l.l1Access(c.Tile, c.Operand, c.L1Slot, blk.Rows, blk.Cols, dt)
		id = l.emit(cmd, c.Deps)
	case constraints.CmdMatMul:
		cmd := kpu.Command{Label: l.label(constraints.OpC, blk), Engine: c.Engine, Op: kpu.OpMatMul, DType: dt, AccDType: accT, Accumulate: c.Accumulate}
		cmd.Src = l.l1Access(c.Tile, constraints.OpA, c.L1Slot, blk.Rows, c.KLen, dt)
		cmd.Src2 = l.l1Access(c.Tile, constraints.OpB, c.L1Slot, c.KLen, blk.Cols, dt)
		cmd.Dst = l.l2Access(c.Tile, constraints.OpC, c.L2Slot, blk.Rows, blk.Cols, accT)
		l.lastFinal[c.Tile] = c.K0+c.KLen == gop.p.K
		id = l.emit(cmd, c.Deps)
	default:
		return fmt.Errorf("command %d: unknown kind %v", c.ID, c.Kind)
	}
	if c.ID != len(l.ids) {
		return fmt.Errorf("command stream ids out of order: got %d, want %d", c.ID, len(l.ids))
	}
	l.ids = append(l.ids, id)
	return nil
}
