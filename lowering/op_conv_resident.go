package lowering

import (
	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// fillZero places the zero block of a convolution with a resident input
// (constraints.ZeroBytes, beside the buffers and the fused constants, clear
// of the resident tensors) and emits its DMA fill, on the DMA engine after
// the constants' (as constraints.EvaluateGEMMOpResident times it).
func (xl *extLowering) fillZero() error {
	l := xl.gemmLowering
	cfg := l.bl.cfg
	var taken []constraints.L3Range
	nExt := 0
	if xl.f != nil {
		nExt = len(xl.f.Ext)
		for i, e := range xl.ext {
			start := int64(e.L3Tile)*cfg.L3TileBytes + e.L3Offset
			taken = append(taken, constraints.L3Range{Start: start, End: start + xl.f.ExtBytes(i)})
		}
	}
	zb := constraints.ZeroBytes(l.gop.p, l.gop.m)
	t, off, err := l.pl.FreeL3(cfg, zb, taken)
	if err != nil {
		return err
	}
	dt := l.gop.p.DType
	xl.zeroTile, xl.zeroOff = t, off
	cmd := kpu.Command{Label: l.gop.op.Name + ":zero", Engine: kpu.Engine{Kind: kpu.DMA, Index: nExt % cfg.DMAEngines}, Op: kpu.OpFill, DType: dt,
		Dst: &kpu.Access{Level: kpu.L3, Unit: t, Addr: off, Shape: []int64{zb / dt.Size()}, DType: dt}}
	xl.zeroFill = l.emit(cmd, nil)
	return nil
}

// gatherA replaces the move of an A block of a convolution whose input is
// resident: the block's L2 slot is cleared from the zero block when it
// holds padding, then every gather of constraints.Conv.Im2col moves from the
// input's home straight into the slot, all on the move's BlockMover.
func (xl *extLowering) gatherA(c *constraints.Cmd) int {
	l := xl.gemmLowering
	cfg := l.bl.cfg
	dt := l.gop.p.DType
	es := dt.Size()
	h := l.home[constraints.OpA]
	slot := l.pl.L2[constraints.OpA][c.L2Slot]
	unit := c.Tile*l.banksPerTile + slot.Bank
	pitch := c.Block.Cols * es
	kk := xl.cv.Win.KH * xl.cv.Win.KW
	ow := xl.cv.Win.OW
	parts, padded := xl.cv.Im2col(c.Block)
	label := l.label(constraints.OpA, c.Block)
	id := -1
	first := true
	emit := func(cmd kpu.Command, extra ...int) {
		if first {
			id = l.emit(cmd, c.Deps, append(extra, l.inDeps[0]...)...)
			first = false
			return
		}
		id = l.bl.Emit(cmd)
	}
	if padded {
		emit(kpu.Command{Label: label, Engine: c.Engine, Op: kpu.OpMove, DType: dt,
			Src: &kpu.Access{Level: kpu.L3, Unit: xl.zeroTile, Addr: xl.zeroOff, Shape: []int64{c.Block.Rows, c.Block.Cols}, DType: dt},
			Dst: &kpu.Access{Level: kpu.L2, Unit: unit, Addr: slot.Offset, Shape: []int64{c.Block.Rows, c.Block.Cols}, DType: dt}}, xl.zeroFill)
	}
	for _, pt := range parts {
		flat := h.flat + pt.SrcOff
		src := &kpu.Access{Level: kpu.L3, Unit: int(flat / cfg.L3TileBytes), Addr: flat % cfg.L3TileBytes, Shape: pt.Shape[:], Strides: pt.SrcStrides[:], DType: dt}
		dst := &kpu.Access{Level: kpu.L2, Unit: unit, Addr: slot.Offset + pt.Row*pitch + pt.Col*es, Shape: pt.Shape[:], Strides: []int64{kk * es, ow * pitch, pitch}, DType: dt}
		emit(kpu.Command{Label: label, Engine: c.Engine, Op: kpu.OpMove, DType: dt, Src: src, Dst: dst})
	}
	return id
}

// convHomeC moves the C block of c between the L2 access on (dense [rows,
// cols]) and the resident NCHW output's home, one image at a time on c's
// BlockMover (toL3: into the home); the first move waits for c's
// dependencies and extra.
func (xl *extLowering) convHomeC(c *constraints.Cmd, on *kpu.Access, dt model.DType, toL3 bool, extra ...int) int {
	l := xl.gemmLowering
	cfg := l.bl.cfg
	h := l.home[constraints.OpC]
	es := dt.Size()
	blk := c.Block
	ohw := xl.cv.Win.OH * xl.cv.Win.OW
	pitch := blk.Cols * es
	label := l.label(constraints.OpC, blk)
	id := -1
	for k, pt := range xl.cv.OutParts(blk, es) {
		flat := h.flat + pt.Off
		home := &kpu.Access{Level: kpu.L3, Unit: int(flat / cfg.L3TileBytes), Addr: flat % cfg.L3TileBytes, Shape: []int64{pt.Rows, blk.Cols}, Strides: []int64{es, ohw * es}, DType: dt}
		l2 := &kpu.Access{Level: kpu.L2, Unit: on.Unit, Addr: on.Addr + pt.Row*pitch, Shape: []int64{pt.Rows, blk.Cols}, Strides: []int64{pitch, es}, DType: dt}
		cmd := kpu.Command{Label: label, Engine: c.Engine, Op: kpu.OpMove, DType: dt, Src: l2, Dst: home}
		if !toL3 {
			cmd.Src, cmd.Dst = home, l2
		}
		if k == 0 {
			id = l.emit(cmd, c.Deps, extra...)
		} else {
			id = l.bl.Emit(cmd)
		}
		if toL3 {
			l.bl.Wrote(h.tensor, id)
		}
	}
	return id
}

// convMoveOut is the move out of a C2 block of a convolution whose output
// is resident (not drained by fused work): a final block of a narrow output
// is converted in L2 first, as the GEMM lowering does.
func (xl *extLowering) convMoveOut(c *constraints.Cmd) int {
	l := xl.gemmLowering
	gop := l.gop
	accT := gop.p.DType.Accumulator()
	blk := c.Block
	final := l.lastFinal[c.Tile]
	dtOut := accT
	var extra []int
	if final && gop.narrow {
		dtOut = gop.c.place.DType
		src := l.l2Access(c.Tile, constraints.OpC, c.L2Slot, blk.Rows, blk.Cols, accT)
		dst := l.l2Access(c.Tile, constraints.OpC, c.L2Slot, blk.Rows, blk.Cols, dtOut)
		conv := kpu.Command{Label: l.label(constraints.OpC, blk), Engine: kpu.Engine{Kind: kpu.Vector, Index: c.Tile},
			Op: kpu.OpVector, VectorOp: "copy", DType: accT, Src: src, Dst: dst}
		extra = []int{l.emit(conv, c.Deps)}
	}
	l.final[c.L3Slot][c.Group] = final
	return xl.convHomeC(c, l.l2Access(c.Tile, constraints.OpC, c.L2Slot, blk.Rows, blk.Cols, dtOut), dtOut, true, extra...)
}
