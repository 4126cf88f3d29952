package constraints

import (
	"fmt"
	"math"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// unaryVectorOps and binaryVectorOps name the vector engine's op for each
// operator that maps onto one directly.
var (
	unaryVectorOps = map[model.OpType]string{
		model.OpRelu: "relu", model.OpGelu: "gelu", model.OpSigmoid: "sigmoid", model.OpTanh: "tanh",
		model.OpExp: "exp", model.OpAbs: "abs", model.OpNeg: "neg", model.OpRecip: "recip",
	}
	binaryVectorOps = map[model.OpType]string{
		model.OpAdd: "add", model.OpSub: "sub", model.OpMul: "mul", model.OpDiv: "div",
	}
)

// unaryVectorOp maps a unary operator to the vector engine's op.
func unaryVectorOp(op *model.Operator) (string, error) {
	if vop, ok := unaryVectorOps[op.Type]; ok {
		return vop, nil
	}
	if op.Type == model.OpClamp {
		lo, err1 := op.Attrs.Float("min", math.Inf(-1))
		hi, err2 := op.Attrs.Float("max", math.Inf(1))
		if err1 == nil && err2 == nil && lo == 0 && math.IsInf(hi, 1) {
			return "relu", nil
		}
		return "", fmt.Errorf("operator %q: CLAMP to [%v, %v] needs constants the vector engine cannot hold (only [0, +inf), a RELU, is lowered)", op.Name, lo, hi)
	}
	return "", fmt.Errorf("operator %q (%s): %w", op.Name, op.Type, ErrNotVectorOp)
}

// binaryVectorOp maps a binary operator to the vector engine's op.
func binaryVectorOp(op *model.Operator, dt model.DType) (string, error) {
	if op.Type == model.OpDiv && dt.IsInteger() {
		return "", fmt.Errorf("operator %q: integer DIV (truncating) is not a vector-engine op", op.Name)
	}
	if vop, ok := binaryVectorOps[op.Type]; ok {
		return vop, nil
	}
	return "", fmt.Errorf("operator %q (%s): %w", op.Name, op.Type, ErrNotVectorOp)
}

// unaryJobs cuts the (dense) tensor into contiguous chunks of u elements.
func unaryJobs(in, out *model.Tensor, vop string, u int64) *pipeline {
	total := out.Elements()
	p := &pipeline{}
	for off := int64(0); off < total; off += u {
		n := min(u, total-off)
		p.jobs = append(p.jobs, job{
			ins: []ioSpec{{t: 0, off: off * in.DType.Size(), shape: []int64{n}, dtype: in.DType}},
			out: ioSpec{t: 1, off: off * out.DType.Size(), shape: []int64{n}, dtype: out.DType},
			vec: func(ins []*kpu.Access, o *kpu.Access, _ []*kpu.Access) []kpu.Command {
				return []kpu.Command{{Op: kpu.OpVector, VectorOp: vop, DType: in.DType, Src: ins[0], Dst: o}}
			},
		})
	}
	return p
}

// bgroup is a run of adjacent output dims over which each operand is either
// fully indexed or broadcast (size 1).
type bgroup struct {
	size    int64
	full    [2]bool
	strides [3]int64 // element strides of a, b, out in this group (0: broadcast)
}

// broadcastGroups collapses the output dims (numpy broadcasting of a and b,
// right-aligned) into groups with one broadcast pattern each; size-1 dims
// are dropped.
func broadcastGroups(a, b, out []int64) ([]bgroup, error) {
	r := len(out)
	pad := func(s []int64) ([]int64, error) {
		if len(s) > r {
			return nil, fmt.Errorf("operand shape %v has more dims than the output %v", s, out)
		}
		p := make([]int64, r)
		for i := range p {
			p[i] = 1
		}
		copy(p[r-len(s):], s)
		for i := range p {
			if p[i] != 1 && p[i] != out[i] {
				return nil, fmt.Errorf("operand shape %v does not broadcast to %v", s, out)
			}
		}
		return p, nil
	}
	pa, err := pad(a)
	if err != nil {
		return nil, err
	}
	pb, err := pad(b)
	if err != nil {
		return nil, err
	}
	var gs []bgroup
	for i := 0; i < r; i++ {
		if out[i] == 1 {
			continue
		}
		f := [2]bool{pa[i] == out[i], pb[i] == out[i]}
		if n := len(gs); n > 0 && gs[n-1].full == f {
			gs[n-1].size *= out[i]
			continue
		}
		gs = append(gs, bgroup{size: out[i], full: f})
	}
	// element strides, innermost group first
	var sa, sb, so int64 = 1, 1, 1
	for i := len(gs) - 1; i >= 0; i-- {
		g := &gs[i]
		g.strides[2] = so
		so *= g.size
		if g.full[0] {
			g.strides[0] = sa
			sa *= g.size
		}
		if g.full[1] {
			g.strides[1] = sb
			sb *= g.size
		}
	}
	return gs, nil
}

// binaryJobs tiles out = a (op) b with numpy broadcasting. operands gives the
// operand indices of a, b and out. The vector engine broadcasts only its
// second source, so the tile extent is 1 along groups where the first
// source (a, or b when the op commutes and b is the larger) is broadcast.
func binaryJobs(a, b, out []int64, operands [3]int, dt model.DType, vop string, u int64) (*pipeline, error) {
	gs, err := broadcastGroups(a, b, out)
	if err != nil {
		return nil, err
	}
	first := 0
	commutes := vop == "add" || vop == "mul" || vop == "max" || vop == "min"
	if commutes && prod(b) > prod(a) {
		first = 1
	}
	ext := make([]int64, len(gs))
	inner := int64(1)
	wide := 0
	for i := len(gs) - 1; i >= 0; i-- {
		ext[i] = 1
		if !gs[i].full[first] || wide == 3 || inner >= u {
			continue
		}
		ext[i] = min(gs[i].size, max(1, u/inner))
		inner *= ext[i]
		wide++
		if ext[i] < gs[i].size {
			// outer groups stay at extent 1 so that tiles are boxes
			for k := i - 1; k >= 0; k-- {
				ext[k] = 1
			}
			break
		}
	}
	es := dt.Size()
	p := &pipeline{}
	idx := make([]int64, len(gs))
	for {
		var off [3]int64
		var shape [3][]int64
		var strides [3][]int64
		for i, g := range gs {
			n := min(ext[i], g.size-idx[i])
			for x := 0; x < 3; x++ {
				full := x == 2 || g.full[x]
				if full {
					off[x] += idx[i] * g.strides[x] * es
				}
				if ext[i] > 1 {
					if full {
						shape[x] = append(shape[x], n)
						strides[x] = append(strides[x], g.strides[x]*es)
					} else {
						shape[x] = append(shape[x], 1)
						strides[x] = append(strides[x], es)
					}
				}
			}
		}
		for x := 0; x < 3; x++ {
			if len(shape[x]) == 0 {
				shape[x], strides[x] = []int64{1}, []int64{es}
			}
		}
		src, src2 := first, 1-first
		ins := []ioSpec{
			{t: operands[0], off: off[0], shape: shape[0], strides: strides[0], dtype: dt},
			{t: operands[1], off: off[1], shape: shape[1], strides: strides[1], dtype: dt},
		}
		p.jobs = append(p.jobs, job{
			ins: ins,
			out: ioSpec{t: operands[2], off: off[2], shape: shape[2], strides: strides[2], dtype: dt},
			vec: func(in []*kpu.Access, o *kpu.Access, _ []*kpu.Access) []kpu.Command {
				return []kpu.Command{{Op: kpu.OpVector, VectorOp: vop, DType: dt, Src: in[src], Src2: in[src2], Dst: o}}
			},
		})
		if !advance(idx, ext, func(k int) int64 { return gs[k].size }) {
			break
		}
	}
	return p, nil
}

// advance moves the odometer idx over groups of the given sizes by one
// block of extents ext (the last group fastest); false when it wraps around.
func advance(idx, ext []int64, size func(k int) int64) bool {
	for k := len(idx) - 1; k >= 0; k-- {
		idx[k] += ext[k]
		if idx[k] < size(k) {
			return true
		}
		idx[k] = 0
	}
	return false
}

func prod(s []int64) int64 {
	n := int64(1)
	for _, d := range s {
		n *= d
	}
	return n
}

// softmaxJobs normalizes along axis. With the axis last, jobs are chunks of
// rows; otherwise the DMA gathers [outer, inner, axis] blocks so that the
// axis becomes the rows' last dim on chip, and scatters the result back.
func softmaxJobs(in, out *model.Tensor, axis int64, cfg *kpu.Config) (func(int64) (*pipeline, error), int64, error) {
	r := int64(len(in.Shape))
	if axis < -r || axis >= r {
		return nil, 0, fmt.Errorf("axis %d out of range for rank %d", axis, r)
	}
	if axis < 0 {
		axis += r
	}
	outer, mid, inner := int64(1), in.Shape[axis], int64(1)
	for _, d := range in.Shape[:axis] {
		outer *= d
	}
	for _, d := range in.Shape[axis+1:] {
		inner *= d
	}
	es, eo := in.DType.Size(), out.DType.Size()
	build := func(u int64) (*pipeline, error) {
		rows := max(1, u/mid)
		it := min(inner, rows)
		ot := int64(1)
		if it == inner {
			ot = min(outer, max(1, rows/inner))
		}
		p := &pipeline{}
		for o := int64(0); o < outer; o += ot {
			for i := int64(0); i < inner; i += it {
				no, ni := min(ot, outer-o), min(it, inner-i)
				off := o*mid*inner + i
				shape := []int64{no, ni, mid}
				p.jobs = append(p.jobs, job{
					ins: []ioSpec{{t: 0, off: off * es, shape: shape, strides: []int64{mid * inner * es, es, inner * es}, dtype: in.DType}},
					out: ioSpec{t: 1, off: off * eo, shape: shape, strides: []int64{mid * inner * eo, eo, inner * eo}, dtype: out.DType},
					vec: func(ins []*kpu.Access, o *kpu.Access, _ []*kpu.Access) []kpu.Command {
						return []kpu.Command{{Op: kpu.OpVector, VectorOp: "softmax", DType: in.DType, Src: ins[0], Dst: o}}
					},
				})
			}
		}
		return p, nil
	}
	return build, in.Elements(), nil
}

// layerNormJobs normalizes rows of n = prod(shape[axis:]) elements: per job
// the vector engine runs layernorm into a float32 scratch row block, then
// multiplies by gamma and adds beta (both [1, n], broadcast over the rows).
func layerNormJobs(op *model.Operator, ts []*model.Tensor, out *model.Tensor) (func(int64) (*pipeline, error), int64, error) {
	x := ts[0]
	axis, err := op.Attrs.Int("axis", -1)
	if err != nil {
		return nil, 0, err
	}
	eps, err := op.Attrs.Float("epsilon", 1e-5)
	if err != nil {
		return nil, 0, err
	}
	r := int64(len(x.Shape))
	if axis < -r || axis >= r {
		return nil, 0, fmt.Errorf("axis %d out of range for rank %d", axis, r)
	}
	if axis < 0 {
		axis += r
	}
	n := int64(1)
	for _, d := range x.Shape[axis:] {
		n *= d
	}
	rows := x.Elements() / n
	hasBeta := len(op.Inputs) == 3
	dt := x.DType
	es := dt.Size()
	build := func(u int64) (*pipeline, error) {
		rt := min(rows, max(1, u/n))
		p := &pipeline{scratch: []int64{rt * n * 4}}
		for r0 := int64(0); r0 < rows; r0 += rt {
			nr := min(rt, rows-r0)
			ins := []ioSpec{
				{t: 0, off: r0 * n * es, shape: []int64{nr, n}, dtype: dt},
				{t: 1, shape: []int64{1, n}, dtype: ts[1].DType},
			}
			if hasBeta {
				ins = append(ins, ioSpec{t: 2, shape: []int64{1, n}, dtype: ts[2].DType})
			}
			p.jobs = append(p.jobs, job{
				ins: ins,
				out: ioSpec{t: len(ts) - 1, off: r0 * n * out.DType.Size(), shape: []int64{nr, n}, dtype: out.DType},
				vec: func(in []*kpu.Access, o *kpu.Access, scratch []*kpu.Access) []kpu.Command {
					tmp := *scratch[0]
					tmp.Shape, tmp.DType = []int64{nr, n}, model.Float32
					cmds := []kpu.Command{{Op: kpu.OpVector, VectorOp: "layernorm", Epsilon: eps, DType: dt, Src: in[0], Dst: &tmp}}
					if !hasBeta {
						return append(cmds, kpu.Command{Op: kpu.OpVector, VectorOp: "mul", DType: model.Float32, Src: &tmp, Src2: in[1], Dst: o})
					}
					return append(cmds,
						kpu.Command{Op: kpu.OpVector, VectorOp: "mul", DType: model.Float32, Src: &tmp, Src2: in[1], Dst: &tmp},
						kpu.Command{Op: kpu.OpVector, VectorOp: "add", DType: model.Float32, Src: &tmp, Src2: in[2], Dst: o})
				},
			})
		}
		return p, nil
	}
	return build, x.Elements(), nil
}

// transposeJobs moves blocks of the output, each gathered from the input by
// a strided DMA load (address generation) into L3 and stored densely.
func transposeJobs(in, out *model.Tensor, perm []int64, u int64) (*pipeline, error) {
	r := len(in.Shape)
	if len(perm) != r {
		return nil, fmt.Errorf("perm %v has %d entries for rank %d", perm, len(perm), r)
	}
	inStr := make([]int64, r)
	s := int64(1)
	for i := r - 1; i >= 0; i-- {
		inStr[i] = s
		s *= in.Shape[i]
	}
	// groups over output dims: merge i, i+1 when perm[i+1] == perm[i]+1
	type grp struct{ size, in, out int64 }
	var gs []grp
	for i := 0; i < r; i++ {
		d := out.Shape[i]
		if d == 1 {
			continue
		}
		if n := len(gs); n > 0 && i > 0 && perm[i] == perm[i-1]+1 && out.Shape[i-1] != 1 {
			gs[n-1].size *= d
			gs[n-1].in = inStr[perm[i]]
			continue
		}
		gs = append(gs, grp{size: d, in: inStr[perm[i]]})
	}
	s = 1
	for i := len(gs) - 1; i >= 0; i-- {
		gs[i].out = s
		s *= gs[i].size
	}
	ext := make([]int64, len(gs))
	inner := int64(1)
	wide := 0
	for i := len(gs) - 1; i >= 0; i-- {
		ext[i] = 1
		if wide == 3 || inner >= u {
			continue
		}
		ext[i] = min(gs[i].size, max(1, u/inner))
		inner *= ext[i]
		wide++
		if ext[i] < gs[i].size {
			for k := i - 1; k >= 0; k-- {
				ext[k] = 1
			}
			break
		}
	}
	es := in.DType.Size()
	p := &pipeline{}
	idx := make([]int64, len(gs))
	for {
		var offIn, offOut int64
		var shape, sIn, sOut []int64
		for i, g := range gs {
			offIn += idx[i] * g.in * es
			offOut += idx[i] * g.out * es
			if ext[i] > 1 {
				shape = append(shape, min(ext[i], g.size-idx[i]))
				sIn = append(sIn, g.in*es)
				sOut = append(sOut, g.out*es)
			}
		}
		if len(shape) == 0 {
			shape, sIn, sOut = []int64{1}, []int64{es}, []int64{es}
		}
		p.jobs = append(p.jobs, job{
			direct: true,
			ins:    []ioSpec{{t: 0, off: offIn, shape: shape, strides: sIn, dtype: in.DType}},
			out:    ioSpec{t: 1, off: offOut, shape: shape, strides: sOut, dtype: out.DType},
		})
		if !advance(idx, ext, func(k int) int64 { return gs[k].size }) {
			break
		}
	}
	return p, nil
}
