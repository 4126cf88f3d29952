package model

import (
	"fmt"
	"math"
	"slices"
)

// inferred is the output an operator computes from its inputs: its shape and
// the dtypes the output tensor may declare (the first is the default).
type inferred struct {
	shape  []int64
	dtypes []DType
}

// matmulParams is the resolved geometry of a MATMUL: out[batch..., M, N] =
// sum_K A[batchA..., M, K] * B[batchB..., K, N] (after the transposes).
type matmulParams struct {
	batch          []int64 // broadcast batch shape of the output
	aBatch, bBatch []int64 // batch dims of A and B (before broadcasting)
	M, N, K        int64
	transA, transB bool
}

func matmulGeom(op *Operator, a, b *Tensor) (matmulParams, error) {
	var p matmulParams
	var err error
	if p.transA, err = op.Attrs.Bool("transpose_a", false); err != nil {
		return p, err
	}
	if p.transB, err = op.Attrs.Bool("transpose_b", false); err != nil {
		return p, err
	}
	alpha, err := op.Attrs.Float("alpha", 1)
	if err != nil {
		return p, err
	}
	beta, err := op.Attrs.Float("beta", 0)
	if err != nil {
		return p, err
	}
	if alpha != 1 {
		return p, fmt.Errorf("attribute \"alpha\" = %v: only 1 is supported", alpha)
	}
	if beta != 0 {
		return p, fmt.Errorf("attribute \"beta\" = %v: only 0 is supported (MATMUL has no C input; use ADD)", beta)
	}
	ra, rb := len(a.Shape), len(b.Shape)
	if ra < 2 {
		return p, fmt.Errorf("input %q has rank %d, want >= 2", a.Name, ra)
	}
	if rb < 2 {
		return p, fmt.Errorf("input %q has rank %d, want >= 2", b.Name, rb)
	}
	p.M, p.K = a.Shape[ra-2], a.Shape[ra-1]
	if p.transA {
		p.M, p.K = p.K, p.M
	}
	kb, n := b.Shape[rb-2], b.Shape[rb-1]
	if p.transB {
		kb, n = n, kb
	}
	p.N = n
	if kb != p.K {
		return p, fmt.Errorf("reduction dims differ: input %q %v gives K=%d, input %q %v gives K=%d (transpose_a=%v, transpose_b=%v)",
			a.Name, a.Shape, p.K, b.Name, b.Shape, kb, p.transA, p.transB)
	}
	p.aBatch, p.bBatch = a.Shape[:ra-2], b.Shape[:rb-2]
	p.batch, err = broadcastShapes(p.aBatch, p.bBatch)
	if err != nil {
		return p, fmt.Errorf("batch dims of %q %v and %q %v: %w", a.Name, a.Shape, b.Name, b.Shape, err)
	}
	return p, nil
}

// convParams is the resolved geometry of a CONV2D (NCHW, weights
// [OC, C/group, KH, KW]) or a pooling window (OC = C, group = C).
type convParams struct {
	N, C, H, W     int64
	OC, KH, KW     int64
	SH, SW         int64
	PT, PL, PB, PR int64
	DH, DW         int64
	Group          int64
	OH, OW         int64
}

func windowAttrs(op *Operator, p *convParams) error {
	strides, err := op.Attrs.Ints("strides", []int64{1, 1})
	if err != nil {
		return err
	}
	if len(strides) != 2 || strides[0] < 1 || strides[1] < 1 {
		return fmt.Errorf("attribute \"strides\" = %v: want 2 values >= 1", strides)
	}
	pads, err := op.Attrs.Ints("pads", []int64{0, 0, 0, 0})
	if err != nil {
		return err
	}
	if len(pads) != 4 || slices.Min(pads) < 0 {
		return fmt.Errorf("attribute \"pads\" = %v: want 4 values >= 0 [top, left, bottom, right]", pads)
	}
	dil, err := op.Attrs.Ints("dilations", []int64{1, 1})
	if err != nil {
		return err
	}
	if len(dil) != 2 || dil[0] < 1 || dil[1] < 1 {
		return fmt.Errorf("attribute \"dilations\" = %v: want 2 values >= 1", dil)
	}
	const maxWin = 1 << 20
	for _, v := range [][]int64{strides, pads, dil} {
		if slices.Max(v) > maxWin {
			return fmt.Errorf("window attribute %v exceeds the limit %d", v, maxWin)
		}
	}
	p.SH, p.SW = strides[0], strides[1]
	p.PT, p.PL, p.PB, p.PR = pads[0], pads[1], pads[2], pads[3]
	p.DH, p.DW = dil[0], dil[1]
	effH, effW := p.DH*(p.KH-1)+1, p.DW*(p.KW-1)+1
	p.OH = (p.H+p.PT+p.PB-effH)/p.SH + 1
	p.OW = (p.W+p.PL+p.PR-effW)/p.SW + 1
	if p.H+p.PT+p.PB < effH || p.W+p.PL+p.PR < effW {
		return fmt.Errorf("window %dx%d (dilated %dx%d) is larger than the padded input %dx%d",
			p.KH, p.KW, effH, effW, p.H+p.PT+p.PB, p.W+p.PL+p.PR)
	}
	return nil
}

func convGeom(op *Operator, x, w *Tensor) (convParams, error) {
	var p convParams
	if len(x.Shape) != 4 {
		return p, fmt.Errorf("input %q has shape %v, want rank 4 [N, C, H, W]", x.Name, x.Shape)
	}
	if len(w.Shape) != 4 {
		return p, fmt.Errorf("weight %q has shape %v, want rank 4 [OC, C/group, KH, KW]", w.Name, w.Shape)
	}
	p.N, p.C, p.H, p.W = x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	p.OC, p.KH, p.KW = w.Shape[0], w.Shape[2], w.Shape[3]
	defGroup := int64(1)
	if op.Type == OpConv2DDW {
		defGroup = p.C
	}
	g, err := op.Attrs.Int("group", defGroup)
	if err != nil {
		return p, err
	}
	if g < 1 || p.C%g != 0 || p.OC%g != 0 {
		return p, fmt.Errorf("attribute \"group\" = %d must be >= 1 and divide both the input channels %d of %q and the output channels %d of %q",
			g, p.C, x.Name, p.OC, w.Name)
	}
	if op.Type == OpConv2DDW && g != p.C {
		return p, fmt.Errorf("attribute \"group\" = %d: a depthwise convolution needs group = input channels (%d)", g, p.C)
	}
	p.Group = g
	if w.Shape[1] != p.C/g {
		return p, fmt.Errorf("weight %q has shape %v: dim 1 must be C/group = %d/%d = %d", w.Name, w.Shape, p.C, g, p.C/g)
	}
	ks, err := op.Attrs.Ints("kernel_shape", []int64{p.KH, p.KW})
	if err != nil {
		return p, err
	}
	if !slices.Equal(ks, []int64{p.KH, p.KW}) {
		return p, fmt.Errorf("attribute \"kernel_shape\" = %v disagrees with weight %q %v", ks, w.Name, w.Shape)
	}
	return p, windowAttrs(op, &p)
}

func poolGeom(op *Operator, x *Tensor) (convParams, error) {
	var p convParams
	if len(x.Shape) != 4 {
		return p, fmt.Errorf("input %q has shape %v, want rank 4 [N, C, H, W]", x.Name, x.Shape)
	}
	p.N, p.C, p.H, p.W = x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	p.OC, p.Group = p.C, p.C
	if _, ok := op.Attrs["kernel_shape"]; !ok {
		return p, fmt.Errorf("attribute \"kernel_shape\" is required")
	}
	ks, err := op.Attrs.Ints("kernel_shape", nil)
	if err != nil {
		return p, err
	}
	if len(ks) != 2 || ks[0] < 1 || ks[1] < 1 || ks[0] > 1<<20 || ks[1] > 1<<20 {
		return p, fmt.Errorf("attribute \"kernel_shape\" = %v: want 2 values in [1, 2^20]", ks)
	}
	p.KH, p.KW = ks[0], ks[1]
	if err := windowAttrs(op, &p); err != nil {
		return p, err
	}
	effH, effW := p.DH*(p.KH-1)+1, p.DW*(p.KW-1)+1
	if p.PT >= effH || p.PB >= effH || p.PL >= effW || p.PR >= effW {
		return p, fmt.Errorf("attribute \"pads\" = [%d %d %d %d]: each pad must be smaller than the window %dx%d",
			p.PT, p.PL, p.PB, p.PR, effH, effW)
	}
	return p, nil
}

// normAxis maps axis in [-rank, rank) to [0, rank).
func normAxis(axis int64, rank int) (int, error) {
	r := int64(rank)
	if axis < -r || axis >= r {
		return 0, fmt.Errorf("attribute \"axis\" = %d out of range [%d, %d) for rank %d", axis, -r, r, rank)
	}
	if axis < 0 {
		axis += r
	}
	return int(axis), nil
}

// reshapeTarget resolves RESHAPE's shape attribute (0 copies the input dim,
// -1 is inferred) against input shape in.
func reshapeTarget(op *Operator, in *Tensor) ([]int64, error) {
	if _, ok := op.Attrs["shape"]; !ok {
		return nil, fmt.Errorf("attribute \"shape\" is required")
	}
	spec, err := op.Attrs.Ints("shape", nil)
	if err != nil {
		return nil, err
	}
	if len(spec) > MaxRank {
		return nil, fmt.Errorf("attribute \"shape\" has rank %d, the limit is %d", len(spec), MaxRank)
	}
	out := make([]int64, len(spec))
	infer := -1
	known := int64(1)
	for i, d := range spec {
		switch {
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("attribute \"shape\" = %v has more than one -1", spec)
			}
			infer = i
			continue
		case d == 0:
			if i >= len(in.Shape) {
				return nil, fmt.Errorf("attribute \"shape\" = %v: 0 at index %d copies a dim input %q %v does not have", spec, i, in.Name, in.Shape)
			}
			d = in.Shape[i]
		case d < -1:
			return nil, fmt.Errorf("attribute \"shape\" = %v has negative dim %d", spec, d)
		}
		out[i] = d
		if known > MaxElements/d {
			return nil, fmt.Errorf("attribute \"shape\" = %v exceeds the limit of %d elements", spec, int64(MaxElements))
		}
		known *= d
	}
	total := in.Elements()
	if infer >= 0 {
		if total%known != 0 {
			return nil, fmt.Errorf("attribute \"shape\" = %v cannot hold the %d elements of input %q %v", spec, total, in.Name, in.Shape)
		}
		out[infer] = total / known
		known = total
	}
	if known != total {
		return nil, fmt.Errorf("attribute \"shape\" = %v has %d elements, input %q %v has %d", spec, known, in.Name, in.Shape, total)
	}
	return out, nil
}

func transposePerm(op *Operator, in *Tensor) ([]int64, error) {
	r := len(in.Shape)
	def := make([]int64, r)
	for i := range def {
		def[i] = int64(r - 1 - i)
	}
	perm, err := op.Attrs.Ints("perm", def)
	if err != nil {
		return nil, err
	}
	if len(perm) != r {
		return nil, fmt.Errorf("attribute \"perm\" = %v has %d entries, input %q has rank %d", perm, len(perm), in.Name, r)
	}
	seen := make([]bool, r)
	for _, p := range perm {
		if p < 0 || p >= int64(r) || seen[p] {
			return nil, fmt.Errorf("attribute \"perm\" = %v is not a permutation of 0..%d", perm, r-1)
		}
		seen[p] = true
	}
	return perm, nil
}

// broadcastShapes applies numpy broadcasting to a and b.
func broadcastShapes(a, b []int64) ([]int64, error) {
	n := max(len(a), len(b))
	out := make([]int64, n)
	for i := 0; i < n; i++ {
		da, db := int64(1), int64(1)
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast (dim %d: %d vs %d)", a, b, i, da, db)
		}
	}
	return out, nil
}

func gemmOutDTypes(in DType) []DType {
	if acc := in.Accumulator(); acc != in {
		return []DType{in, acc}
	}
	return []DType{in}
}

func sameDType(ins ...*Tensor) error {
	for _, t := range ins[1:] {
		if t.DType != ins[0].DType {
			return fmt.Errorf("inputs %q (%s) and %q (%s) have different dtypes", ins[0].Name, ins[0].DType, t.Name, t.DType)
		}
	}
	return nil
}

// checkBias checks an optional bias of a GEMM-like op: shape [n] and the
// dtype of the inputs or of their accumulator.
func checkBias(b *Tensor, n int64, in DType) error {
	if len(b.Shape) != 1 || b.Shape[0] != n {
		return fmt.Errorf("bias %q has shape %v, want [%d]", b.Name, b.Shape, n)
	}
	if b.DType != in && b.DType != in.Accumulator() {
		return fmt.Errorf("bias %q has dtype %s, want %s or %s", b.Name, b.DType, in, in.Accumulator())
	}
	return nil
}

// infer computes op's output from its inputs, checking every input and
// attribute. Errors do not carry the file/operator prefix.
func infer(op *Operator, ins []*Tensor) (inferred, error) {
	info := opInfos[op.Type]
	if info.floatOnly && ins[0].DType.IsInteger() {
		return inferred{}, fmt.Errorf("input %q has dtype %s: %s needs a floating-point dtype", ins[0].Name, ins[0].DType, op.Type)
	}
	same := []DType{ins[0].DType}
	switch info.kind {
	case kindMatMul:
		if err := sameDType(ins...); err != nil {
			return inferred{}, err
		}
		p, err := matmulGeom(op, ins[0], ins[1])
		if err != nil {
			return inferred{}, err
		}
		return inferred{append(slices.Clone(p.batch), p.M, p.N), gemmOutDTypes(ins[0].DType)}, nil
	case kindLinear:
		x, w := ins[0], ins[1]
		if err := sameDType(x, w); err != nil {
			return inferred{}, err
		}
		if len(x.Shape) < 1 {
			return inferred{}, fmt.Errorf("input %q is a scalar, want rank >= 1 [..., in_features]", x.Name)
		}
		if len(w.Shape) != 2 || w.Shape[0] != x.Shape[len(x.Shape)-1] {
			return inferred{}, fmt.Errorf("weight %q has shape %v, want [in_features=%d, out_features] to match input %q %v",
				w.Name, w.Shape, x.Shape[len(x.Shape)-1], x.Name, x.Shape)
		}
		if len(ins) == 3 {
			if err := checkBias(ins[2], w.Shape[1], x.DType); err != nil {
				return inferred{}, err
			}
		}
		return inferred{append(slices.Clone(x.Shape[:len(x.Shape)-1]), w.Shape[1]), gemmOutDTypes(x.DType)}, nil
	case kindConv:
		if err := sameDType(ins[0], ins[1]); err != nil {
			return inferred{}, err
		}
		p, err := convGeom(op, ins[0], ins[1])
		if err != nil {
			return inferred{}, err
		}
		if len(ins) == 3 {
			if err := checkBias(ins[2], p.OC, ins[0].DType); err != nil {
				return inferred{}, err
			}
		}
		return inferred{[]int64{p.N, p.OC, p.OH, p.OW}, gemmOutDTypes(ins[0].DType)}, nil
	case kindUnary:
		if op.Type == OpClamp {
			lo, err := op.Attrs.Float("min", math.Inf(-1))
			if err != nil {
				return inferred{}, err
			}
			hi, err := op.Attrs.Float("max", math.Inf(1))
			if err != nil {
				return inferred{}, err
			}
			if lo > hi {
				return inferred{}, fmt.Errorf("attribute \"min\" = %v is greater than \"max\" = %v", lo, hi)
			}
		}
		return inferred{slices.Clone(ins[0].Shape), same}, nil
	case kindBinary:
		if err := sameDType(ins...); err != nil {
			return inferred{}, err
		}
		s, err := broadcastShapes(ins[0].Shape, ins[1].Shape)
		if err != nil {
			return inferred{}, fmt.Errorf("inputs %q and %q: %w", ins[0].Name, ins[1].Name, err)
		}
		return inferred{s, same}, nil
	case kindSoftmax:
		axis, err := op.Attrs.Int("axis", -1)
		if err != nil {
			return inferred{}, err
		}
		if _, err := normAxis(axis, len(ins[0].Shape)); err != nil {
			return inferred{}, err
		}
		return inferred{slices.Clone(ins[0].Shape), same}, nil
	case kindLayerNorm:
		if err := sameDType(ins...); err != nil {
			return inferred{}, err
		}
		axis, err := op.Attrs.Int("axis", -1)
		if err != nil {
			return inferred{}, err
		}
		ax, err := normAxis(axis, len(ins[0].Shape))
		if err != nil {
			return inferred{}, err
		}
		eps, err := op.Attrs.Float("epsilon", 1e-5)
		if err != nil {
			return inferred{}, err
		}
		if eps <= 0 {
			return inferred{}, fmt.Errorf("attribute \"epsilon\" = %v: want > 0", eps)
		}
		norm := ins[0].Shape[ax:]
		for _, t := range ins[1:] {
			if !slices.Equal(t.Shape, norm) {
				return inferred{}, fmt.Errorf("input %q has shape %v, want %v (the dims of %q from axis %d)", t.Name, t.Shape, norm, ins[0].Name, ax)
			}
		}
		return inferred{slices.Clone(ins[0].Shape), same}, nil
	case kindPool:
		p, err := poolGeom(op, ins[0])
		if err != nil {
			return inferred{}, err
		}
		if _, err := op.Attrs.Bool("count_include_pad", false); err != nil {
			return inferred{}, err
		}
		return inferred{[]int64{p.N, p.C, p.OH, p.OW}, same}, nil
	case kindReshape:
		s, err := reshapeTarget(op, ins[0])
		if err != nil {
			return inferred{}, err
		}
		return inferred{s, same}, nil
	case kindTranspose:
		perm, err := transposePerm(op, ins[0])
		if err != nil {
			return inferred{}, err
		}
		s := make([]int64, len(perm))
		for i, p := range perm {
			s[i] = ins[0].Shape[p]
		}
		return inferred{s, same}, nil
	}
	return inferred{}, fmt.Errorf("%w %q", ErrUnsupportedOp, op.Type)
}
