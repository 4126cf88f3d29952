package kpu

import (
	"encoding/binary"
	"math"

	"github.com/stillwater-sc/kpuopt/model"
)

// Element encoding: little-endian; float16 is IEEE 754 binary16, bfloat16 the
// upper half of a binary32. Conversions to narrower floats round to nearest
// even; conversions to integers round half away from zero and saturate.

// Float32ToFloat16 converts f to IEEE binary16 bits, rounding to nearest even.
func Float32ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	man := b & 0x7fffff
	if exp == 0xff { // inf or nan
		if man != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		man |= 0x800000
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		rest := man & (1<<shift - 1)
		h := man >> shift
		if rest > half || (rest == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | man>>13
	rest := man & 0x1fff
	if rest > 0x1000 || (rest == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, up to infinity: correct
	}
	return sign | uint16(h)
}

// Float16ToFloat32 converts IEEE binary16 bits to float32 exactly.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp == 0:
		if man == 0 {
			return math.Float32frombits(sign)
		}
		f := float32(man) / 1024 / 16384 // man x 2^-24
		if sign != 0 {
			return -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
}

// Float32ToBFloat16 converts f to bfloat16 bits, rounding to nearest even.
func Float32ToBFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7f800000 == 0x7f800000 && b&0x7fffff != 0 {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// BFloat16ToFloat32 converts bfloat16 bits to float32 exactly.
func BFloat16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// DecodeElements converts little-endian elements of dtype d to float64.
func DecodeElements(d model.DType, b []byte) []float64 {
	n := int64(len(b)) / max(d.Size(), 1)
	out := make([]float64, n)
	decodeInto(d, b, out)
	return out
}

// EncodeElements converts values to little-endian elements of dtype d.
func EncodeElements(d model.DType, vals []float64) []byte {
	b := make([]byte, int64(len(vals))*d.Size())
	encodeFrom(d, vals, b)
	return b
}

func decodeInto(d model.DType, b []byte, out []float64) {
	le := binary.LittleEndian
	switch d {
	case model.Float32:
		for i := range out {
			out[i] = float64(math.Float32frombits(le.Uint32(b[4*i:])))
		}
	case model.Float16:
		for i := range out {
			out[i] = float64(Float16ToFloat32(le.Uint16(b[2*i:])))
		}
	case model.BFloat16:
		for i := range out {
			out[i] = float64(BFloat16ToFloat32(le.Uint16(b[2*i:])))
		}
	case model.Int8:
		for i := range out {
			out[i] = float64(int8(b[i]))
		}
	case model.Int32:
		for i := range out {
			out[i] = float64(int32(le.Uint32(b[4*i:])))
		}
	}
}

func saturate(v float64, lo, hi float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	v = math.Round(v)
	return math.Max(lo, math.Min(hi, v))
}

func encodeFrom(d model.DType, vals []float64, b []byte) {
	le := binary.LittleEndian
	switch d {
	case model.Float32:
		for i, v := range vals {
			le.PutUint32(b[4*i:], math.Float32bits(float32(v)))
		}
	case model.Float16:
		for i, v := range vals {
			le.PutUint16(b[2*i:], Float32ToFloat16(float32(v)))
		}
	case model.BFloat16:
		for i, v := range vals {
			le.PutUint16(b[2*i:], Float32ToBFloat16(float32(v)))
		}
	case model.Int8:
		for i, v := range vals {
			b[i] = byte(int8(saturate(v, -128, 127)))
		}
	case model.Int32:
		for i, v := range vals {
			le.PutUint32(b[4*i:], uint32(int32(saturate(v, math.MinInt32, math.MaxInt32))))
		}
	}
}

// decodeF32 converts float elements to float32 (exact for every float dtype).
func decodeF32(d model.DType, b []byte, out []float32) {
	le := binary.LittleEndian
	switch d {
	case model.Float32:
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
	case model.Float16:
		for i := range out {
			out[i] = Float16ToFloat32(le.Uint16(b[2*i:]))
		}
	case model.BFloat16:
		for i := range out {
			out[i] = BFloat16ToFloat32(le.Uint16(b[2*i:]))
		}
	}
}

// decodeI32 converts integer elements to int32.
func decodeI32(d model.DType, b []byte, out []int32) {
	le := binary.LittleEndian
	switch d {
	case model.Int8:
		for i := range out {
			out[i] = int32(int8(b[i]))
		}
	case model.Int32:
		for i := range out {
			out[i] = int32(le.Uint32(b[4*i:]))
		}
	}
}
