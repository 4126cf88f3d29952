package model

import "fmt"

// DType is the element type of a tensor.
type DType string

// Element types kpuopt understands.
const (
	Float32  DType = "float32"
	Float16  DType = "float16"
	BFloat16 DType = "bfloat16"
	Int8     DType = "int8"
	Int32    DType = "int32"
)

// DTypes lists every supported element type in a fixed order.
var DTypes = []DType{Float32, Float16, BFloat16, Int8, Int32}

// Size is the number of bytes of one element.
func (d DType) Size() int64 {
	switch d {
	case Float32, Int32:
		return 4
	case Float16, BFloat16:
		return 2
	case Int8:
		return 1
	}
	return 0
}

// IsInteger reports whether arithmetic on d is exact integer arithmetic.
func (d DType) IsInteger() bool { return d == Int8 || d == Int32 }

// Accumulator is the type in which products of d are summed: int32 for
// integer types, float32 for floating-point types.
func (d DType) Accumulator() DType {
	if d.IsInteger() {
		return Int32
	}
	return Float32
}

// ParseDType accepts the canonical names and the common short aliases
// (fp32, f32, fp16, f16, bf16, i8, i32).
func ParseDType(s string) (DType, error) {
	switch s {
	case "float32", "fp32", "f32":
		return Float32, nil
	case "float16", "fp16", "f16", "half":
		return Float16, nil
	case "bfloat16", "bf16":
		return BFloat16, nil
	case "int8", "i8":
		return Int8, nil
	case "int32", "i32":
		return Int32, nil
	}
	return "", fmt.Errorf("unknown dtype %q (want float32, float16, bfloat16, int8 or int32)", s)
}
