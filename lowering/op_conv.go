package lowering

import (
	"context"
	"fmt"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// LowerConv appends a CONV2D (or CONV2D_DEPTHWISE; inputs x and W, no bias)
// as an implicit GEMM under mapping m of its GEMM view (constraints.Conv):
// the command stream of constraints.Walk, lowered like a MATMUL except that
// every A load becomes a zero fill of the L3 block (when it holds padding)
// and the strided gathers of constraints.Conv.Im2col from the NCHW input,
// and every C load/store one strided transfer per image into the NCHW
// output. The parts of one Walk command run on its DMA engine in order, so
// the commands that depended on it depend on its last part.
// constraints.EvaluateGEMMOp predicts it exactly.
func (bl *Builder) LowerConv(ctx context.Context, g *model.Graph, op *model.Operator, m model.Mapping) error {
	if len(op.Inputs) != 2 || len(op.Outputs) != 1 {
		return fmt.Errorf("operator %q: the convolution lowering takes inputs x, W and one output", op.Name)
	}
	return bl.lowerGEMMOp(ctx, g, op, m, nil)
}

// convGemmOp resolves a convolution's operands as GEMM matrices and places
// its tensors.
func (bl *Builder) convGemmOp(g *model.Graph, op *model.Operator, m model.Mapping, cv constraints.Conv) (*gemmOp, error) {
	p := cv.Problem
	x, wt, y := g.Tensors[op.Inputs[0]], g.Tensors[op.Inputs[1]], g.Tensors[op.Outputs[0]]
	inputs := graphInputs(g)
	gop := &gemmOp{op: op, p: p, m: m}
	grp := []int64{cv.Win.Group}
	gop.a = matrix{tensor: x.Name, rows: p.M, cols: p.K}
	// B[k, n] of group b is W[b*OC/g + n, k]: a transposed [N, K] view.
	gop.b = matrix{tensor: wt.Name, rows: p.K, cols: p.N, trans: true, batchDims: grp, outBatch: grp}
	gop.c = matrix{tensor: y.Name, rows: p.M, cols: p.N}
	for _, mx := range []*matrix{&gop.a, &gop.b, &gop.c} {
		t := g.Tensors[mx.tensor]
		pl, err := bl.PlaceTensor(mx.tensor, t.Shape, t.DType, inputs[mx.tensor])
		if err != nil {
			return nil, fmt.Errorf("operator %q: %w", op.Name, err)
		}
		mx.place = pl
	}
	accT := p.DType.Accumulator()
	gop.acc = gop.c
	if y.DType != accT {
		gop.narrow = true
		if ceilDiv(p.K, m.L3.K) > 1 {
			name := y.Name + "#acc"
			pl, err := bl.PlaceTensor(name, y.Shape, accT, false)
			if err != nil {
				return nil, fmt.Errorf("operator %q: partial sums: %w", op.Name, err)
			}
			gop.acc.tensor, gop.acc.place = name, pl
		}
	}
	return gop, nil
}

func graphInputs(g *model.Graph) map[string]bool {
	in := map[string]bool{}
	for _, n := range g.Inputs() {
		in[n] = true
	}
	return in
}

// loadA emits the zero fill (if needed) and the gathers of an A block, all
// on the Walk command's DMA engine; it returns the last one's id.
func (xl *extLowering) loadA(c *constraints.Cmd) int {
	l := xl.gemmLowering
	dt := l.gop.p.DType
	es := dt.Size()
	dst := l.l3Access(c, dt) // [rows, cols] with the group's pitch
	pitch := dst.Strides[0]
	kk := xl.cv.Win.KH * xl.cv.Win.KW
	ow := xl.cv.Win.OW
	parts, padded := xl.cv.Im2col(c.Block)
	label := l.label(constraints.OpA, c.Block)
	first := true
	id := -1
	emit := func(cmd kpu.Command) {
		if first {
			id = l.emit(cmd, c.Deps, l.inDeps[0]...)
			first = false
			return
		}
		id = l.bl.Emit(cmd)
	}
	if padded {
		emit(kpu.Command{Label: label, Engine: c.Engine, Op: kpu.OpFill, DType: dt, Dst: dst})
	}
	for _, pt := range parts {
		src := &kpu.Access{Level: kpu.DRAM, Unit: l.gop.a.place.Channel, Addr: l.gop.a.place.Addr + pt.SrcOff,
			Shape: pt.Shape[:], Strides: pt.SrcStrides[:], DType: dt}
		d := &kpu.Access{Level: kpu.L3, Unit: dst.Unit, Addr: dst.Addr + pt.Row*pitch + pt.Col*es,
			Shape: pt.Shape[:], Strides: []int64{kk * es, ow * pitch, pitch}, DType: dt}
		emit(kpu.Command{Label: label, Engine: c.Engine, Op: kpu.OpLoad, DType: dt, Src: src, Dst: d})
	}
	return id
}

// moveC emits a C load (partial sums, load true) or store between the L3
// group and tensor mx (NCHW), one transfer per image.
func (xl *extLowering) moveC(c *constraints.Cmd, mx matrix, dt model.DType, load bool) int {
	l := xl.gemmLowering
	es := dt.Size()
	blk := c.Block
	grp := l.l3Access(c, dt)
	pitch := grp.Strides[0]
	ohw := xl.cv.Win.OH * xl.cv.Win.OW
	label := l.label(constraints.OpC, blk)
	id := -1
	for k, pt := range xl.cv.OutParts(blk, es) {
		onChip := &kpu.Access{Level: kpu.L3, Unit: grp.Unit, Addr: grp.Addr + pt.Row*pitch, Shape: []int64{pt.Rows, blk.Cols}, Strides: []int64{pitch, es}, DType: dt}
		dram := &kpu.Access{Level: kpu.DRAM, Unit: mx.place.Channel, Addr: mx.place.Addr + pt.Off, Shape: []int64{pt.Rows, blk.Cols}, Strides: []int64{es, ohw * es}, DType: dt}
		cmd := kpu.Command{Label: label, Engine: c.Engine, Op: kpu.OpStore, DType: dt, Src: onChip, Dst: dram}
		if load {
			cmd.Op, cmd.Src, cmd.Dst = kpu.OpLoad, dram, onChip
		}
		if k == 0 {
			id = l.emit(cmd, c.Deps)
		} else {
			id = l.bl.Emit(cmd)
		}
	}
	if !load {
		l.bl.Wrote(mx.tensor, id)
	}
	return id
}
