package model

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrUnsupportedOp marks an operator type that kpu-sim's graph format names
// but kpuopt does not implement yet.
var ErrUnsupportedOp = errors.New("unsupported operator type")

// ErrUnknownOp marks an operator type no known format names.
var ErrUnknownOp = errors.New("unknown operator type")

// opKind groups operator types that share shape inference and evaluation.
type opKind int

const (
	kindMatMul opKind = iota
	kindLinear
	kindConv
	kindUnary
	kindBinary
	kindSoftmax
	kindLayerNorm
	kindPool
	kindReshape
	kindTranspose
)

// opInfo is the static description of a canonical operator type: how many
// inputs it takes and which attributes it knows.
type opInfo struct {
	kind         opKind
	minIn, maxIn int
	attrs        []string
	floatOnly    bool // requires a floating-point dtype
}

var opInfos = map[OpType]opInfo{
	OpMatMul:    {kind: kindMatMul, minIn: 2, maxIn: 2, attrs: []string{"transpose_a", "transpose_b", "alpha", "beta"}},
	OpLinear:    {kind: kindLinear, minIn: 2, maxIn: 3},
	OpConv2D:    {kind: kindConv, minIn: 2, maxIn: 3, attrs: []string{"kernel_shape", "strides", "pads", "dilations", "group"}},
	OpConv2DDW:  {kind: kindConv, minIn: 2, maxIn: 3, attrs: []string{"kernel_shape", "strides", "pads", "dilations", "group"}},
	OpRelu:      {kind: kindUnary, minIn: 1, maxIn: 1},
	OpGelu:      {kind: kindUnary, minIn: 1, maxIn: 1, floatOnly: true},
	OpSigmoid:   {kind: kindUnary, minIn: 1, maxIn: 1, floatOnly: true},
	OpTanh:      {kind: kindUnary, minIn: 1, maxIn: 1, floatOnly: true},
	OpExp:       {kind: kindUnary, minIn: 1, maxIn: 1, floatOnly: true},
	OpClamp:     {kind: kindUnary, minIn: 1, maxIn: 1, attrs: []string{"min", "max"}},
	OpAbs:       {kind: kindUnary, minIn: 1, maxIn: 1},
	OpNeg:       {kind: kindUnary, minIn: 1, maxIn: 1},
	OpRecip:     {kind: kindUnary, minIn: 1, maxIn: 1, floatOnly: true},
	OpAdd:       {kind: kindBinary, minIn: 2, maxIn: 2},
	OpSub:       {kind: kindBinary, minIn: 2, maxIn: 2},
	OpMul:       {kind: kindBinary, minIn: 2, maxIn: 2},
	OpDiv:       {kind: kindBinary, minIn: 2, maxIn: 2},
	OpSoftmax:   {kind: kindSoftmax, minIn: 1, maxIn: 1, attrs: []string{"axis"}, floatOnly: true},
	OpLayerNorm: {kind: kindLayerNorm, minIn: 2, maxIn: 3, attrs: []string{"axis", "epsilon"}, floatOnly: true},
	OpMaxPool:   {kind: kindPool, minIn: 1, maxIn: 1, attrs: []string{"kernel_shape", "strides", "pads", "dilations"}},
	OpAvgPool:   {kind: kindPool, minIn: 1, maxIn: 1, attrs: []string{"kernel_shape", "strides", "pads", "count_include_pad"}, floatOnly: true},
	OpReshape:   {kind: kindReshape, minIn: 1, maxIn: 1, attrs: []string{"shape"}},
	OpTranspose: {kind: kindTranspose, minIn: 1, maxIn: 1, attrs: []string{"perm"}},
}

// opAliases maps the alternative names kpu-sim's loader accepts to the
// canonical type.
var opAliases = map[string]OpType{
	"GEMM":            OpMatMul,
	"FC":              OpLinear,
	"ELEMENTWISE_ADD": OpAdd,
	"ELEMENTWISE_SUB": OpSub,
	"ELEMENTWISE_MUL": OpMul,
	"ELEMENTWISE_DIV": OpDiv,
	"MAXPOOL2D":       OpMaxPool,
	"AVGPOOL2D":       OpAvgPool,
}

// unsupportedOps are type names of kpu-sim's format that kpuopt rejects with
// ErrUnsupportedOp.
var unsupportedOps = map[string]bool{
	"CONV3D": true, "CONCAT": true, "SPLIT": true, "PAD": true, "GATHER": true, "CAST": true,
	"REDUCE_SUM": true, "REDUCE_MAX": true, "REDUCE_MIN": true, "REDUCE_PROD": true,
	"BATCHNORM": true, "ATTENTION": true,
}

// ParseOpType maps a type name (any case, canonical or alias) to its
// canonical OpType.
func ParseOpType(s string) (OpType, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	if a, ok := opAliases[u]; ok {
		return a, nil
	}
	if _, ok := opInfos[OpType(u)]; ok {
		return OpType(u), nil
	}
	if unsupportedOps[u] {
		return "", fmt.Errorf("%w %q (kpu-sim names it; kpuopt does not implement it yet)", ErrUnsupportedOp, s)
	}
	return "", fmt.Errorf("%w %q", ErrUnknownOp, s)
}

// SupportedOpTypes lists the canonical operator types kpuopt implements, sorted.
func SupportedOpTypes() []OpType {
	out := make([]OpType, 0, len(opInfos))
	for t := range opInfos {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// IsGEMMLike reports whether t runs on the systolic fabric as a (possibly
// implicit) matrix multiplication.
func (t OpType) IsGEMMLike() bool {
	info, ok := opInfos[t]
	return ok && (info.kind == kindMatMul || info.kind == kindLinear || info.kind == kindConv)
}

// IsElementwise reports whether t is a unary or binary elementwise operator.
func (t OpType) IsElementwise() bool {
	info, ok := opInfos[t]
	return ok && (info.kind == kindUnary || info.kind == kindBinary)
}
