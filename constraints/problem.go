package constraints

import (
	"fmt"

	"github.com/stillwater-sc/kpuopt/model"
)

// Problem is one GEMM-like operator: Batch independent products
// C[M,N] = A[M,K] x B[K,N] with inputs of type DType, accumulated (and stored)
// in DType.Accumulator().
type Problem struct {
	Name           string
	Batch, M, N, K int64
	DType          model.DType
	TransA, TransB bool
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
	return nil
}

// ElemBytes is the size of one A or B element.
func (p Problem) ElemBytes() int64 { return p.DType.Size() }

// AccBytes is the size of one accumulator (C) element.
func (p Problem) AccBytes() int64 { return p.DType.Accumulator().Size() }

// MACs is Batch*M*N*K.
func (p Problem) MACs() int64 { return p.Batch * p.M * p.N * p.K }

// CompulsoryBytes is the DRAM traffic no mapping avoids: A and B read once,
// C written once (in the accumulator type).
func (p Problem) CompulsoryBytes() int64 {
	return p.Batch * (p.M*p.K*p.ElemBytes() + p.K*p.N*p.ElemBytes() + p.M*p.N*p.AccBytes())
}

func (p Problem) String() string {
	return fmt.Sprintf("%dx(%dx%dx%d) %s", p.Batch, p.M, p.N, p.K, p.DType)
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
