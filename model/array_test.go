package model

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRound(t *testing.T) {
	p := math.Ldexp
	tests := []struct {
		d     DType
		in    float64
		want  float64
		about string
	}{
		{Float16, 1 + p(1, -11), 1, "tie rounds to even (down)"},
		{Float16, 1 + 3*p(1, -11), 1 + p(1, -9), "tie rounds to even (up)"},
		{Float16, 1 + p(1, -11) + p(1, -20), 1 + p(1, -10), "above the tie rounds up"},
		{Float16, 65504, 65504, "largest finite"},
		{Float16, 65519, 65504, "below the overflow tie"},
		{Float16, 65520, math.Inf(1), "overflow tie goes to infinity"},
		{Float16, -1e6, math.Inf(-1), "negative overflow"},
		{Float16, p(1, -24), p(1, -24), "smallest subnormal"},
		{Float16, p(1, -25), 0, "half the smallest subnormal ties to zero"},
		{Float16, 3 * p(1, -25), p(1, -23), "subnormal tie to even"},
		{Float16, 0.1, 0.0999755859375, "0.1"},
		{BFloat16, 1 + p(1, -8), 1, "tie to even"},
		{BFloat16, 1 + 3*p(1, -8), 1 + p(1, -6), "tie to even (up)"},
		{BFloat16, 1 + p(1, -8) + p(1, -30), 1 + p(1, -7), "no double rounding through float32"},
		{BFloat16, 3.3895313892515355e38, 3.3895313892515355e38, "largest finite"},
		{BFloat16, 3.4e38, math.Inf(1), "overflow"},
		{Float32, 0.1, float64(float32(0.1)), "0.1"},
		{Float32, 1e39, math.Inf(1), "overflow"},
		{Int8, 127.5, 127, "saturate high"},
		{Int8, -300, -128, "saturate low"},
		{Int8, 2.5, 2, "half to even"},
		{Int32, 3e9, math.MaxInt32, "saturate"},
		{Int32, math.NaN(), 0, "NaN"},
	}
	for _, tc := range tests {
		if got := Round(tc.d, tc.in); got != tc.want {
			t.Errorf("Round(%s, %v) [%s] = %v, want %v", tc.d, tc.in, tc.about, got, tc.want)
		}
	}
}

func TestEncodeBits(t *testing.T) {
	tests := []struct {
		d    DType
		v    float64
		bits uint32
	}{
		{Float16, 1, 0x3c00},
		{Float16, -2, 0xc000},
		{Float16, 65504, 0x7bff},
		{Float16, math.Ldexp(1, -24), 0x0001},
		{Float16, math.Ldexp(1023, -24), 0x03ff},
		{Float16, math.Ldexp(1, -14), 0x0400},
		{Float16, math.Inf(-1), 0xfc00},
		{Float16, 0.333251953125, 0x3555},
		{BFloat16, 1, 0x3f80},
		{BFloat16, -0.5, 0xbf00},
		{Float32, 1, 0x3f800000},
		{Int8, -1, 0xff},
		{Int32, -2, 0xfffffffe},
	}
	for _, tc := range tests {
		a := &Array{Shape: []int64{1}, DType: tc.d, Data: []float64{tc.v}}
		b := a.Encode()
		var got uint32
		switch len(b) {
		case 1:
			got = uint32(b[0])
		case 2:
			got = uint32(binary.LittleEndian.Uint16(b))
		case 4:
			got = binary.LittleEndian.Uint32(b)
		}
		if got != tc.bits {
			t.Errorf("Encode(%s %v) = %#x, want %#x", tc.d, tc.v, got, tc.bits)
		}
		back, err := Decode(a.Shape, tc.d, b)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(a, back); diff != "" {
			t.Errorf("Decode(Encode(%s %v)) (-want +got):\n%s", tc.d, tc.v, diff)
		}
	}
}

// TestEncodeDecodeAll16: every finite binary16 and bfloat16 bit pattern
// decodes to a representable value that encodes back to the same bits.
func TestEncodeDecodeAll16(t *testing.T) {
	for _, d := range []DType{Float16, BFloat16} {
		for bits := 0; bits < 1<<16; bits++ {
			var buf [2]byte
			binary.LittleEndian.PutUint16(buf[:], uint16(bits))
			a, err := Decode([]int64{1}, d, buf[:])
			if err != nil {
				t.Fatal(err)
			}
			v := a.Data[0]
			if math.IsNaN(v) {
				continue
			}
			if !Representable(d, v) {
				t.Fatalf("%s bits %#04x decode to %v, which Round changes", d, bits, v)
			}
			if got := binary.LittleEndian.Uint16(a.Encode()); got != uint16(bits) {
				t.Fatalf("%s bits %#04x -> %v -> %#04x", d, bits, v, got)
			}
		}
	}
}
