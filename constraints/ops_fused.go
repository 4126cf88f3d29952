package constraints

import (
	"context"
	"fmt"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// Fused is the drain-path work of a GEMM-like operator run on the vector
// engines (docs/graph-schedules.md section 6): its bias and a chain of
// elementwise operators, applied to every final C2 block in L2 before it
// moves out, so that only the chain's output reaches DRAM. Constant operands
// (the bias, a scalar or a per-column vector operand of a chain operator)
// are loaded once into L3 and into L2 of every compute tile in use.
type Fused struct {
	Ext   []string     // constant operand tensors, in load order
	Steps []FusedStep  // bias first (if any), then the chain
	Out   string       // the tensor the drain writes
	OutT  model.DType  // its dtype
	cols  []colOperand // per Ext: how a C block's columns index it
	exts  []*model.Tensor
}

// FusedStep is one vector op on the C2 block: Ext < 0 for a unary op,
// else the constant operand's index; DType is the op's output dtype.
type FusedStep struct {
	VectorOp string
	Ext      int
	DType    model.DType
}

// colOperand: a constant is a scalar or indexed by the output column
// (channel) only.
type colOperand struct{ scalar bool }

// NewFused resolves the fused drain work of GEMM-like op with chain (the
// elementwise operators applied in order to its output; each reads the
// previous output, alone or with a constant that is a scalar or varies only
// along the output columns: the last dim of a MATMUL/LINEAR output, the
// channels of a CONV2D output).
func NewFused(g *model.Graph, op *model.Operator, chain []*model.Operator) (*Fused, error) {
	if !op.Type.IsGEMMLike() || len(op.Outputs) != 1 {
		return nil, fmt.Errorf("operator %q (%s): only a GEMM-like operator has a drain path", op.Name, op.Type)
	}
	out := g.Tensors[op.Outputs[0]]
	conv := op.Type == model.OpConv2D || op.Type == model.OpConv2DDW
	f := &Fused{Out: out.Name, OutT: out.DType}
	addExt := func(name string, bias bool) (int, error) {
		t := g.Tensors[name]
		if t == nil {
			return 0, fmt.Errorf("tensor %q is not declared", name)
		}
		cur := g.Tensors[f.Out]
		var co colOperand
		if bias {
			// a bias holds one value per output column (channel)
			col := cur.Shape[len(cur.Shape)-1]
			if conv {
				col = cur.Shape[1]
			}
			if t.Elements() != col {
				return 0, fmt.Errorf("bias %q %v: want %d values, one per output column", name, t.Shape, col)
			}
		} else {
			var err error
			if co, err = columnOperand(t, cur, conv); err != nil {
				return 0, err
			}
		}
		f.Ext = append(f.Ext, name)
		f.exts = append(f.exts, t)
		f.cols = append(f.cols, co)
		return len(f.Ext) - 1, nil
	}
	if len(op.Inputs) == 3 {
		i, err := addExt(op.Inputs[2], true)
		if err != nil {
			return nil, fmt.Errorf("operator %q bias: %w", op.Name, err)
		}
		f.Steps = append(f.Steps, FusedStep{VectorOp: "add", Ext: i, DType: out.DType})
	}
	for _, e := range chain {
		if len(e.Outputs) != 1 {
			return nil, fmt.Errorf("fused operator %q: %d outputs", e.Name, len(e.Outputs))
		}
		eo := g.Tensors[e.Outputs[0]]
		if eo == nil || eo.Elements() != g.Tensors[f.Out].Elements() {
			return nil, fmt.Errorf("fused operator %q does not keep the shape of %q", e.Name, f.Out)
		}
		st := FusedStep{Ext: -1, DType: eo.DType}
		switch len(e.Inputs) {
		case 1:
			if e.Inputs[0] != f.Out {
				return nil, fmt.Errorf("fused operator %q does not read %q", e.Name, f.Out)
			}
			v, err := unaryVectorOp(e)
			if err != nil {
				return nil, err
			}
			st.VectorOp = v
		case 2:
			v, err := binaryVectorOp(e, eo.DType)
			if err != nil {
				return nil, err
			}
			other := e.Inputs[1]
			if e.Inputs[1] == f.Out {
				if v != "add" && v != "mul" {
					return nil, fmt.Errorf("fused operator %q: %s with %q as its second operand cannot run on the drain", e.Name, v, f.Out)
				}
				other = e.Inputs[0]
			} else if e.Inputs[0] != f.Out {
				return nil, fmt.Errorf("fused operator %q does not read %q", e.Name, f.Out)
			}
			if g.Producer(other) != nil {
				return nil, fmt.Errorf("fused operator %q: operand %q is produced by the graph, not a constant", e.Name, other)
			}
			i, err := addExt(other, false)
			if err != nil {
				return nil, fmt.Errorf("fused operator %q: %w", e.Name, err)
			}
			st.VectorOp, st.Ext = v, i
		default:
			return nil, fmt.Errorf("fused operator %q: %d inputs", e.Name, len(e.Inputs))
		}
		f.Steps = append(f.Steps, st)
		f.Out, f.OutT = eo.Name, eo.DType
	}
	return f, nil
}

// columnOperand checks that constant t broadcast against cur is a scalar or
// varies along the output columns only.
func columnOperand(t, cur *model.Tensor, conv bool) (colOperand, error) {
	if t.Elements() == 1 {
		return colOperand{scalar: true}, nil
	}
	r := len(cur.Shape)
	col := r - 1 // the last dim of a MATMUL/LINEAR output
	if conv {
		col = 1 // NCHW channels
	}
	s := make([]int64, r)
	for i := range s {
		s[i] = 1
	}
	if len(t.Shape) > r {
		return colOperand{}, fmt.Errorf("constant %q %v has more dims than %q %v", t.Name, t.Shape, cur.Name, cur.Shape)
	}
	copy(s[r-len(t.Shape):], t.Shape)
	for i, d := range s {
		if (i == col && d != cur.Shape[col]) || (i != col && d != 1) {
			return colOperand{}, fmt.Errorf("constant %q %v must be a scalar or vary only along dim %d of %q %v", t.Name, t.Shape, col, cur.Name, cur.Shape)
		}
	}
	return colOperand{}, nil
}

// ExtBytes is the size of constant operand i.
func (f *Fused) ExtBytes(i int) int64 { return f.exts[i].Bytes() }

// ExtDType is the dtype of constant operand i.
func (f *Fused) ExtDType(i int) model.DType { return f.exts[i].DType }

// Slice is the element range of constant operand i a C block of columns
// [col, col+cols) of group grp (N columns per group) reads: its first
// element and its length (1 for a scalar).
func (f *Fused) Slice(i int, grp, n, col, cols int64) (int64, int64) {
	if f.cols[i].scalar {
		return 0, 1
	}
	return grp*n + col, cols
}

// ExtPlace is where a constant operand of a fused drain lives: one L3 tile
// and offset, and on every compute tile in use one L2 bank (local index)
// and offset.
type ExtPlace struct {
	L3Tile   int
	L3Offset int64
	L2Bank   int
	L2Offset int64
}

// PlaceExt puts the constant operands into the space the mapping's
// placement leaves free: first fit after the last buffer of each L3 tile
// and of each L2 bank (the L2 layout is the same on every compute tile).
func (f *Fused) PlaceExt(pl *Placement, cfg *kpu.Config) ([]ExtPlace, error) {
	l3End := make([]int64, cfg.L3Tiles)
	for x := range pl.L3 {
		for _, slot := range pl.L3[x] {
			for _, it := range slot {
				if it.Tile >= 0 && it.Tile < len(l3End) {
					l3End[it.Tile] = max(l3End[it.Tile], it.Offset+it.Bytes)
				}
			}
		}
	}
	l2End := make([]int64, cfg.L2BanksPerTile())
	for x := range pl.L2 {
		for _, s := range pl.L2[x] {
			if s.Bank >= 0 && s.Bank < len(l2End) {
				l2End[s.Bank] = max(l2End[s.Bank], s.Offset+s.Bytes)
			}
		}
	}
	out := make([]ExtPlace, len(f.Ext))
	for i := range f.Ext {
		b := f.ExtBytes(i)
		ep := ExtPlace{L3Tile: -1, L2Bank: -1}
		for t := range l3End {
			if off := clearOf(pl.Reserved, int64(t)*cfg.L3TileBytes, alignUp(l3End[t], opAlign), b); off+b <= cfg.L3TileBytes {
				ep.L3Tile, ep.L3Offset = t, off
				l3End[t] = off + b
				break
			}
		}
		for k := range l2End {
			if off := alignUp(l2End[k], opAlign); off+b <= cfg.L2BankBytes {
				ep.L2Bank, ep.L2Offset = k, off
				l2End[k] = off + b
				break
			}
		}
		if ep.L3Tile < 0 {
			return nil, &InfeasibleError{Shortfall: Shortfall{Level: "l3", What: fmt.Sprintf("fused constant %q beside the mapping's buffers", f.Ext[i]), Need: b, Have: cfg.L3TileBytes - minOf(l3End)}}
		}
		if ep.L2Bank < 0 {
			return nil, &InfeasibleError{Shortfall: Shortfall{Level: "l2", What: fmt.Sprintf("fused constant %q beside the mapping's buffers", f.Ext[i]), Need: b, Have: cfg.L2BankBytes - minOf(l2End)}}
		}
		out[i] = ep
	}
	return out, nil
}

// clearOf returns the first offset at or after off (aligned) in the L3 tile
// starting at flat address base where b bytes overlap no reserved range.
func clearOf(reserved []L3Range, base, off, b int64) int64 {
	for moved := true; moved; {
		moved = false
		for _, r := range reserved {
			if r.Start < base+off+b && base+off < r.End {
				off = alignUp(r.End-base, opAlign)
				moved = true
			}
		}
	}
	return off
}

func minOf(s []int64) int64 {
	m := s[0]
	for _, v := range s[1:] {
		m = min(m, v)
	}
	return m
}

// BiasOnDrain returns the drain work that adds op's bias (nil, nil when op
// has none) when its constant fits on chip beside mapping m's buffers; an
// *InfeasibleError says it does not (the bias then takes a separate pass,
// PlanBias).
func BiasOnDrain(g *model.Graph, op *model.Operator, m model.Mapping, cfg *kpu.Config) (*Fused, error) {
	return biasOnDrain(g, op, cfg, func(p Problem) (*Placement, error) { return Place(p, m, cfg) })
}

// biasOnDrain is BiasOnDrain with the mapping's buffers placed by place.
func biasOnDrain(g *model.Graph, op *model.Operator, cfg *kpu.Config, place func(Problem) (*Placement, error)) (*Fused, error) {
	if len(op.Inputs) != 3 {
		return nil, nil
	}
	f, err := NewFused(g, op, nil)
	if err != nil {
		return nil, err
	}
	shape, _, err := g.GEMM(op)
	if err != nil {
		return nil, err
	}
	p, err := NewProblem(op.Name, shape)
	if err != nil {
		return nil, err
	}
	pl, err := place(p)
	if err != nil {
		return nil, err
	}
	if _, err := f.PlaceExt(pl, cfg); err != nil {
		return nil, err
	}
	return f, nil
}

// EvaluateGEMMOp judges GEMM-like op of g under mapping m exactly as the
// whole-graph lowering emits it: the stream of Walk with, for a CONV2D, the
// gathers and per-image C transfers (Conv), and on every final C2 block
// either the dtype conversion of a narrow output or, when fused is set, the
// fused drain work (bias and chain, NewFused), whose constants are loaded
// first. Without fused, a bias is not included (OperatorCost adds its
// separate pass).
func EvaluateGEMMOp(ctx context.Context, g *model.Graph, op *model.Operator, m model.Mapping, fused *Fused, cfg *kpu.Config) (*Cost, error) {
	p, cv, outT, err := gemmOpProblem(g, op, fused)
	if err != nil {
		return nil, err
	}
	return evaluateGEMM(ctx, p, cv, fused, outT, m, cfg)
}

// gemmOpProblem is the GEMM view of GEMM-like op of g for EvaluateGEMMOp and
// EvaluateGEMMOpResident: its Problem, its gathers when a CONV2D (nil
// otherwise) and the dtype its final C blocks are drained in (the fused
// chain's when fused is set, else the output tensor's).
func gemmOpProblem(g *model.Graph, op *model.Operator, fused *Fused) (Problem, *Conv, model.DType, error) {
	shape, ok, err := g.GEMM(op)
	if err != nil {
		return Problem{}, nil, "", err
	}
	if !ok {
		return Problem{}, nil, "", fmt.Errorf("operator %q (%s) is not GEMM-like", op.Name, op.Type)
	}
	p, err := NewProblem(op.Name, shape)
	if err != nil {
		return Problem{}, nil, "", err
	}
	var cv *Conv
	if op.Type == model.OpConv2D || op.Type == model.OpConv2DDW {
		c, err := NewConv(g, op)
		if err != nil {
			return Problem{}, nil, "", err
		}
		cv = &c
	}
	outT := g.Tensors[op.Outputs[0]].DType
	if fused != nil {
		outT = fused.OutT
	}
	return p, cv, outT, nil
}

func evaluateGEMM(ctx context.Context, p Problem, cv *Conv, fused *Fused, outT model.DType, m model.Mapping, cfg *kpu.Config) (*Cost, error) {
	return evaluateGEMMRes(ctx, p, cv, fused, outT, m, cfg, nil)
}

// EvaluateGEMMOpResident is EvaluateGEMMOp under residency r (the stream of
// WalkResident): what the whole-graph lowering emits for a GEMM step that
// keeps operands in L3. A bias (no chain) is passed as fused =
// NewFused(g, op, nil), as the lowering runs it on the drain.
func EvaluateGEMMOpResident(ctx context.Context, g *model.Graph, op *model.Operator, m model.Mapping, fused *Fused, cfg *kpu.Config, r Residency) (*Cost, error) {
	p, cv, outT, err := gemmOpProblem(g, op, fused)
	if err != nil {
		return nil, err
	}
	if r.C && outT.Size() != p.AccBytes() && (m.L3.K < p.K || m.Split.K > 1) {
		return nil, &InfeasibleError{Problem: p.Name, Shortfall: Shortfall{Level: "l3", What: fmt.Sprintf("a resident C home in %s holding %d-byte partial sums (the mapping splits K)", outT, p.AccBytes()), Need: p.AccBytes(), Have: outT.Size()}}
	}
	pl, err := PlaceResident(p, m, cfg, r)
	if err != nil {
		return nil, err
	}
	var taken []L3Range
	if fused != nil {
		ext, err := fused.PlaceExt(pl, cfg)
		if err != nil {
			return nil, err
		}
		for i, e := range ext {
			start := int64(e.L3Tile)*cfg.L3TileBytes + e.L3Offset
			taken = append(taken, L3Range{Start: start, End: start + fused.ExtBytes(i)})
		}
	}
	if cv != nil && r.A {
		if _, _, err := pl.FreeL3(cfg, ZeroBytes(p, m), taken); err != nil {
			return nil, err
		}
	}
	return evaluateGEMMRes(ctx, p, cv, fused, outT, m, cfg, &r)
}

func evaluateGEMMRes(ctx context.Context, p Problem, cv *Conv, fused *Fused, outT model.DType, m model.Mapping, cfg *kpu.Config, r *Residency) (*Cost, error) {
	T := cfg.ComputeTiles
	vecBase := cfg.DMAEngines + cfg.BlockMovers + cfg.Streamers + T
	nEng := vecBase + T
	free := make([]int64, nEng)
	end := make([]int64, 0, 1024)
	tr := &Trace{}
	e, ea := p.ElemBytes(), p.AccBytes()
	accT := p.DType.Accumulator()
	cmds := 0
	run := func(flat int, start, dur int64) int64 {
		start = max(start, free[flat])
		free[flat] = start + dur
		tr.Cycles = max(tr.Cycles, start+dur)
		cmds++
		return start + dur
	}
	used := m.Split.M * m.Split.N
	extReady := make([]int64, T)
	if fused != nil {
		loadEnd := make([]int64, len(fused.Ext))
		for i := range fused.Ext {
			b, s := fused.ExtBytes(i), fused.ExtDType(i).Size()
			loadEnd[i] = run(i%cfg.DMAEngines, 0, cfg.TransferCycles(kpu.DMA, b, s))
			tr.Bytes.DRAMRead += b
			tr.Bytes.L3Write += b
		}
		for t := 0; t < used; t++ {
			bm := engineSet(cfg.BlockMovers, T, t)[0]
			for i := range fused.Ext {
				b, s := fused.ExtBytes(i), fused.ExtDType(i).Size()
				extReady[t] = max(extReady[t], run(cfg.DMAEngines+bm, loadEnd[i], cfg.TransferCycles(kpu.BlockMover, b, s)))
				tr.Bytes.L3Read += b
				tr.Bytes.L2Write += b
			}
		}
	}
	resA, resC := cv != nil && r.has(OpA), cv != nil && r.has(OpC)
	var zeroEnd int64
	if resA {
		// the zero block a padded A block is cleared from (after the
		// constants, on the next DMA engine)
		nExt := 0
		if fused != nil {
			nExt = len(fused.Ext)
		}
		zb := ZeroBytes(p, m)
		zeroEnd = run(nExt%cfg.DMAEngines, 0, cfg.TransferCycles(kpu.DMA, zb, e))
		tr.Bytes.L3Write += zb
	}
	// cParts moves a C block between L2 and a convolution's resident output
	// one image at a time (elements of s bytes), from start
	cParts := func(c *Cmd, start, s int64) int64 {
		fin := start
		for _, pt := range cv.OutParts(c.Block, s) {
			fin = run(c.flat, fin, cfg.TransferCycles(kpu.BlockMover, pt.Rows*c.Block.Cols*s, s))
		}
		return fin
	}
	narrow := outT != accT
	lastFinal := make([]bool, T)
	final := map[[2]int]bool{}
	err := walk(ctx, p, m, cfg, r, func(c *Cmd) error {
		var ready int64
		for _, d := range c.Deps {
			ready = max(ready, end[d])
		}
		var fin int64
		switch {
		case resA && c.Kind == CmdMoveIn && c.Operand == OpA:
			parts, padded := cv.Im2col(c.Block)
			fin = ready
			if padded {
				b := c.Block.Rows * c.Block.Cols * e
				fin = run(c.flat, max(fin, zeroEnd), cfg.TransferCycles(kpu.BlockMover, b, e))
				tr.Bytes.L3Read += b
				tr.Bytes.L2Write += b
			}
			for _, pt := range parts {
				b := pt.Elems() * e
				fin = run(c.flat, fin, cfg.TransferCycles(kpu.BlockMover, b, e))
				tr.Bytes.L3Read += b
				tr.Bytes.L2Write += b
			}
		case cv != nil && c.Kind == CmdLoad && c.Operand == OpA:
			parts, padded := cv.Im2col(c.Block)
			fin = ready
			if padded {
				b := c.Block.Rows * c.Block.Cols * e
				fin = run(c.flat, fin, cfg.TransferCycles(kpu.DMA, b, e))
				tr.Bytes.L3Write += b
			}
			for _, pt := range parts {
				b := pt.Elems() * e
				fin = run(c.flat, fin, cfg.TransferCycles(kpu.DMA, b, e))
				tr.Bytes.DRAMRead += b
				tr.Bytes.L3Write += b
			}
		case c.Kind == CmdStore || (c.Kind == CmdLoad && c.Operand == OpC):
			dt := accT
			if c.Kind == CmdStore && final[[2]int{c.L3Slot, int(c.Group)}] {
				dt = outT
			}
			s := dt.Size()
			fin = ready
			rows := []int64{c.Block.Rows}
			if cv != nil {
				rows = rows[:0]
				for _, pt := range cv.OutParts(c.Block, s) {
					rows = append(rows, pt.Rows)
				}
			}
			for _, r := range rows {
				fin = run(c.flat, fin, cfg.TransferCycles(kpu.DMA, r*c.Block.Cols*s, s))
			}
			b := c.Block.Rows * c.Block.Cols * s
			if c.Kind == CmdStore {
				tr.Bytes.L3Read += b
				tr.Bytes.DRAMWrite += b
			} else {
				tr.Bytes.DRAMRead += b
				tr.Bytes.L3Write += b
			}
		case c.Kind == CmdMoveOut && lastFinal[c.Tile] && (fused != nil || narrow):
			final[[2]int{c.L3Slot, int(c.Group)}] = true
			rc := c.Block.Rows * c.Block.Cols
			vec := vecBase + c.Tile
			t := ready
			if fused != nil {
				t = max(t, extReady[c.Tile])
				src := accT
				for _, st := range fused.Steps {
					t = run(vec, t, cfg.VectorCycles(rc))
					tr.Bytes.L2Read += rc * src.Size()
					if st.Ext >= 0 {
						_, n := fused.Slice(st.Ext, c.Block.Batch, p.N, c.Block.Col, c.Block.Cols)
						tr.Bytes.L2Read += n * fused.ExtDType(st.Ext).Size()
					}
					tr.Bytes.L2Write += rc * st.DType.Size()
					src = st.DType
				}
			} else {
				t = run(vec, t, cfg.VectorCycles(rc))
				tr.Bytes.L2Read += rc * ea
				tr.Bytes.L2Write += rc * outT.Size()
			}
			b := rc * outT.Size()
			if resC {
				fin = cParts(c, max(ready, t), outT.Size())
			} else {
				fin = run(c.flat, max(ready, t), cfg.TransferCycles(kpu.BlockMover, b, outT.Size()))
			}
			tr.Bytes.L2Read += b
			tr.Bytes.L3Write += b
		default:
			if c.Kind == CmdMoveOut {
				final[[2]int{c.L3Slot, int(c.Group)}] = lastFinal[c.Tile]
			}
			if c.Kind == CmdMatMul {
				lastFinal[c.Tile] = c.K0+c.KLen == p.K
				tr.MACs += c.Block.Rows * c.Block.Cols * c.KLen
				tr.Bytes.L1Read += fabricRereads(cfg, c.Block.Rows, c.Block.Cols, c.KLen, e)
			}
			if resC && c.Operand == OpC && (c.Kind == CmdMoveIn || c.Kind == CmdReduceIn || c.Kind == CmdMoveOut) {
				fin = cParts(c, ready, c.Bytes/(c.Block.Rows*c.Block.Cols))
			} else {
				fin = run(c.flat, ready, c.Cycles)
			}
			tr.Bytes.account(c, e, ea)
		}
		end = append(end, fin)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Cost{
		LatencyCycles: tr.Cycles,
		EnergyPJ:      EnergyOf(p, tr.Bytes, tr.MACs, cfg),
		DRAMBytes:     tr.Bytes.DRAM(),
		Bytes:         tr.Bytes,
		Commands:      cmds,
	}, nil
}
