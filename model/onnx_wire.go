package model

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file decodes the subset of ONNX's protobuf messages (onnx.proto,
// proto2) that the importer needs, straight from the wire format by field
// number. Fields it does not need are skipped; nested graphs (If/Loop bodies)
// are never decoded, so decoding does not recurse beyond a fixed depth.
// Tensor payloads are kept as sub-slices of the input and decoded only for
// the small constants the importer reads (Reshape shapes, Clip bounds).

// errWire marks a malformed protobuf encoding.
var errWire = errors.New("malformed ONNX protobuf")

// ONNX TensorProto.DataType values the importer names.
const (
	onnxFloat    = 1
	onnxUint8    = 2
	onnxInt8     = 3
	onnxInt32    = 6
	onnxInt64    = 7
	onnxFloat16  = 10
	onnxDouble   = 11
	onnxBFloat16 = 16
)

// onnxTypeNames names ONNX data types in error messages.
var onnxTypeNames = map[int64]string{
	0: "UNDEFINED", 1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64",
	8: "STRING", 9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32", 13: "UINT64", 14: "COMPLEX64",
	15: "COMPLEX128", 16: "BFLOAT16",
}

func onnxTypeName(t int64) string {
	if s, ok := onnxTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("data type %d", t)
}

// ONNX AttributeProto.AttributeType values.
const (
	attrFloat   = 1
	attrInt     = 2
	attrString  = 3
	attrTensor  = 4
	attrGraph   = 5
	attrFloats  = 6
	attrInts    = 7
	attrStrings = 8
)

type onnxModel struct {
	irVersion int64
	opsets    map[string]int64 // domain ("" for ai.onnx) -> version
	producer  string
	graph     *onnxGraph
}

type onnxGraph struct {
	name      string
	nodes     []*onnxNode
	inits     []*onnxTensor
	inputs    []*onnxValue
	outputs   []*onnxValue
	valueInfo []*onnxValue
	sparse    int // number of sparse initializers (unsupported)
}

type onnxNode struct {
	name, opType, domain string
	inputs, outputs      []string
	attrs                []*onnxAttr
}

type onnxAttr struct {
	name     string
	typ      int64
	f        float64
	i        int64
	s        []byte
	t        *onnxTensor
	floats   []float64
	ints     []int64
	has      map[protowire.Number]bool // which value fields were present
	nStrings int
}

// onnxTensor is a TensorProto: name, dims, data type and the still-encoded
// payload fields.
type onnxTensor struct {
	name     string
	dims     []int64
	dataType int64
	raw      []byte
	hasRaw   bool
	external bool
	segment  bool
	payload  []wireField // float_data, int32_data, int64_data, double_data, uint64_data
}

// wireField is one occurrence of a field: its number, wire type and encoded
// value (the payload for bytes-typed fields, the varint or fixed bits
// otherwise).
type wireField struct {
	num protowire.Number
	typ protowire.Type
	b   []byte
	v   uint64
}

// onnxValue is a ValueInfoProto with a tensor type.
type onnxValue struct {
	name     string
	isTensor bool // the type is a tensor type (not a sequence, map, ...)
	hasType  bool
	elemType int64
	hasShape bool
	dims     []onnxDim
}

type onnxDim struct {
	value    int64
	param    string
	hasValue bool
}

// wireIter walks the fields of one message.
type wireIter struct {
	b    []byte
	what string // message name for errors
	off  int    // offset of b within the whole file (for errors)
}

// next returns the next field; ok=false at the end of the message.
func (it *wireIter) next() (f wireField, ok bool, err error) {
	if len(it.b) == 0 {
		return f, false, nil
	}
	num, typ, n := protowire.ConsumeTag(it.b)
	if n < 0 {
		return f, false, fmt.Errorf("%w: %s at byte %d: bad field tag: %v", errWire, it.what, it.off, protowire.ParseError(n))
	}
	f.num, f.typ = num, typ
	rest := it.b[n:]
	var m int
	switch typ {
	case protowire.VarintType:
		f.v, m = protowire.ConsumeVarint(rest)
	case protowire.Fixed32Type:
		var v uint32
		v, m = protowire.ConsumeFixed32(rest)
		f.v = uint64(v)
	case protowire.Fixed64Type:
		f.v, m = protowire.ConsumeFixed64(rest)
	case protowire.BytesType:
		f.b, m = protowire.ConsumeBytes(rest)
	case protowire.StartGroupType:
		_, m = protowire.ConsumeGroup(num, rest)
	default:
		return f, false, fmt.Errorf("%w: %s at byte %d: field %d has unknown wire type %d", errWire, it.what, it.off, num, typ)
	}
	if m < 0 {
		return f, false, fmt.Errorf("%w: %s at byte %d: field %d (wire type %d): %v (truncated or absurd length)",
			errWire, it.what, it.off, num, typ, protowire.ParseError(m))
	}
	it.b = rest[m:]
	it.off += n + m
	return f, true, nil
}

// sub returns an iterator over the embedded message in f (a bytes field).
func (it *wireIter) sub(f wireField, what string) *wireIter {
	return &wireIter{b: f.b, what: it.what + "." + what, off: it.off - len(f.b)}
}

func (it *wireIter) want(f wireField, typ protowire.Type, name string) error {
	if f.typ != typ {
		return fmt.Errorf("%w: %s.%s (field %d) has wire type %d, want %d", errWire, it.what, name, f.num, f.typ, typ)
	}
	return nil
}

func (it *wireIter) str(f wireField, name string) (string, error) {
	if err := it.want(f, protowire.BytesType, name); err != nil {
		return "", err
	}
	return string(f.b), nil
}

func (it *wireIter) varint(f wireField, name string) (int64, error) {
	if err := it.want(f, protowire.VarintType, name); err != nil {
		return 0, err
	}
	return int64(f.v), nil
}

// ints appends the values of a repeated int64/int32 field, packed or not.
func (it *wireIter) ints(f wireField, name string, out []int64) ([]int64, error) {
	switch f.typ {
	case protowire.VarintType:
		return append(out, int64(f.v)), nil
	case protowire.BytesType:
		b := f.b
		for len(b) > 0 {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, fmt.Errorf("%w: %s.%s: packed varint: %v", errWire, it.what, name, protowire.ParseError(n))
			}
			out = append(out, int64(v))
			b = b[n:]
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: %s.%s (field %d) has wire type %d, want a varint or packed varints", errWire, it.what, name, f.num, f.typ)
}

// floats appends the values of a repeated float field, packed or not.
func (it *wireIter) floats(f wireField, name string, out []float64) ([]float64, error) {
	switch f.typ {
	case protowire.Fixed32Type:
		return append(out, float64(math.Float32frombits(uint32(f.v)))), nil
	case protowire.BytesType:
		if len(f.b)%4 != 0 {
			return nil, fmt.Errorf("%w: %s.%s: packed floats have %d bytes, not a multiple of 4", errWire, it.what, name, len(f.b))
		}
		for i := 0; i < len(f.b); i += 4 {
			out = append(out, float64(math.Float32frombits(binary.LittleEndian.Uint32(f.b[i:]))))
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: %s.%s (field %d) has wire type %d, want fixed32 or packed floats", errWire, it.what, name, f.num, f.typ)
}

// each calls fn on every field of the message in turn, stopping at the first
// error from the wire or from fn.
func (it *wireIter) each(fn func(f wireField) error) error {
	for {
		f, ok, err := it.next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if err := fn(f); err != nil {
			return err
		}
	}
}

// decodeONNXModel decodes a ModelProto.
func decodeONNXModel(data []byte) (*onnxModel, error) {
	m := &onnxModel{opsets: map[string]int64{}}
	it := &wireIter{b: data, what: "ModelProto"}
	err := it.each(func(f wireField) (err error) {
		switch f.num {
		case 1:
			m.irVersion, err = it.varint(f, "ir_version")
		case 2:
			m.producer, err = it.str(f, "producer_name")
		case 7:
			if err = it.want(f, protowire.BytesType, "graph"); err == nil {
				if m.graph != nil {
					return fmt.Errorf("%w: ModelProto has two graphs", errWire)
				}
				m.graph, err = decodeONNXGraph(it.sub(f, "graph"))
			}
		case 8:
			if err = it.want(f, protowire.BytesType, "opset_import"); err == nil {
				err = decodeOpset(it.sub(f, "opset_import"), m.opsets)
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func decodeOpset(it *wireIter, opsets map[string]int64) error {
	domain, version := "", int64(0)
	err := it.each(func(f wireField) (err error) {
		switch f.num {
		case 1:
			domain, err = it.str(f, "domain")
		case 2:
			version, err = it.varint(f, "version")
		}
		return err
	})
	if err != nil {
		return err
	}
	if domain == "ai.onnx" {
		domain = ""
	}
	opsets[domain] = max(opsets[domain], version)
	return nil
}

func decodeONNXGraph(it *wireIter) (*onnxGraph, error) {
	g := &onnxGraph{}
	err := it.each(func(f wireField) (err error) {
		switch f.num {
		case 1:
			if err = it.want(f, protowire.BytesType, "node"); err == nil {
				var n *onnxNode
				n, err = decodeONNXNode(it.sub(f, fmt.Sprintf("node[%d]", len(g.nodes))))
				g.nodes = append(g.nodes, n)
			}
		case 2:
			g.name, err = it.str(f, "name")
		case 5:
			if err = it.want(f, protowire.BytesType, "initializer"); err == nil {
				var t *onnxTensor
				t, err = decodeONNXTensor(it.sub(f, fmt.Sprintf("initializer[%d]", len(g.inits))))
				g.inits = append(g.inits, t)
			}
		case 11, 12, 13:
			name := map[protowire.Number]string{11: "input", 12: "output", 13: "value_info"}[f.num]
			if err = it.want(f, protowire.BytesType, name); err == nil {
				var v *onnxValue
				v, err = decodeONNXValue(it.sub(f, name))
				switch f.num {
				case 11:
					g.inputs = append(g.inputs, v)
				case 12:
					g.outputs = append(g.outputs, v)
				default:
					g.valueInfo = append(g.valueInfo, v)
				}
			}
		case 15:
			g.sparse++
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

func decodeONNXNode(it *wireIter) (*onnxNode, error) {
	n := &onnxNode{}
	err := it.each(func(f wireField) (err error) {
		var s string
		switch f.num {
		case 1:
			s, err = it.str(f, "input")
			n.inputs = append(n.inputs, s)
		case 2:
			s, err = it.str(f, "output")
			n.outputs = append(n.outputs, s)
		case 3:
			n.name, err = it.str(f, "name")
		case 4:
			n.opType, err = it.str(f, "op_type")
		case 7:
			n.domain, err = it.str(f, "domain")
		case 5:
			if err = it.want(f, protowire.BytesType, "attribute"); err == nil {
				var a *onnxAttr
				a, err = decodeONNXAttr(it.sub(f, "attribute"))
				n.attrs = append(n.attrs, a)
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

func decodeONNXAttr(it *wireIter) (*onnxAttr, error) {
	a := &onnxAttr{has: map[protowire.Number]bool{}}
	err := it.each(func(f wireField) (err error) {
		a.has[f.num] = true
		switch f.num {
		case 1:
			a.name, err = it.str(f, "name")
		case 20:
			a.typ, err = it.varint(f, "type")
		case 2:
			if err = it.want(f, protowire.Fixed32Type, "f"); err == nil {
				a.f = float64(math.Float32frombits(uint32(f.v)))
			}
		case 3:
			a.i, err = it.varint(f, "i")
		case 4:
			if err = it.want(f, protowire.BytesType, "s"); err == nil {
				a.s = f.b
			}
		case 5:
			if err = it.want(f, protowire.BytesType, "t"); err == nil {
				a.t, err = decodeONNXTensor(it.sub(f, "t"))
			}
		case 7:
			a.floats, err = it.floats(f, "floats", a.floats)
		case 8:
			a.ints, err = it.ints(f, "ints", a.ints)
		case 9:
			a.nStrings++
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if a.typ == 0 { // IR version 1 files carry no type: infer it from the field present
		for _, c := range []struct {
			num protowire.Number
			typ int64
		}{{2, attrFloat}, {3, attrInt}, {4, attrString}, {5, attrTensor}, {6, attrGraph}, {7, attrFloats}, {8, attrInts}, {9, attrStrings}} {
			if a.has[c.num] {
				a.typ = c.typ
				break
			}
		}
	}
	return a, nil
}

func decodeONNXTensor(it *wireIter) (*onnxTensor, error) {
	t := &onnxTensor{}
	err := it.each(func(f wireField) (err error) {
		switch f.num {
		case 1:
			t.dims, err = it.ints(f, "dims", t.dims)
			if len(t.dims) > MaxRank {
				return fmt.Errorf("%w: %s has %d dims, the limit is %d", errWire, it.what, len(t.dims), MaxRank)
			}
		case 2:
			t.dataType, err = it.varint(f, "data_type")
		case 3:
			t.segment = true
		case 4, 5, 7, 10, 11:
			t.payload = append(t.payload, f)
		case 8:
			t.name, err = it.str(f, "name")
		case 9:
			if err = it.want(f, protowire.BytesType, "raw_data"); err == nil {
				t.raw, t.hasRaw = f.b, true
			}
		case 13:
			t.external = true
		case 14:
			var loc int64
			loc, err = it.varint(f, "data_location")
			t.external = t.external || loc == 1
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func decodeONNXValue(it *wireIter) (*onnxValue, error) {
	v := &onnxValue{}
	err := it.each(func(f wireField) (err error) {
		switch f.num {
		case 1:
			v.name, err = it.str(f, "name")
		case 2:
			if err = it.want(f, protowire.BytesType, "type"); err == nil {
				v.hasType = true
				err = decodeONNXType(it.sub(f, "type"), v)
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// decodeONNXType reads a TypeProto; only tensor_type (field 1) is decoded.
func decodeONNXType(it *wireIter, v *onnxValue) error {
	return it.each(func(f wireField) error {
		if f.num != 1 {
			return nil
		}
		if err := it.want(f, protowire.BytesType, "tensor_type"); err != nil {
			return err
		}
		v.isTensor = true
		tt := it.sub(f, "tensor_type")
		return tt.each(func(g wireField) (err error) {
			switch g.num {
			case 1:
				v.elemType, err = tt.varint(g, "elem_type")
			case 2:
				if err = tt.want(g, protowire.BytesType, "shape"); err == nil {
					v.hasShape = true
					err = decodeONNXShape(tt.sub(g, "shape"), v)
				}
			}
			return err
		})
	})
}

func decodeONNXShape(it *wireIter, v *onnxValue) error {
	return it.each(func(f wireField) error {
		if f.num != 1 {
			return nil
		}
		if err := it.want(f, protowire.BytesType, "dim"); err != nil {
			return err
		}
		if len(v.dims) >= MaxRank {
			return fmt.Errorf("%w: %s has more than %d dims", errWire, it.what, MaxRank)
		}
		var d onnxDim
		dit := it.sub(f, "dim")
		err := dit.each(func(g wireField) (err error) {
			switch g.num {
			case 1:
				d.value, err = dit.varint(g, "dim_value")
				d.hasValue = true
			case 2:
				d.param, err = dit.str(g, "dim_param")
			}
			return err
		})
		if err != nil {
			return err
		}
		v.dims = append(v.dims, d)
		return nil
	})
}

// maxConstElements bounds the constants the importer decodes values of.
const maxConstElements = 1 << 16

// values decodes a tensor's elements as float64 (int64 values beyond 2^53
// lose precision; the importer only reads small shape and bound constants).
func (t *onnxTensor) values() ([]float64, error) {
	n := int64(1)
	for _, d := range t.dims {
		if d < 0 || (d > 0 && n > maxConstElements/d) {
			return nil, fmt.Errorf("constant %q with dims %v is too large to read (the limit is %d elements)", t.name, t.dims, maxConstElements)
		}
		n *= d
	}
	if t.external {
		return nil, fmt.Errorf("constant %q is stored in an external file; kpuopt reads constant values only from the model file", t.name)
	}
	var out []float64
	if t.hasRaw {
		size := map[int64]int64{onnxFloat: 4, onnxInt8: 1, onnxUint8: 1, onnxInt32: 4, onnxInt64: 8, onnxDouble: 8, onnxFloat16: 2, onnxBFloat16: 2}[t.dataType]
		if size == 0 {
			return nil, fmt.Errorf("constant %q has type %s, which kpuopt cannot read", t.name, onnxTypeName(t.dataType))
		}
		if int64(len(t.raw)) != n*size {
			return nil, fmt.Errorf("constant %q: raw_data has %d bytes, dims %v of %s need %d", t.name, len(t.raw), t.dims, onnxTypeName(t.dataType), n*size)
		}
		for i := int64(0); i < n; i++ {
			b := t.raw[i*size:]
			var v float64
			switch t.dataType {
			case onnxFloat:
				v = float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
			case onnxInt8:
				v = float64(int8(b[0]))
			case onnxUint8:
				v = float64(b[0])
			case onnxInt32:
				v = float64(int32(binary.LittleEndian.Uint32(b)))
			case onnxInt64:
				v = float64(int64(binary.LittleEndian.Uint64(b)))
			case onnxDouble:
				v = math.Float64frombits(binary.LittleEndian.Uint64(b))
			case onnxFloat16:
				v = halfToFloat(binary.LittleEndian.Uint16(b))
			case onnxBFloat16:
				v = float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(b)) << 16))
			}
			out = append(out, v)
		}
		return out, nil
	}
	it := &wireIter{what: "TensorProto " + t.name}
	for _, f := range t.payload {
		var err error
		switch f.num {
		case 4:
			out, err = it.floats(f, "float_data", out)
		case 5, 7:
			var ints []int64
			ints, err = it.ints(f, "int_data", nil)
			for _, v := range ints {
				if f.num == 5 {
					v = int64(int32(v))
				}
				switch t.dataType {
				case onnxFloat16:
					out = append(out, halfToFloat(uint16(v)))
				case onnxBFloat16:
					out = append(out, float64(math.Float32frombits(uint32(uint16(v))<<16)))
				default:
					out = append(out, float64(v))
				}
			}
		case 10:
			if f.typ == protowire.Fixed64Type {
				out = append(out, math.Float64frombits(f.v))
			} else if f.typ == protowire.BytesType && len(f.b)%8 == 0 {
				for i := 0; i < len(f.b); i += 8 {
					out = append(out, math.Float64frombits(binary.LittleEndian.Uint64(f.b[i:])))
				}
			} else {
				err = fmt.Errorf("%w: constant %q: bad double_data encoding", errWire, t.name)
			}
		default:
			err = fmt.Errorf("constant %q has type %s, which kpuopt cannot read", t.name, onnxTypeName(t.dataType))
		}
		if err != nil {
			return nil, err
		}
		if int64(len(out)) > n {
			break
		}
	}
	if int64(len(out)) != n {
		return nil, fmt.Errorf("constant %q has %d values, dims %v need %d", t.name, len(out), t.dims, n)
	}
	return out, nil
}

// halfToFloat converts IEEE 754 half-precision bits to float64.
func halfToFloat(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	switch e {
	case 0:
		return sign * m * math.Ldexp(1, -24)
	case 0x1f:
		if m == 0 {
			return math.Inf(int(sign))
		}
		return math.NaN()
	}
	return sign * (1 + m/1024) * math.Ldexp(1, e-15)
}
