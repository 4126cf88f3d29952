package model

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// onnxUnary maps ONNX's attribute-free unary operators to kpuopt's.
var onnxUnary = map[string]OpType{
	"Relu": OpRelu, "Sigmoid": OpSigmoid, "Tanh": OpTanh, "Exp": OpExp, "Abs": OpAbs,
	"Neg": OpNeg, "Reciprocal": OpRecip,
}

// onnxBinary maps ONNX's broadcasting arithmetic operators to kpuopt's.
var onnxBinary = map[string]OpType{"Add": OpAdd, "Sub": OpSub, "Mul": OpMul, "Div": OpDiv}

// ONNXOpTypes lists the ONNX operator types the importer converts, sorted.
func ONNXOpTypes() []string {
	out := []string{"AveragePool", "BatchNormalization", "Clip", "Constant", "Conv", "Flatten", "Gelu", "Gemm",
		"GlobalAveragePool", "GlobalMaxPool", "Identity", "LayerNormalization", "MatMul", "MatMulInteger", "ConvInteger",
		"MaxPool", "Reshape",
		"Softmax", "Transpose"}
	for k := range onnxUnary {
		out = append(out, k)
	}
	for k := range onnxBinary {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// convert maps one ONNX node to kpuopt operators.
func (im *onnxImporter) convert(n *onnxNode) error {
	if n.domain != "" && n.domain != "ai.onnx" {
		return fmt.Errorf("%w: domain %q is not supported (only the default ONNX domain)", ErrUnsupportedOp, n.domain)
	}
	if len(n.outputs) == 0 || n.outputs[0] == "" {
		return errors.New("the node has no output")
	}
	for _, o := range n.outputs {
		if o == "" {
			continue
		}
		if _, ok := im.g.Tensors[o]; ok {
			return fmt.Errorf("output %q is already defined", o)
		}
		if _, ok := im.consts[o]; ok {
			return fmt.Errorf("output %q is already defined as a constant", o)
		}
		if _, ok := im.pending[o]; ok {
			return fmt.Errorf("output %q is also a graph input", o)
		}
		if _, ok := im.alias[o]; ok {
			return fmt.Errorf("output %q is already defined by an Identity", o)
		}
	}
	out := n.outputs[0]
	if t, ok := onnxUnary[n.opType]; ok {
		if _, err := im.attrs(); err != nil {
			return err
		}
		if err := im.arity(1, 1, 1); err != nil {
			return err
		}
		_, err := im.emit("", t, n.inputs[:1], out, nil)
		return err
	}
	if t, ok := onnxBinary[n.opType]; ok {
		if _, err := im.attrs(); err != nil {
			return err
		}
		if err := im.arity(2, 2, 1); err != nil {
			return err
		}
		_, err := im.emit("", t, n.inputs, out, nil)
		return err
	}
	switch n.opType {
	case "Identity":
		if _, err := im.attrs(); err != nil {
			return err
		}
		if err := im.arity(1, 1, 1); err != nil {
			return err
		}
		if _, err := im.tensorOrConst(n.inputs[0]); err != nil {
			return err
		}
		im.alias[out] = im.resolve(n.inputs[0])
		return nil
	case "Constant":
		return im.convConstant()
	case "MatMul":
		if _, err := im.attrs(); err != nil {
			return err
		}
		if err := im.arity(2, 2, 1); err != nil {
			return err
		}
		_, err := im.emit("", OpMatMul, n.inputs, out, nil)
		return err
	case "Gemm":
		return im.convGemm()
	case "MatMulInteger", "ConvInteger":
		return im.convInteger()
	case "Conv":
		return im.convConv()
	case "MaxPool", "AveragePool":
		return im.convPool()
	case "GlobalAveragePool", "GlobalMaxPool":
		return im.convGlobalPool()
	case "Gelu":
		as, err := im.attrs("approximate")
		if err != nil {
			return err
		}
		if s, err := as.str("approximate", "none"); err != nil {
			return err
		} else if s != "none" {
			return fmt.Errorf("attribute \"approximate\" = %q: only \"none\" (the exact erf form) is supported", s)
		}
		if err := im.arity(1, 1, 1); err != nil {
			return err
		}
		_, err = im.emit("", OpGelu, n.inputs, out, nil)
		return err
	case "Clip":
		return im.convClip()
	case "Softmax":
		return im.convSoftmax()
	case "LayerNormalization":
		return im.convLayerNorm()
	case "BatchNormalization":
		return im.convBatchNorm()
	case "Reshape":
		return im.convReshape()
	case "Flatten":
		return im.convFlatten()
	case "Transpose":
		as, err := im.attrs("perm")
		if err != nil {
			return err
		}
		if err := im.arity(1, 1, 1); err != nil {
			return err
		}
		var attrs Attributes
		if perm, ok, err := as.ints("perm"); err != nil {
			return err
		} else if ok {
			attrs = Attributes{"perm": perm}
		}
		_, err = im.emit("", OpTranspose, n.inputs, out, attrs)
		return err
	}
	return fmt.Errorf("%w: ONNX operator %q is not supported (supported: %s)", ErrUnsupportedOp, n.opType, strings.Join(ONNXOpTypes(), ", "))
}

// arity checks the node's input count (trailing empty names are absent
// optional inputs) and that it has at most maxOut outputs in use.
func (im *onnxImporter) arity(minIn, maxIn, maxOut int) error {
	n := im.node
	in := len(n.inputs)
	for in > 0 && n.inputs[in-1] == "" {
		in--
	}
	n.inputs = n.inputs[:in]
	if in < minIn || in > maxIn {
		want := fmt.Sprint(minIn)
		if maxIn != minIn {
			want = fmt.Sprintf("%d to %d", minIn, maxIn)
		}
		return fmt.Errorf("has %d inputs, want %s", in, want)
	}
	for i, o := range n.outputs {
		if i >= maxOut && o != "" {
			im.dropped[o] = fmt.Sprintf("output %d of %s", i, im.nodeLabel())
		}
	}
	return nil
}

// header checks a node's attribute names against known (as attrs does) and
// then its input and output counts (as arity does), returning the attributes.
func (im *onnxImporter) header(minIn, maxIn, maxOut int, known ...string) (onnxAttrs, error) {
	as, err := im.attrs(known...)
	if err != nil {
		return nil, err
	}
	if err := im.arity(minIn, maxIn, maxOut); err != nil {
		return nil, err
	}
	return as, nil
}

// tensorOrConst checks that name is known (without declaring it).
func (im *onnxImporter) tensorOrConst(name string) (string, error) {
	r := im.resolve(name)
	if _, ok := im.g.Tensors[r]; ok {
		return r, nil
	}
	if _, ok := im.pending[r]; ok {
		return r, nil
	}
	if _, ok := im.consts[r]; ok {
		return r, nil
	}
	if why, ok := im.dropped[r]; ok {
		return "", fmt.Errorf("input %q is %s, which kpuopt does not compute", name, why)
	}
	return "", fmt.Errorf("input %q is not a graph input, an initializer or the output of an earlier node", name)
}

func (im *onnxImporter) convConstant() error {
	n := im.node
	as, err := im.attrs("value", "value_float", "value_floats", "value_int", "value_ints")
	if err != nil {
		return err
	}
	if len(n.inputs) != 0 || len(as) != 1 {
		return errors.New("want no inputs and exactly one of the attributes value, value_float(s), value_int(s)")
	}
	t := &onnxTensor{name: n.outputs[0]}
	for name, a := range as {
		switch name {
		case "value":
			if a.typ != attrTensor || a.t == nil {
				return errors.New("attribute \"value\": want a TENSOR")
			}
			c := *a.t
			c.name = t.name
			t = &c
		case "value_float", "value_floats":
			if (name == "value_float") != (a.typ == attrFloat) || (a.typ != attrFloat && a.typ != attrFloats) {
				return fmt.Errorf("attribute %q has the wrong type", name)
			}
			t.dataType = onnxFloat
			vals := a.floats
			if a.typ == attrFloat {
				vals = []float64{a.f}
			} else {
				t.dims = []int64{int64(len(vals))}
			}
			t.raw = floatsRaw(vals)
			t.hasRaw = true
		case "value_int", "value_ints":
			if (name == "value_int") != (a.typ == attrInt) || (a.typ != attrInt && a.typ != attrInts) {
				return fmt.Errorf("attribute %q has the wrong type", name)
			}
			t.dataType = onnxInt64
			vals := a.ints
			if a.typ == attrInt {
				vals = []int64{a.i}
			} else {
				t.dims = []int64{int64(len(vals))}
			}
			t.raw = int64sRaw(vals)
			t.hasRaw = true
		}
	}
	for i, o := range n.outputs[1:] {
		if o != "" {
			return fmt.Errorf("has an extra output %d %q", i+1, o)
		}
	}
	im.consts[n.outputs[0]] = t
	return nil
}

func floatsRaw(vals []float64) []byte {
	b := make([]byte, 0, 4*len(vals))
	for _, v := range vals {
		u := math.Float32bits(float32(v))
		b = append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
	}
	return b
}

func int64sRaw(vals []int64) []byte {
	b := make([]byte, 0, 8*len(vals))
	for _, v := range vals {
		for s := 0; s < 64; s += 8 {
			b = append(b, byte(uint64(v)>>s))
		}
	}
	return b
}

// convGemm: Y = alpha * A' * B' + beta * C with alpha = 1 and beta = 1 (or
// no C). Without transposes and with a [N] bias it is a LINEAR with bias;
// otherwise a MATMUL (with transpose flags) followed by an ADD of C.
func (im *onnxImporter) convGemm() error {
	n := im.node
	as, err := im.header(2, 3, 1, "alpha", "beta", "transA", "transB")
	if err != nil {
		return err
	}
	alpha, err := as.float("alpha", 1)
	if err != nil {
		return err
	}
	beta, err := as.float("beta", 1)
	if err != nil {
		return err
	}
	ta, err := as.int("transA", 0)
	if err != nil {
		return err
	}
	tb, err := as.int("transB", 0)
	if err != nil {
		return err
	}
	if alpha != 1 {
		return fmt.Errorf("attribute \"alpha\" = %v: only 1 is supported", alpha)
	}
	hasC := len(n.inputs) == 3
	if hasC && beta != 1 && beta != 0 {
		return fmt.Errorf("attribute \"beta\" = %v: only 1 (or 0, ignoring C) is supported", beta)
	}
	if beta == 0 {
		hasC = false
	}
	out := n.outputs[0]
	a, err := im.tensor(n.inputs[0])
	if err != nil {
		return err
	}
	b, err := im.tensor(n.inputs[1])
	if err != nil {
		return err
	}
	for _, t := range []*Tensor{a, b} {
		if len(t.Shape) != 2 {
			return fmt.Errorf("input %q has shape %v, Gemm needs rank 2", t.Name, t.Shape)
		}
	}
	if ta == 0 && tb == 0 {
		ins := []string{a.Name, b.Name}
		if hasC {
			c, err := im.tensor(n.inputs[2])
			if err != nil {
				return err
			}
			if len(c.Shape) == 1 && c.Shape[0] == b.Shape[1] {
				ins = append(ins, c.Name)
				hasC = false
			}
		}
		if !hasC {
			_, err := im.emit("", OpLinear, ins, out, nil)
			return err
		}
	}
	attrs := Attributes{}
	if ta != 0 {
		attrs["transpose_a"] = true
	}
	if tb != 0 {
		attrs["transpose_b"] = true
	}
	if !hasC {
		_, err := im.emit("", OpMatMul, []string{a.Name, b.Name}, out, attrs)
		return err
	}
	base := im.baseOpName()
	mid := im.freshTensorName(out + "/matmul")
	if _, err := im.emit(base+"/matmul", OpMatMul, []string{a.Name, b.Name}, mid, attrs); err != nil {
		return err
	}
	_, err = im.emit(base+"/bias", OpAdd, []string{mid, n.inputs[2]}, out, nil)
	return err
}

func (im *onnxImporter) convClip() error {
	n := im.node
	as, err := im.header(1, 3, 1, "min", "max")
	if err != nil {
		return err
	}
	lo, hi := math.Inf(-1), math.Inf(1)
	if im.opset < 11 {
		if len(n.inputs) != 1 {
			return fmt.Errorf("has %d inputs; before opset 11 Clip takes its bounds as attributes", len(n.inputs))
		}
		if lo, err = as.float("min", lo); err != nil {
			return err
		}
		if hi, err = as.float("max", hi); err != nil {
			return err
		}
	} else {
		if len(as) > 0 {
			return errors.New("from opset 11 Clip takes min and max as inputs, not attributes")
		}
		for i, role := range []string{"min", "max"} {
			if len(n.inputs) <= i+1 || n.inputs[i+1] == "" {
				continue
			}
			v, err := im.constValues(n.inputs[i+1], role)
			if err != nil {
				return err
			}
			if len(v) != 1 {
				return fmt.Errorf("input %q (%s) has %d values, want a scalar", n.inputs[i+1], role, len(v))
			}
			if i == 0 {
				lo = v[0]
			} else {
				hi = v[0]
			}
		}
	}
	attrs := Attributes{}
	if !math.IsInf(lo, 0) {
		attrs["min"] = lo
	}
	if !math.IsInf(hi, 0) {
		attrs["max"] = hi
	}
	_, err = im.emit("", OpClamp, n.inputs[:1], n.outputs[0], attrs)
	return err
}

// convSoftmax: from opset 13 Softmax normalizes along one axis (default -1).
// Before, it normalizes the 2-D view [prod(dims[:axis]), prod(dims[axis:])]
// (default axis 1); unless axis is the last one, that becomes RESHAPE,
// SOFTMAX over the last axis, RESHAPE back.
func (im *onnxImporter) convSoftmax() error {
	n := im.node
	as, err := im.header(1, 1, 1, "axis")
	if err != nil {
		return err
	}
	x, err := im.tensor(n.inputs[0])
	if err != nil {
		return err
	}
	def := int64(-1)
	if im.opset < 13 {
		def = 1
	}
	axis, err := as.int("axis", def)
	if err != nil {
		return err
	}
	ax, err := normAxis(axis, len(x.Shape))
	if err != nil {
		return err
	}
	trailing := int64(1)
	for _, d := range x.Shape[ax+1:] {
		trailing *= d
	}
	if im.opset >= 13 || trailing == 1 {
		_, err = im.emit("", OpSoftmax, n.inputs, n.outputs[0], Attributes{"axis": int64(ax)})
		return err
	}
	rows := int64(1)
	for _, d := range x.Shape[:ax] {
		rows *= d
	}
	base := im.baseOpName()
	flat := im.freshTensorName(n.outputs[0] + "/flat")
	if _, err := im.emit(base+"/flatten", OpReshape, n.inputs, flat, Attributes{"shape": []int64{rows, x.Elements() / rows}}); err != nil {
		return err
	}
	soft := im.freshTensorName(n.outputs[0] + "/softmax")
	if _, err := im.emit(base, OpSoftmax, []string{flat}, soft, Attributes{"axis": int64(-1)}); err != nil {
		return err
	}
	_, err = im.emit(base+"/unflatten", OpReshape, []string{soft}, n.outputs[0], Attributes{"shape": slices.Clone(x.Shape)})
	return err
}

func (im *onnxImporter) convLayerNorm() error {
	n := im.node
	as, err := im.header(2, 3, 1, "axis", "epsilon", "stash_type")
	if err != nil {
		return err
	}
	if st, err := as.int("stash_type", 1); err != nil {
		return err
	} else if st != 1 {
		return fmt.Errorf("attribute \"stash_type\" = %d: only 1 (float32 statistics) is supported", st)
	}
	attrs := Attributes{}
	if _, ok := as["axis"]; ok {
		axis, err := as.int("axis", -1)
		if err != nil {
			return err
		}
		attrs["axis"] = axis
	}
	if _, ok := as["epsilon"]; ok {
		eps, err := as.float("epsilon", 1e-5)
		if err != nil {
			return err
		}
		attrs["epsilon"] = eps
	}
	_, err = im.emit("", OpLayerNorm, n.inputs, n.outputs[0], attrs)
	return err
}

// convBatchNorm folds inference-mode BatchNormalization into MUL by a
// per-channel scale and ADD of a per-channel shift, both new weight tensors
// of shape [C, 1, ..., 1] (scale = gamma / sqrt(var + epsilon), shift = beta -
// mean * scale; kpuopt graphs carry shapes, not weight values).
func (im *onnxImporter) convBatchNorm() error {
	n := im.node
	as, err := im.header(5, 5, 1, "epsilon", "momentum", "training_mode", "spatial", "is_test", "consumed_inputs")
	if err != nil {
		return err
	}
	if tm, err := as.int("training_mode", 0); err != nil {
		return err
	} else if tm != 0 {
		return errors.New("attribute \"training_mode\" = 1: only inference-mode BatchNormalization is supported")
	}
	if sp, err := as.int("spatial", 1); err != nil {
		return err
	} else if sp != 1 {
		return errors.New("attribute \"spatial\" = 0 is not supported")
	}
	if _, err := as.float("epsilon", 1e-5); err != nil {
		return err
	}
	x, err := im.tensor(n.inputs[0])
	if err != nil {
		return err
	}
	if len(x.Shape) < 2 {
		return fmt.Errorf("input %q has shape %v, want rank >= 2 [N, C, ...]", x.Name, x.Shape)
	}
	c := x.Shape[1]
	for i, name := range n.inputs[1:] {
		if _, err := im.tensorOrConst(name); err != nil {
			return err
		}
		if k, ok := im.consts[im.resolve(name)]; ok && !slices.Equal(k.dims, []int64{c}) {
			return fmt.Errorf("input %d %q has dims %v, want [%d] (the channels of %q)", i+1, name, k.dims, c, x.Name)
		}
	}
	shape := []int64{c}
	for range x.Shape[2:] {
		shape = append(shape, 1)
	}
	base := im.baseOpName()
	scale := im.declareWeight(base+".folded_scale", shape, x.DType)
	shift := im.declareWeight(base+".folded_shift", slices.Clone(shape), x.DType)
	mid := im.freshTensorName(n.outputs[0] + "/scaled")
	if _, err := im.emit(base+"/scale", OpMul, []string{x.Name, scale}, mid, nil); err != nil {
		return err
	}
	_, err = im.emit(base+"/shift", OpAdd, []string{mid, shift}, n.outputs[0], nil)
	return err
}

func (im *onnxImporter) convReshape() error {
	n := im.node
	as, err := im.attrs("allowzero", "shape")
	if err != nil {
		return err
	}
	var spec []int64
	if im.opset < 5 || len(n.inputs) == 1 {
		s, ok, err := as.ints("shape")
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("Reshape needs a shape input")
		}
		spec = s
		if err := im.arity(1, 1, 1); err != nil {
			return err
		}
	} else {
		if err := im.arity(2, 2, 1); err != nil {
			return err
		}
		v, err := im.constValues(n.inputs[1], "shape")
		if err != nil {
			return err
		}
		for _, f := range v {
			spec = append(spec, int64(f))
		}
	}
	if az, err := as.int("allowzero", 0); err != nil {
		return err
	} else if az != 0 && slices.Contains(spec, 0) {
		return fmt.Errorf("shape %v with allowzero = 1 asks for an empty tensor, which kpuopt does not support", spec)
	}
	_, err = im.emit("", OpReshape, n.inputs[:1], n.outputs[0], Attributes{"shape": spec})
	return err
}

func (im *onnxImporter) convFlatten() error {
	n := im.node
	as, err := im.header(1, 1, 1, "axis")
	if err != nil {
		return err
	}
	x, err := im.tensor(n.inputs[0])
	if err != nil {
		return err
	}
	axis, err := as.int("axis", 1)
	if err != nil {
		return err
	}
	r := int64(len(x.Shape))
	if axis < -r || axis > r {
		return fmt.Errorf("attribute \"axis\" = %d out of range [%d, %d] for rank %d", axis, -r, r, r)
	}
	if axis < 0 {
		axis += r
	}
	outer := int64(1)
	for _, d := range x.Shape[:axis] {
		outer *= d
	}
	_, err = im.emit("", OpReshape, n.inputs, n.outputs[0], Attributes{"shape": []int64{outer, x.Elements() / outer}})
	return err
}
