package kpu

import (
	"fmt"
	"maps"
	"math"
	"math/bits"
	"slices"

	"github.com/stillwater-sc/kpuopt/model"
)

// checkArithmetic rejects a program whose address arithmetic does not fit
// int64: an access's element count or byte size, a stride times the extent of
// its dimension, or the address plus the access's byte span. Such a value
// would otherwise reach the checks and the simulator as a wrapped (or
// clamped) number. The error names the command (by id) or the tensor and the
// field, such as "command 3: field dst.strides[0]: ... overflows int64".
// Values that merely lie outside the machine (negative, too large for a
// unit) are left to Simulate's checks, which know the capacities.
func checkArithmetic(p *Program) error {
	for _, name := range slices.Sorted(maps.Keys(p.Tensors)) {
		t := p.Tensors[name]
		if err := accessArithmetic("", t.Access(), t.DType); err != nil {
			return fmt.Errorf("tensor %q: %w", name, err)
		}
	}
	type operand struct {
		field string
		a     *Access
		def   model.DType
	}
	for i := range p.Commands {
		cmd := &p.Commands[i]
		srcDef, dstDef := cmd.DType, cmd.DType
		switch {
		case cmd.Op == OpMatMul && cmd.AccDType != "":
			dstDef = cmd.AccDType
		case cmd.Op == OpMatMul:
			dstDef = cmd.DType.Accumulator()
		case cmd.Op == OpDrain && cmd.AccDType != "":
			srcDef = cmd.AccDType
		}
		ops := []operand{{"src", cmd.Src, srcDef}, {"src2", cmd.Src2, cmd.DType}, {"dst", cmd.Dst, dstDef}}
		if cmd.Epilogue != nil {
			ops = append(ops, operand{"epilogue.bias", cmd.Epilogue.Bias, dstDef})
		}
		for _, o := range ops {
			if o.a == nil {
				continue
			}
			if err := accessArithmetic(o.field+".", o.a, o.def); err != nil {
				return fmt.Errorf("command %d: %w", cmd.ID, err)
			}
		}
	}
	return nil
}

// accessArithmetic checks one access; prefix ("src.", "" for a tensor) starts
// the field names. Dims or strides that are not positive are skipped: the
// simulator's checks reject them with their own message.
func accessArithmetic(prefix string, a *Access, def model.DType) error {
	for _, d := range a.Shape {
		if d <= 0 {
			return nil
		}
	}
	for _, s := range a.Strides {
		if s <= 0 {
			return nil
		}
	}
	dt := a.DType
	if dt == "" {
		dt = def
	}
	esize := max(dt.Size(), 1)
	elems := int64(1)
	for _, d := range a.Shape {
		var ok bool
		if elems, ok = mul64(elems, d); !ok {
			return fmt.Errorf("field %sshape: the element count of %v overflows int64", prefix, a.Shape)
		}
	}
	if _, ok := mul64(elems, esize); !ok {
		return fmt.Errorf("field %sshape: %d elements of %d bytes (%v) overflow int64", prefix, elems, esize, a.Shape)
	}
	// The byte span: the last element's offset plus its size. Dense
	// strides are the row-major products, bounded by the byte size above.
	span := esize
	if len(a.Strides) == len(a.Shape) {
		for i, s := range a.Strides {
			term, ok := mul64(s, a.Shape[i]-1)
			if !ok {
				return fmt.Errorf("field %sstrides[%d]: stride %d times %d (shape[%d] - 1) overflows int64", prefix, i, s, a.Shape[i]-1, i)
			}
			if span, ok = add64(span, term); !ok {
				return fmt.Errorf("field %sstrides[%d]: the byte span of shape %v with strides %v overflows int64", prefix, i, a.Shape, a.Strides)
			}
		}
	} else if len(a.Strides) == 0 {
		span = elems * esize
	}
	if _, ok := add64(a.Addr, span); !ok {
		return fmt.Errorf("field %saddr: address %d plus the access's %d bytes overflows int64", prefix, a.Addr, span)
	}
	return nil
}

// mul64 is a*b for non-negative a and b, and whether it fits int64.
func mul64(a, b int64) (int64, bool) {
	if a < 0 || b < 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > math.MaxInt64 {
		return 0, false
	}
	return int64(lo), true
}

// add64 is a+b and whether it fits int64.
func add64(a, b int64) (int64, bool) {
	s := a + b
	if (a > 0 && b > 0 && s < 0) || (a < 0 && b < 0 && s >= 0) {
		return 0, false
	}
	return s, true
}
