package model

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// A small ONNX writer for tests: it encodes ModelProto files by field number
// (the same numbers the reader decodes) so that tests and the committed
// models under testdata/onnx/ come from readable Go descriptions.

type pb []byte

func (b pb) varint(num protowire.Number, v int64) pb {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

func (b pb) bytes(num protowire.Number, p []byte) pb {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, p)
}

func (b pb) str(num protowire.Number, s string) pb { return b.bytes(num, []byte(s)) }

func (b pb) fixed32(num protowire.Number, v uint32) pb {
	b = protowire.AppendTag(b, num, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, v)
}

func (b pb) packed(num protowire.Number, vals []int64) pb {
	var p []byte
	for _, v := range vals {
		p = protowire.AppendVarint(p, uint64(v))
	}
	return b.bytes(num, p)
}

// modelSpec describes an ONNX model for the writer.
type modelSpec struct {
	name      string
	opset     int64
	inputs    []valueSpec
	outputs   []valueSpec
	valueInfo []valueSpec
	inits     []tensorSpec
	nodes     []nodeSpec
}

// valueSpec is a tensor-typed value; dims are int (dim_value) or string
// (dim_param).
type valueSpec struct {
	name string
	elem int64
	dims []any
}

// tensorSpec is an initializer or a tensor attribute. Float tensors get
// deterministic raw values; int64 tensors take ints.
type tensorSpec struct {
	name string
	elem int64
	dims []int64
	ints []int64
	f    []float64
}

type nodeSpec struct {
	op, name string
	in, out  []string
	attrs    []attrSpec
	domain   string
}

type attrSpec struct {
	name   string
	typ    int64
	i      int64
	f      float64
	s      string
	ints   []int64
	floats []float64
	t      *tensorSpec
}

func vi(name string, elem int64, dims ...any) valueSpec { return valueSpec{name, elem, dims} }

func node(op, name string, in, out []string, attrs ...attrSpec) nodeSpec {
	return nodeSpec{op: op, name: name, in: in, out: out, attrs: attrs}
}

func aInt(name string, v int64) attrSpec         { return attrSpec{name: name, typ: attrInt, i: v} }
func aFloat(name string, v float64) attrSpec     { return attrSpec{name: name, typ: attrFloat, f: v} }
func aStr(name, v string) attrSpec               { return attrSpec{name: name, typ: attrString, s: v} }
func aInts(name string, v ...int64) attrSpec     { return attrSpec{name: name, typ: attrInts, ints: v} }
func aTensor(name string, t tensorSpec) attrSpec { return attrSpec{name: name, typ: attrTensor, t: &t} }

func weight(name string, dims ...int64) tensorSpec {
	return tensorSpec{name: name, elem: onnxFloat, dims: dims}
}

func int64s(name string, vals ...int64) tensorSpec {
	return tensorSpec{name: name, elem: onnxInt64, dims: []int64{int64(len(vals))}, ints: vals}
}

func scalar(name string, v float64) tensorSpec {
	return tensorSpec{name: name, elem: onnxFloat, f: []float64{v}}
}

func (v valueSpec) encode() pb {
	var shape pb
	for _, d := range v.dims {
		var dim pb
		switch x := d.(type) {
		case int:
			dim = dim.varint(1, int64(x))
		case string:
			dim = dim.str(2, x)
		}
		shape = shape.bytes(1, dim)
	}
	tt := pb(nil).varint(1, v.elem).bytes(2, shape)
	typ := pb(nil).bytes(1, tt)
	return pb(nil).str(1, v.name).bytes(2, typ)
}

func (t tensorSpec) encode() pb {
	b := pb(nil).packed(1, t.dims).varint(2, t.elem).str(8, t.name)
	n := int64(1)
	for _, d := range t.dims {
		n *= d
	}
	var raw []byte
	switch t.elem {
	case onnxInt64:
		for _, v := range t.ints {
			raw = binary.LittleEndian.AppendUint64(raw, uint64(v))
		}
	case onnxFloat:
		for i := int64(0); i < n; i++ {
			v := float64((i*7)%11-5) / 8
			if t.f != nil {
				v = t.f[i]
			}
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(float32(v)))
		}
	}
	return b.bytes(9, raw)
}

func (a attrSpec) encode() pb {
	b := pb(nil).str(1, a.name).varint(20, a.typ)
	switch a.typ {
	case attrInt:
		b = b.varint(3, a.i)
	case attrFloat:
		b = b.fixed32(2, math.Float32bits(float32(a.f)))
	case attrString:
		b = b.str(4, a.s)
	case attrInts:
		for _, v := range a.ints { // unpacked, as proto2 writers emit
			b = b.varint(8, v)
		}
	case attrFloats:
		for _, v := range a.floats {
			b = b.fixed32(7, math.Float32bits(float32(v)))
		}
	case attrTensor:
		b = b.bytes(5, a.t.encode())
	}
	return b
}

func (n nodeSpec) encode() pb {
	var b pb
	for _, s := range n.in {
		b = b.str(1, s)
	}
	for _, s := range n.out {
		b = b.str(2, s)
	}
	if n.name != "" {
		b = b.str(3, n.name)
	}
	b = b.str(4, n.op)
	for _, a := range n.attrs {
		b = b.bytes(5, a.encode())
	}
	if n.domain != "" {
		b = b.str(7, n.domain)
	}
	return b
}

func (m modelSpec) encode() []byte {
	var g pb
	for _, n := range m.nodes {
		g = g.bytes(1, n.encode())
	}
	g = g.str(2, m.name)
	for _, t := range m.inits {
		g = g.bytes(5, t.encode())
	}
	for _, v := range m.inputs {
		g = g.bytes(11, v.encode())
	}
	for _, v := range m.outputs {
		g = g.bytes(12, v.encode())
	}
	for _, v := range m.valueInfo {
		g = g.bytes(13, v.encode())
	}
	opset := pb(nil).str(1, "").varint(2, m.opset)
	return pb(nil).varint(1, 8).str(2, "kpuopt-test").bytes(7, g).bytes(8, opset)
}
