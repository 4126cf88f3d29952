package model

import (
	"context"
	"fmt"
	"math"
	"slices"
)

// MaxEvalElements bounds the size of any tensor Evaluate will materialize
// (8 bytes per element).
const MaxEvalElements = 1 << 27

// Evaluate runs g on the CPU and returns the value of every tensor: the given
// inputs and every operator's output. inputs must hold exactly the graph's
// inputs (Graph.Inputs) with their declared shapes and dtypes and values
// representable in those dtypes. It is the numerical oracle the simulator is
// checked against, so it favours clarity and exactness over speed:
//
//   - Floating-point results are computed in float64 (sums in float64, in
//     index order) and rounded once to the output tensor's dtype (round to
//     nearest even; float16 and bfloat16 rounding included).
//   - GEMM-like ops on integer inputs (int8 x int8, int32 x int32) multiply
//     exactly and accumulate in int32 with two's-complement wraparound, like a
//     hardware accumulator; the bias (if any) is added in int32 the same way.
//     An int8 output saturates the int32 result to [-128, 127].
//   - Other integer ops compute exactly and saturate to the output dtype;
//     DIV truncates toward zero and fails on a zero divisor.
//
// g must be valid (Parse, LoadFile and Validate ensure it). ctx is checked
// between operators and inside long loops.
func Evaluate(ctx context.Context, g *Graph, inputs map[string]*Array) (map[string]*Array, error) {
	for _, name := range sortedKeys(g.Tensors) {
		if n := g.Tensors[name].Elements(); n > MaxEvalElements {
			return nil, fmt.Errorf("%s: evaluate: tensor %q has %d elements, the reference evaluator's limit is %d", g.where(), name, n, int64(MaxEvalElements))
		}
	}
	vals := map[string]*Array{}
	want := g.Inputs()
	for _, name := range sortedKeys(inputs) {
		if !slices.Contains(want, name) {
			return nil, fmt.Errorf("%s: evaluate: %q is not an input of the graph (inputs: %v)", g.where(), name, want)
		}
	}
	for _, name := range want {
		a, ok := inputs[name]
		if !ok || a == nil {
			return nil, fmt.Errorf("%s: evaluate: input tensor %q is missing", g.where(), name)
		}
		t := g.Tensors[name]
		if !slices.Equal(a.Shape, t.Shape) || a.DType != t.DType {
			return nil, fmt.Errorf("%s: evaluate: input tensor %q is %s%v, the graph declares %s%v", g.where(), name, a.DType, a.Shape, t.DType, t.Shape)
		}
		if int64(len(a.Data)) != t.Elements() {
			return nil, fmt.Errorf("%s: evaluate: input tensor %q has %d values, want %d", g.where(), name, len(a.Data), t.Elements())
		}
		for i, v := range a.Data {
			if !Representable(t.DType, v) {
				return nil, fmt.Errorf("%s: evaluate: input tensor %q element %d = %v is not a %s value", g.where(), name, i, v, t.DType)
			}
		}
		vals[name] = a
	}
	for _, op := range g.Operators {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%s: evaluate: stopped before operator %q: %w", g.where(), op.Name, err)
		}
		ins := make([]*Array, len(op.Inputs))
		for i, n := range op.Inputs {
			if ins[i] = vals[n]; ins[i] == nil {
				return nil, g.opErr(op, fmt.Errorf("evaluate: input tensor %q has no value (was the graph validated?)", n))
			}
		}
		if len(op.Outputs) != 1 || g.Tensors[op.Outputs[0]] == nil {
			return nil, g.opErr(op, fmt.Errorf("evaluate: outputs %v are not one declared tensor (was the graph validated?)", op.Outputs))
		}
		outT := g.Tensors[op.Outputs[0]]
		out, err := NewArray(outT.Shape, outT.DType)
		if err != nil {
			return nil, g.opErr(op, err)
		}
		if err := evalOp(ctx, op, g.tensorsOf(op.Inputs), ins, out); err != nil {
			return nil, g.opErr(op, fmt.Errorf("evaluate: %w", err))
		}
		vals[outT.Name] = out
	}
	return vals, nil
}

func evalOp(ctx context.Context, op *Operator, ts []*Tensor, ins []*Array, out *Array) error {
	switch opInfos[op.Type].kind {
	case kindMatMul:
		return evalMatMul(ctx, op, ts, ins, out)
	case kindLinear:
		return evalLinear(ctx, ins, out)
	case kindConv:
		p, err := convGeom(op, ts[0], ts[1])
		if err != nil {
			return err
		}
		return evalConv(ctx, p, ins, out)
	case kindUnary:
		return evalUnary(op, ins[0], out)
	case kindBinary:
		return evalBinary(op, ins[0], ins[1], out)
	case kindSoftmax:
		axis, _ := op.Attrs.Int("axis", -1)
		ax, err := normAxis(axis, len(ins[0].Shape))
		if err != nil {
			return err
		}
		evalSoftmax(ins[0], ax, out)
		return nil
	case kindLayerNorm:
		axis, _ := op.Attrs.Int("axis", -1)
		ax, err := normAxis(axis, len(ins[0].Shape))
		if err != nil {
			return err
		}
		eps, _ := op.Attrs.Float("epsilon", 1e-5)
		evalLayerNorm(ins, ax, eps, out)
		return nil
	case kindPool:
		p, err := poolGeom(op, ts[0])
		if err != nil {
			return err
		}
		inclPad, _ := op.Attrs.Bool("count_include_pad", false)
		return evalPool(ctx, op.Type == OpMaxPool, inclPad, p, ins[0], out)
	case kindReshape:
		copy(out.Data, ins[0].Data)
		return nil
	case kindTranspose:
		perm, err := transposePerm(op, ts[0])
		if err != nil {
			return err
		}
		evalTranspose(ins[0], perm, out)
		return nil
	}
	return fmt.Errorf("%w %q", ErrUnsupportedOp, op.Type)
}

// accumulator sums products for one output element: exactly in int32 with
// wraparound for integer inputs, in float64 otherwise.
type accumulator struct {
	integer bool
	i       int32
	f       float64
}

func (a *accumulator) add(x, y float64) {
	if a.integer {
		a.i += int32(int64(x) * int64(y))
		return
	}
	a.f += x * y
}

func (a *accumulator) addBias(b float64) {
	if a.integer {
		a.i += int32(int64(b))
		return
	}
	a.f += b
}

func (a *accumulator) result(d DType) float64 {
	if a.integer {
		return Round(d, float64(a.i))
	}
	return Round(d, a.f)
}

// strides returns row-major strides of shape.
func strides(shape []int64) []int64 {
	s := make([]int64, len(shape))
	n := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = n
		n *= shape[i]
	}
	return s
}

// broadcastStrides returns, for an operand of shape in broadcast to out, the
// stride of each output dim in the operand (0 where the operand is broadcast).
func broadcastStrides(in, out []int64) []int64 {
	st := strides(in)
	bs := make([]int64, len(out))
	off := len(out) - len(in)
	for i := range out {
		if j := i - off; j >= 0 && in[j] != 1 {
			bs[i] = st[j]
		}
	}
	return bs
}

// offsets returns the operand offset of every output element (row-major walk
// over out with the operand's broadcast strides).
func offsets(in, out []int64) []int64 {
	bs := broadcastStrides(in, out)
	n := int64(1)
	for _, d := range out {
		n *= d
	}
	res := make([]int64, n)
	idx := make([]int64, len(out))
	var off int64
	for k := int64(0); k < n; k++ {
		res[k] = off
		for d := len(out) - 1; d >= 0; d-- {
			idx[d]++
			off += bs[d]
			if idx[d] < out[d] {
				break
			}
			off -= bs[d] * idx[d]
			idx[d] = 0
		}
	}
	return res
}

func evalMatMul(ctx context.Context, op *Operator, ts []*Tensor, ins []*Array, out *Array) error {
	p, err := matmulGeom(op, ts[0], ts[1])
	if err != nil {
		return err
	}
	a, b := ins[0], ins[1]
	aOff, bOff := offsets(p.aBatch, p.batch), offsets(p.bBatch, p.batch)
	mk, kn, mn := p.M*p.K, p.K*p.N, p.M*p.N
	integer := a.DType.IsInteger()
	for bi := range aOff {
		ab, bb := aOff[bi]*mk, bOff[bi]*kn
		for m := int64(0); m < p.M; m++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			for n := int64(0); n < p.N; n++ {
				acc := accumulator{integer: integer}
				for k := int64(0); k < p.K; k++ {
					ai := ab + m*p.K + k
					if p.transA {
						ai = ab + k*p.M + m
					}
					bj := bb + k*p.N + n
					if p.transB {
						bj = bb + n*p.K + k
					}
					acc.add(a.Data[ai], b.Data[bj])
				}
				out.Data[int64(bi)*mn+m*p.N+n] = acc.result(out.DType)
			}
		}
	}
	return nil
}

func evalLinear(ctx context.Context, ins []*Array, out *Array) error {
	x, w := ins[0], ins[1]
	K, N := w.Shape[0], w.Shape[1]
	M := x.Elements() / K
	integer := x.DType.IsInteger()
	for m := int64(0); m < M; m++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		for n := int64(0); n < N; n++ {
			acc := accumulator{integer: integer}
			for k := int64(0); k < K; k++ {
				acc.add(x.Data[m*K+k], w.Data[k*N+n])
			}
			if len(ins) == 3 {
				acc.addBias(ins[2].Data[n])
			}
			out.Data[m*N+n] = acc.result(out.DType)
		}
	}
	return nil
}

func evalConv(ctx context.Context, p convParams, ins []*Array, out *Array) error {
	x, w := ins[0], ins[1]
	cg, ocg := p.C/p.Group, p.OC/p.Group
	integer := x.DType.IsInteger()
	for n := int64(0); n < p.N; n++ {
		for oc := int64(0); oc < p.OC; oc++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			grp := oc / ocg
			for oh := int64(0); oh < p.OH; oh++ {
				for ow := int64(0); ow < p.OW; ow++ {
					acc := accumulator{integer: integer}
					for cl := int64(0); cl < cg; cl++ {
						c := grp*cg + cl
						for kh := int64(0); kh < p.KH; kh++ {
							ih := oh*p.SH - p.PT + kh*p.DH
							if ih < 0 || ih >= p.H {
								continue
							}
							for kw := int64(0); kw < p.KW; kw++ {
								iw := ow*p.SW - p.PL + kw*p.DW
								if iw < 0 || iw >= p.W {
									continue
								}
								acc.add(x.Data[((n*p.C+c)*p.H+ih)*p.W+iw], w.Data[((oc*cg+cl)*p.KH+kh)*p.KW+kw])
							}
						}
					}
					if len(ins) == 3 {
						acc.addBias(ins[2].Data[oc])
					}
					out.Data[((n*p.OC+oc)*p.OH+oh)*p.OW+ow] = acc.result(out.DType)
				}
			}
		}
	}
	return nil
}

func gelu(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }

func evalUnary(op *Operator, in, out *Array) error {
	lo, _ := op.Attrs.Float("min", math.Inf(-1))
	hi, _ := op.Attrs.Float("max", math.Inf(1))
	if in.DType.IsInteger() {
		lo, hi = math.Ceil(lo), math.Floor(hi)
	}
	for i, x := range in.Data {
		var y float64
		switch op.Type {
		case OpRelu:
			y = math.Max(x, 0)
		case OpGelu:
			y = gelu(x)
		case OpSigmoid:
			y = 1 / (1 + math.Exp(-x))
		case OpTanh:
			y = math.Tanh(x)
		case OpExp:
			y = math.Exp(x)
		case OpClamp:
			y = math.Min(math.Max(x, lo), hi)
		case OpAbs:
			y = math.Abs(x)
		case OpNeg:
			y = -x
		case OpRecip:
			y = 1 / x
		default:
			return fmt.Errorf("%w %q", ErrUnsupportedOp, op.Type)
		}
		if math.IsNaN(x) {
			y = x
		}
		out.Data[i] = Round(out.DType, y)
	}
	return nil
}

func evalBinary(op *Operator, a, b, out *Array) error {
	ao, bo := offsets(a.Shape, out.Shape), offsets(b.Shape, out.Shape)
	integer := out.DType.IsInteger()
	for i := range out.Data {
		x, y := a.Data[ao[i]], b.Data[bo[i]]
		var z float64
		switch op.Type {
		case OpAdd:
			z = x + y
		case OpSub:
			z = x - y
		case OpMul:
			z = x * y
		case OpDiv:
			if integer {
				if y == 0 {
					return fmt.Errorf("integer division by zero at output element %d (divisor tensor %q)", i, op.Inputs[1])
				}
				z = float64(int64(x) / int64(y))
			} else {
				z = x / y
			}
		default:
			return fmt.Errorf("%w %q", ErrUnsupportedOp, op.Type)
		}
		out.Data[i] = Round(out.DType, z)
	}
	return nil
}

// rows splits shape at axis: outer is the product of dims before axis, inner
// the product from axis on; for softmax the axis dim and the dims after it.
func splitAt(shape []int64, axis int) (outer, mid, inner int64) {
	outer, mid, inner = 1, shape[axis], 1
	for _, d := range shape[:axis] {
		outer *= d
	}
	for _, d := range shape[axis+1:] {
		inner *= d
	}
	return outer, mid, inner
}

func evalSoftmax(in *Array, axis int, out *Array) {
	outer, mid, inner := splitAt(in.Shape, axis)
	for o := int64(0); o < outer; o++ {
		for j := int64(0); j < inner; j++ {
			base := o*mid*inner + j
			mx := math.Inf(-1)
			for k := int64(0); k < mid; k++ {
				mx = math.Max(mx, in.Data[base+k*inner])
			}
			sum := 0.0
			for k := int64(0); k < mid; k++ {
				sum += math.Exp(in.Data[base+k*inner] - mx)
			}
			for k := int64(0); k < mid; k++ {
				out.Data[base+k*inner] = Round(out.DType, math.Exp(in.Data[base+k*inner]-mx)/sum)
			}
		}
	}
}

func evalLayerNorm(ins []*Array, axis int, eps float64, out *Array) {
	x, gamma := ins[0], ins[1]
	n := int64(1)
	for _, d := range x.Shape[axis:] {
		n *= d
	}
	rows := x.Elements() / n
	for r := int64(0); r < rows; r++ {
		row := x.Data[r*n : (r+1)*n]
		mean := 0.0
		for _, v := range row {
			mean += v
		}
		mean /= float64(n)
		vr := 0.0
		for _, v := range row {
			vr += (v - mean) * (v - mean)
		}
		vr /= float64(n)
		inv := 1 / math.Sqrt(vr+eps)
		for i, v := range row {
			y := (v - mean) * inv * gamma.Data[i]
			if len(ins) == 3 {
				y += ins[2].Data[i]
			}
			out.Data[r*n+int64(i)] = Round(out.DType, y)
		}
	}
}

func evalPool(ctx context.Context, isMax, inclPad bool, p convParams, in, out *Array) error {
	for nc := int64(0); nc < p.N*p.C; nc++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		for oh := int64(0); oh < p.OH; oh++ {
			for ow := int64(0); ow < p.OW; ow++ {
				best, sum, count, seen := math.Inf(-1), 0.0, int64(0), false
				for kh := int64(0); kh < p.KH; kh++ {
					ih := oh*p.SH - p.PT + kh*p.DH
					for kw := int64(0); kw < p.KW; kw++ {
						iw := ow*p.SW - p.PL + kw*p.DW
						if ih < 0 || ih >= p.H || iw < 0 || iw >= p.W {
							// Padding: ignored by max; counted as a zero by
							// avg only with count_include_pad (and only inside
							// the padded extent).
							if inclPad && ih >= -p.PT && ih < p.H+p.PB && iw >= -p.PL && iw < p.W+p.PR {
								count++
							}
							continue
						}
						v := in.Data[(nc*p.H+ih)*p.W+iw]
						best = math.Max(best, v)
						seen = true
						sum += v
						count++
					}
				}
				if !seen {
					return fmt.Errorf("output window (%d, %d) covers only padding", oh, ow)
				}
				r := best
				if !isMax {
					r = sum / float64(count)
				}
				out.Data[(nc*p.OH+oh)*p.OW+ow] = Round(out.DType, r)
			}
		}
	}
	return nil
}

func evalTranspose(in *Array, perm []int64, out *Array) {
	// Output dim i walks input dim perm[i].
	ist := strides(in.Shape)
	pst := make([]int64, len(perm))
	for i, p := range perm {
		pst[i] = ist[p]
	}
	idx := make([]int64, len(out.Shape))
	var off int64
	for k := range out.Data {
		out.Data[k] = in.Data[off]
		for d := len(out.Shape) - 1; d >= 0; d-- {
			idx[d]++
			off += pst[d]
			if idx[d] < out.Shape[d] {
				break
			}
			off -= pst[d] * idx[d]
			idx[d] = 0
		}
	}
}
