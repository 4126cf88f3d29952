package model

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Array is a dense row-major tensor value. Data holds one float64 per element;
// the invariant is that every value is exactly representable in DType (floats
// already rounded to DType, integers whole and within DType's range), so the
// float64 store loses nothing for any supported dtype.
type Array struct {
	Shape []int64
	DType DType
	Data  []float64
}

// NewArray returns a zero-filled array. It fails for a shape that breaks the
// tensor limits or an unknown dtype.
func NewArray(shape []int64, dt DType) (*Array, error) {
	n, err := checkShape(shape)
	if err != nil {
		return nil, fmt.Errorf("new array: %w", err)
	}
	if dt.Size() == 0 {
		return nil, fmt.Errorf("new array: unknown dtype %q", dt)
	}
	return &Array{Shape: slices.Clone(shape), DType: dt, Data: make([]float64, n)}, nil
}

// Elements is the number of elements of a.
func (a *Array) Elements() int64 { return int64(len(a.Data)) }

// Round returns v rounded to the nearest value of dtype d: round to nearest,
// ties to even, with overflow to +-Inf for floats; integers round half to even
// and saturate at the type's limits (NaN becomes 0).
func Round(d DType, v float64) float64 {
	switch d {
	case Float32:
		return roundFloat(v, 24, -126, 127)
	case Float16:
		return roundFloat(v, 11, -14, 15)
	case BFloat16:
		return roundFloat(v, 8, -126, 127)
	case Int8:
		return saturate(math.RoundToEven(v), -128, 127)
	case Int32:
		return saturate(math.RoundToEven(v), math.MinInt32, math.MaxInt32)
	}
	return v
}

func saturate(v, lo, hi float64) float64 {
	switch {
	case math.IsNaN(v):
		return 0
	case v < lo:
		return lo
	case v > hi:
		return hi
	}
	return v
}

// roundFloat rounds v to a binary floating-point format with prec significand
// bits (including the implicit one), minimum normal exponent emin and maximum
// exponent emax; subnormals keep the quantum 2^(emin-prec+1).
func roundFloat(v float64, prec, emin, emax int) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	_, exp := math.Frexp(v) // |v| = f * 2^exp, f in [0.5, 1)
	e := max(exp-1, emin)
	quantum := math.Ldexp(1, e-prec+1)
	r := math.RoundToEven(v/quantum) * quantum
	maxFinite := math.Ldexp(2-math.Ldexp(1, 1-prec), emax)
	if math.Abs(r) > maxFinite {
		return math.Copysign(math.Inf(1), v)
	}
	return r
}

// Representable reports whether v is exactly a value of dtype d.
func Representable(d DType, v float64) bool {
	if math.IsNaN(v) {
		return !d.IsInteger()
	}
	return Round(d, v) == v
}

// Encode returns a's elements as little-endian bytes in its dtype (IEEE
// binary32/binary16, bfloat16 as the top half of binary32, two's-complement
// integers): the memory image the simulator works on.
func (a *Array) Encode() []byte {
	size := int(a.DType.Size())
	out := make([]byte, len(a.Data)*size)
	for i, v := range a.Data {
		b := out[i*size:]
		switch a.DType {
		case Float32:
			binary.LittleEndian.PutUint32(b, math.Float32bits(float32(v)))
		case Float16:
			binary.LittleEndian.PutUint16(b, float16Bits(v))
		case BFloat16:
			binary.LittleEndian.PutUint16(b, uint16(math.Float32bits(float32(v))>>16))
		case Int8:
			b[0] = byte(int8(v))
		case Int32:
			binary.LittleEndian.PutUint32(b, uint32(int32(v)))
		}
	}
	return out
}

// Decode builds an array of the given shape and dtype from its Encode image.
func Decode(shape []int64, dt DType, data []byte) (*Array, error) {
	a, err := NewArray(shape, dt)
	if err != nil {
		return nil, err
	}
	size := int(dt.Size())
	if len(data) != len(a.Data)*size {
		return nil, fmt.Errorf("decode %s%v: got %d bytes, want %d", dt, shape, len(data), len(a.Data)*size)
	}
	for i := range a.Data {
		b := data[i*size:]
		switch dt {
		case Float32:
			a.Data[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
		case Float16:
			a.Data[i] = float16Value(binary.LittleEndian.Uint16(b))
		case BFloat16:
			a.Data[i] = float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(b)) << 16))
		case Int8:
			a.Data[i] = float64(int8(b[0]))
		case Int32:
			a.Data[i] = float64(int32(binary.LittleEndian.Uint32(b)))
		}
	}
	return a, nil
}

// float16Bits encodes a value already representable in binary16.
func float16Bits(v float64) uint16 {
	var sign uint16
	if math.Signbit(v) {
		sign = 0x8000
		v = -v
	}
	switch {
	case math.IsNaN(v):
		return 0x7e00
	case math.IsInf(v, 0):
		return sign | 0x7c00
	case v == 0:
		return sign
	}
	_, exp := math.Frexp(v)
	e := exp - 1
	if e < -14 { // subnormal: v = mant * 2^-24
		return sign | uint16(v*(1<<24))
	}
	mant := uint16((math.Ldexp(v, -e) - 1) * 1024)
	return sign | uint16(e+15)<<10 | mant
}

func float16Value(h uint16) float64 {
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
		if m != 0 {
			return math.NaN()
		}
		return sign * math.Inf(1)
	}
	return sign * (1 + m/1024) * math.Ldexp(1, e-15)
}

// RandomInputs draws a value for every graph input (Graph.Inputs), seeded so
// that the same seed gives the same arrays: floats uniform in [-1, 1) rounded
// to the dtype, int8 uniform over [-128, 127], int32 uniform over [-100, 100]
// (small enough that int32 products and sums stay exact in practice).
func RandomInputs(g *Graph, seed uint64) (map[string]*Array, error) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := map[string]*Array{}
	for _, name := range g.Inputs() {
		t := g.Tensors[name]
		a, err := NewArray(t.Shape, t.DType)
		if err != nil {
			return nil, fmt.Errorf("random input %q: %w", name, err)
		}
		for i := range a.Data {
			switch t.DType {
			case Int8:
				a.Data[i] = float64(rng.IntN(256) - 128)
			case Int32:
				a.Data[i] = float64(rng.IntN(201) - 100)
			default:
				a.Data[i] = Round(t.DType, 2*rng.Float64()-1)
			}
		}
		out[name] = a
	}
	return out, nil
}
