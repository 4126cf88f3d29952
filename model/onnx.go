package model

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ErrONNX marks an ONNX model kpuopt cannot import: malformed protobuf, an
// unsupported operator or attribute, or shapes it cannot resolve.
var ErrONNX = errors.New("cannot import ONNX model")

// minONNXOpset is the oldest default-domain opset the importer accepts
// (opset 7 introduced numpy broadcasting for the arithmetic operators).
const minONNXOpset = 7

// ONNXOptions tune the import of an ONNX model.
type ONNXOptions struct {
	// Dims gives values to symbolic dimensions (dim_param) by name, such as
	// {"batch": 1}. Every symbolic dimension of a graph input must be given;
	// naming a dimension the model does not have is an error.
	Dims map[string]int64
}

// IsONNXFile reports whether path looks like an ONNX model: the .onnx
// extension, or content that starts like a protobuf ModelProto (field 1,
// ir_version, as a varint) rather than JSON.
func IsONNXFile(path string, data []byte) bool {
	if strings.EqualFold(filepath.Ext(path), ".onnx") {
		return true
	}
	return len(data) > 0 && data[0] == 0x08
}

// LoadONNXFile reads and imports the ONNX model at path (see ParseONNX).
func LoadONNXFile(path string, opts ONNXOptions) (*Graph, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read ONNX model: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read ONNX model %s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s: file is larger than the limit of %d bytes", path, MaxFileBytes)
	}
	return ParseONNX(data, path, opts)
}

// ParseONNX imports a serialized ONNX ModelProto as a validated kpuopt graph.
// source names the input in errors. Initializers become graph input tensors
// (weights; their values are not carried), value_info and graph outputs give
// or check the shapes of intermediates, and every node maps to one or more
// kpuopt operators (docs/onnx.md lists the mapping and the limits).
func ParseONNX(data []byte, source string, opts ONNXOptions) (*Graph, error) {
	if source == "" {
		source = "model.onnx"
	}
	fail := func(err error) error { return fmt.Errorf("%s: %w: %w", source, ErrONNX, err) }
	if len(data) == 0 {
		return nil, fail(errors.New("the file is empty"))
	}
	m, err := decodeONNXModel(data)
	if err != nil {
		if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
			return nil, fail(fmt.Errorf("%w (the file looks like JSON: name it .json to read it as a kpuopt graph)", err))
		}
		return nil, fail(err)
	}
	if m.graph == nil {
		return nil, fail(errors.New("the model has no graph (is this an ONNX ModelProto file?)"))
	}
	opset, ok := m.opsets[""]
	if !ok {
		return nil, fail(errors.New("the model imports no opset of the default ONNX domain (opset_import)"))
	}
	if opset < minONNXOpset {
		return nil, fail(fmt.Errorf("opset %d is older than the oldest supported opset %d", opset, minONNXOpset))
	}
	if m.graph.sparse > 0 {
		return nil, fail(fmt.Errorf("the graph has %d sparse initializers, which kpuopt does not support", m.graph.sparse))
	}
	im := &onnxImporter{
		opts: opts, opset: opset,
		g:        &Graph{Source: source, Tensors: map[string]*Tensor{}},
		consts:   map[string]*onnxTensor{},
		pending:  map[string]*Tensor{},
		declared: map[string]*onnxValue{},
		alias:    map[string]string{},
		dropped:  map[string]string{},
		opNames:  map[string]bool{},
		usedDims: map[string]bool{},
	}
	if err := im.run(m); err != nil {
		return nil, fail(err)
	}
	g := im.g
	g.Name = m.graph.name
	if g.Name == "" {
		g.Name = strings.TrimSuffix(filepath.Base(source), filepath.Ext(source))
	}
	desc := fmt.Sprintf("imported from ONNX (opset %d", opset)
	if m.producer != "" {
		desc += ", producer " + m.producer
	}
	g.Description = desc + ")"
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return g, nil
}

// onnxImporter holds the state of one import.
type onnxImporter struct {
	opts     ONNXOptions
	opset    int64
	g        *Graph
	consts   map[string]*onnxTensor // initializers and Constant outputs, by name
	pending  map[string]*Tensor     // graph inputs and weights not yet read by an operator
	declared map[string]*onnxValue  // value_info and graph outputs, by name
	alias    map[string]string      // Identity outputs -> their input
	dropped  map[string]string      // secondary outputs kpuopt does not compute -> why
	opNames  map[string]bool
	usedDims map[string]bool
	node     *onnxNode // the node being converted
	nodeIdx  int
}

func (im *onnxImporter) run(m *onnxModel) error {
	gr := m.graph
	for i, t := range gr.inits {
		if t.name == "" {
			return fmt.Errorf("initializer %d has no name", i)
		}
		if _, dup := im.consts[t.name]; dup {
			return fmt.Errorf("initializer %q is defined twice", t.name)
		}
		im.consts[t.name] = t
	}
	for _, v := range gr.inputs {
		if _, isConst := im.consts[v.name]; isConst {
			continue // older IR versions list initializers among the inputs
		}
		t, err := im.inputTensor(v)
		if err != nil {
			return err
		}
		im.pending[v.name] = t
	}
	for _, list := range [][]*onnxValue{gr.valueInfo, gr.outputs} {
		for _, v := range list {
			im.declared[v.name] = v
		}
	}
	for i, n := range gr.nodes {
		im.node, im.nodeIdx = n, i
		if err := im.convert(n); err != nil {
			return fmt.Errorf("%s: %w", im.nodeLabel(), err)
		}
	}
	im.node = nil
	for _, v := range gr.outputs {
		name := im.resolve(v.name)
		if why, ok := im.dropped[name]; ok {
			return fmt.Errorf("graph output %q is %s, which kpuopt does not compute", v.name, why)
		}
		if _, ok := im.g.Tensors[name]; !ok {
			if _, ok := im.pending[name]; ok {
				continue // a graph input passed through unchanged
			}
			if _, ok := im.consts[name]; ok {
				continue // a constant output computes nothing
			}
			return fmt.Errorf("graph output %q is not produced by any node", v.name)
		}
	}
	for _, name := range sortedKeys(im.opts.Dims) {
		if !im.usedDims[name] {
			return fmt.Errorf("dim override %q does not name a symbolic dimension of the model's inputs or values", name)
		}
	}
	if len(im.g.Operators) == 0 {
		return errors.New("the graph computes nothing kpuopt can schedule (no operators after import)")
	}
	return nil
}

func (im *onnxImporter) nodeLabel() string {
	n := im.node
	if n.name != "" {
		return fmt.Sprintf("node %q (%s)", n.name, n.opType)
	}
	return fmt.Sprintf("node %d (%s)", im.nodeIdx, n.opType)
}

// onnxDType maps an ONNX element type to a kpuopt dtype.
func onnxDType(t int64) (DType, error) {
	switch t {
	case onnxFloat:
		return Float32, nil
	case onnxFloat16:
		return Float16, nil
	case onnxBFloat16:
		return BFloat16, nil
	case onnxInt8:
		return Int8, nil
	case onnxInt32:
		return Int32, nil
	}
	return "", fmt.Errorf("element type %s is not supported (kpuopt supports FLOAT, FLOAT16, BFLOAT16, INT8 and INT32)", onnxTypeName(t))
}

// dims resolves a value's shape; symbolic dims come from the options.
// unresolved reports the index of a dim that has no value (-1 if none).
func (im *onnxImporter) dims(v *onnxValue) (shape []int64, unresolved int, param string, err error) {
	shape = make([]int64, len(v.dims))
	unresolved = -1
	for i, d := range v.dims {
		switch {
		case d.hasValue:
			if d.value < 1 {
				return nil, 0, "", fmt.Errorf("value %q: dim %d is %d, dims must be >= 1", v.name, i, d.value)
			}
			shape[i] = d.value
		case d.param != "":
			val, ok := im.opts.Dims[d.param]
			if ok {
				im.usedDims[d.param] = true
				if val < 1 {
					return nil, 0, "", fmt.Errorf("dim override %s=%d: dims must be >= 1", d.param, val)
				}
				shape[i] = val
			} else if unresolved < 0 {
				unresolved, param = i, d.param
			}
		default:
			if unresolved < 0 {
				unresolved = i
			}
		}
	}
	return shape, unresolved, param, nil
}

// inputTensor builds the tensor of a graph input, which needs a fully known
// shape.
func (im *onnxImporter) inputTensor(v *onnxValue) (*Tensor, error) {
	if !v.isTensor || !v.hasShape {
		return nil, fmt.Errorf("graph input %q has no tensor type with a shape", v.name)
	}
	dt, err := onnxDType(v.elemType)
	if err != nil {
		return nil, fmt.Errorf("graph input %q: %w", v.name, err)
	}
	shape, bad, param, err := im.dims(v)
	if err != nil {
		return nil, fmt.Errorf("graph input %q: %w", v.name, err)
	}
	if bad >= 0 {
		if param != "" {
			return nil, fmt.Errorf("graph input %q: dim %d is the symbolic %q: give it a value (kpuopt import --dim %s=N, or ONNXOptions.Dims)", v.name, bad, param, param)
		}
		return nil, fmt.Errorf("graph input %q: dim %d has no value and no name", v.name, bad)
	}
	if _, err := checkShape(shape); err != nil {
		return nil, fmt.Errorf("graph input %q: %w", v.name, err)
	}
	return &Tensor{Name: v.name, Shape: shape, DType: dt}, nil
}

// resolve follows Identity aliases.
func (im *onnxImporter) resolve(name string) string {
	for i := 0; i < 1<<20; i++ {
		a, ok := im.alias[name]
		if !ok {
			return name
		}
		name = a
	}
	return name
}

// tensor returns the graph tensor for a node input, declaring a graph input
// or an initializer (weight) on first use.
func (im *onnxImporter) tensor(name string) (*Tensor, error) {
	if name == "" {
		return nil, errors.New("a required input is empty")
	}
	name = im.resolve(name)
	if t, ok := im.g.Tensors[name]; ok {
		return t, nil
	}
	if t, ok := im.pending[name]; ok {
		im.g.Tensors[name] = t
		delete(im.pending, name)
		return t, nil
	}
	if c, ok := im.consts[name]; ok {
		dt, err := onnxDType(c.dataType)
		if err != nil {
			return nil, fmt.Errorf("constant %q: %w", name, err)
		}
		if slices.ContainsFunc(c.dims, func(d int64) bool { return d < 1 }) {
			return nil, fmt.Errorf("constant %q has dims %v, dims must be >= 1", name, c.dims)
		}
		t := &Tensor{Name: name, Shape: slices.Clone(c.dims), DType: dt}
		if t.Shape == nil {
			t.Shape = []int64{}
		}
		if _, err := checkShape(t.Shape); err != nil {
			return nil, fmt.Errorf("constant %q: %w", name, err)
		}
		im.g.Tensors[name] = t
		return t, nil
	}
	if why, ok := im.dropped[name]; ok {
		return nil, fmt.Errorf("input %q is %s, which kpuopt does not compute", name, why)
	}
	return nil, fmt.Errorf("input %q is not a graph input, an initializer or the output of an earlier node", name)
}

// constValues returns the values of a constant input (an initializer or a
// Constant node's output).
func (im *onnxImporter) constValues(name, role string) ([]float64, error) {
	c, ok := im.consts[im.resolve(name)]
	if !ok {
		return nil, fmt.Errorf("input %q (%s) must be an initializer or a Constant: kpuopt needs its value at import time", name, role)
	}
	v, err := c.values()
	if err != nil {
		return nil, fmt.Errorf("input %q (%s): %w", name, role, err)
	}
	return v, nil
}

// freshName returns base, or base with a numeric suffix, unused by tensors
// and constants.
func (im *onnxImporter) freshTensorName(base string) string {
	name := base
	for i := 2; ; i++ {
		_, t := im.g.Tensors[name]
		_, c := im.consts[name]
		_, p := im.pending[name]
		_, d := im.declared[name]
		if !t && !c && !p && !d {
			return name
		}
		name = fmt.Sprintf("%s_%d", base, i)
	}
}

func (im *onnxImporter) freshOpName(base string) string {
	name := base
	for i := 2; im.opNames[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	im.opNames[name] = true
	return name
}

// baseOpName is the name of the node, or op_type_index when it has none.
func (im *onnxImporter) baseOpName() string {
	if im.node.name != "" {
		return im.node.name
	}
	return fmt.Sprintf("%s_%d", im.node.opType, im.nodeIdx)
}

// emit adds an operator reading ins and writing out, inferring the output's
// shape and dtype (value_info, when present, picks the dtype and must agree
// on the shape). opName "" takes the node's name.
func (im *onnxImporter) emit(opName string, typ OpType, ins []string, out string, attrs Attributes) (*Tensor, error) {
	ts := make([]*Tensor, len(ins))
	names := make([]string, len(ins))
	for i, n := range ins {
		t, err := im.tensor(n)
		if err != nil {
			return nil, err
		}
		ts[i], names[i] = t, t.Name
	}
	if opName == "" {
		opName = im.baseOpName()
	}
	op := &Operator{Name: im.freshOpName(opName), Type: typ, Inputs: names, Outputs: []string{out}}
	if len(attrs) > 0 {
		op.Attrs = attrs
	}
	got, err := infer(op, ts)
	if err != nil {
		return nil, fmt.Errorf("as %s: %w", typ, err)
	}
	if _, err := checkShape(got.shape); err != nil {
		return nil, fmt.Errorf("as %s: output %q: %w", typ, out, err)
	}
	dt := got.dtypes[0]
	if v, ok := im.declared[out]; ok && v.isTensor {
		if v.hasType && v.elemType != 0 {
			want, err := onnxDType(v.elemType)
			if err != nil {
				return nil, fmt.Errorf("output %q: %w", out, err)
			}
			if !slices.Contains(got.dtypes, want) {
				return nil, fmt.Errorf("output %q is declared %s, kpuopt's %s gives %s", out, want, typ, joinDTypes(got.dtypes))
			}
			dt = want
		}
		if v.hasShape {
			decl, _, _, err := im.dims(v)
			if err != nil {
				return nil, err
			}
			if len(decl) != len(got.shape) {
				return nil, fmt.Errorf("output %q is declared with rank %d, inferred shape %v", out, len(decl), got.shape)
			}
			for i, d := range decl {
				if d != 0 && d != got.shape[i] {
					return nil, fmt.Errorf("output %q is declared with shape %v, inferred %v from %s", out, decl, got.shape, describeInputs(ts))
				}
			}
		}
	}
	t := &Tensor{Name: out, Shape: got.shape, DType: dt}
	im.g.Tensors[out] = t
	im.g.Operators = append(im.g.Operators, op)
	return t, nil
}

// declareWeight adds a weight tensor the import creates (BatchNormalization's
// folded scale and shift).
func (im *onnxImporter) declareWeight(base string, shape []int64, dt DType) string {
	name := im.freshTensorName(base)
	im.g.Tensors[name] = &Tensor{Name: name, Shape: shape, DType: dt}
	return name
}

// attrs indexes a node's attributes by name and checks each against the
// names the converter knows.
type onnxAttrs map[string]*onnxAttr

func (im *onnxImporter) attrs(known ...string) (onnxAttrs, error) {
	out := onnxAttrs{}
	for _, a := range im.node.attrs {
		if !slices.Contains(known, a.name) {
			k := "none"
			if len(known) > 0 {
				k = strings.Join(known, ", ")
			}
			return nil, fmt.Errorf("attribute %q is not supported (supported: %s)", a.name, k)
		}
		if _, dup := out[a.name]; dup {
			return nil, fmt.Errorf("attribute %q is given twice", a.name)
		}
		out[a.name] = a
	}
	return out, nil
}

func (as onnxAttrs) int(name string, def int64) (int64, error) {
	a, ok := as[name]
	if !ok {
		return def, nil
	}
	if a.typ != attrInt {
		return 0, fmt.Errorf("attribute %q: want an INT", name)
	}
	return a.i, nil
}

func (as onnxAttrs) float(name string, def float64) (float64, error) {
	a, ok := as[name]
	if !ok {
		return def, nil
	}
	if a.typ != attrFloat {
		return 0, fmt.Errorf("attribute %q: want a FLOAT", name)
	}
	if math.IsNaN(a.f) {
		return 0, fmt.Errorf("attribute %q is NaN", name)
	}
	return a.f, nil
}

func (as onnxAttrs) ints(name string) ([]int64, bool, error) {
	a, ok := as[name]
	if !ok {
		return nil, false, nil
	}
	if a.typ != attrInts {
		return nil, false, fmt.Errorf("attribute %q: want INTS", name)
	}
	return slices.Clone(a.ints), true, nil
}

func (as onnxAttrs) str(name, def string) (string, error) {
	a, ok := as[name]
	if !ok {
		return def, nil
	}
	if a.typ != attrString {
		return "", fmt.Errorf("attribute %q: want a STRING", name)
	}
	return string(a.s), nil
}
