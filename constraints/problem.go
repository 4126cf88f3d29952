package constraints

import (
	"fmt"

	"github.com/stillwater-sc/kpuopt/model"
)

// Problem is one GEMM-like operator: Batch independent products
// C[M,N] = A[M,K] x B[K,N] with inputs of type DType, accumulated in
// DType.Accumulator() and stored in OutDType.
type Problem struct {
	Name           string
	Batch, M, N, K int64
	DType          model.DType
	TransA, TransB bool
	// OutDType is the type of the output tensor C in DRAM ("" = the
	// accumulator type). When it differs from the accumulator, partial sums
	// stay in the accumulator type and every final C2 block is converted on
	// the compute tile's vector engine before its move out (docs/mapping.md).
	OutDType model.DType
}

// NewProblem builds a Problem from a GEMM view and checks it.
func NewProblem(name string, s model.GEMMShape) (Problem, error) {
	p := Problem{Name: name, Batch: s.Batch, M: s.M, N: s.N, K: s.K, DType: s.DType, TransA: s.TransA, TransB: s.TransB}
	if p.Batch == 0 {
		p.Batch = 1
	}
	return p, p.Validate()
}

// Validate checks the dimensions and the element type.
func (p Problem) Validate() error {
	for _, d := range []struct {
		name string
		v    int64
	}{{"batch", p.Batch}, {"M", p.M}, {"N", p.N}, {"K", p.K}} {
		if d.v < 1 {
			return fmt.Errorf("problem %s: %s = %d, want >= 1", p.Name, d.name, d.v)
		}
	}
	if p.DType.Size() == 0 {
		return fmt.Errorf("problem %s: unknown element type %q", p.Name, p.DType)
	}
	if p.OutDType != "" {
		if p.OutDType.Size() == 0 {
			return fmt.Errorf("problem %s: unknown output type %q", p.Name, p.OutDType)
		}
		if acc := p.DType.Accumulator(); p.OutDType.Size() > acc.Size() {
			return fmt.Errorf("problem %s: output type %s (%d bytes) is wider than the accumulator %s (%d bytes)", p.Name, p.OutDType, p.OutDType.Size(), acc, acc.Size())
		}
	}
	return nil
}

// ProblemOf is the Problem of GEMM-like operator op of g, with the output
// type taken from op's output tensor. ok is false for an operator that is not
// GEMM-like.
func ProblemOf(g *model.Graph, op *model.Operator) (p Problem, ok bool, err error) {
	shape, ok, err := g.GEMM(op)
	if err != nil || !ok {
		return Problem{}, ok, err
	}
	p, err = NewProblem(op.Name, shape)
	if err != nil {
		return Problem{}, true, err
	}
	if len(op.Outputs) > 0 {
		if t := g.Tensors[op.Outputs[0]]; t != nil {
			p.OutDType = t.DType
		}
	}
	return p, true, p.Validate()
}

// ElemBytes is the size of one A or B element.
func (p Problem) ElemBytes() int64 { return p.DType.Size() }

// AccBytes is the size of one accumulator (C) element.
func (p Problem) AccBytes() int64 { return p.DType.Accumulator().Size() }

// OutType is the type of C in DRAM: OutDType, or the accumulator type.
func (p Problem) OutType() model.DType {
	if p.OutDType == "" {
		return p.DType.Accumulator()
	}
	return p.OutDType
}

// OutBytes is the size of one element of the final C.
func (p Problem) OutBytes() int64 { return p.OutType().Size() }

// Narrow reports whether the output type differs from the accumulator type
// (then final C2 blocks are converted before they leave L2).
func (p Problem) Narrow() bool { return p.OutType() != p.DType.Accumulator() }

// MACs is Batch*M*N*K.
func (p Problem) MACs() int64 { return p.Batch * p.M * p.N * p.K }

// CompulsoryBytes is the DRAM traffic no mapping avoids: A and B read once,
// C written once (in the output type).
func (p Problem) CompulsoryBytes() int64 {
	return p.Batch * (p.M*p.K*p.ElemBytes() + p.K*p.N*p.ElemBytes() + p.M*p.N*p.OutBytes())
}

func (p Problem) String() string {
	if p.Narrow() {
		return fmt.Sprintf("%dx(%dx%dx%d) %s->%s", p.Batch, p.M, p.N, p.K, p.DType, p.OutDType)
	}
	return fmt.Sprintf("%dx(%dx%dx%d) %s", p.Batch, p.M, p.N, p.K, p.DType)
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
