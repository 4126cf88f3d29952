package model

import "fmt"

// GEMMShape is the matrix-multiplication view of a GEMM-like operator:
// Batch independent products C[M,N] = A[M,K] x B[K,N] of element type DType.
// TransA/TransB say that A is stored [K,M] / B is stored [N,K] in memory.
//
//   - MATMUL: Batch is the product of the broadcast batch dims.
//   - LINEAR: x [..., K] x W [K, N]: M is the product of x's leading dims, Batch 1.
//   - CONV2D (implicit GEMM, NCHW): M = N*OH*OW output pixels, N = OC/group
//     output channels, K = (C/group)*KH*KW, Batch = group.
type GEMMShape struct {
	Batch, M, N, K int64
	DType          DType
	TransA, TransB bool
}

// MACs is the number of multiply-accumulates: Batch*M*N*K.
func (s GEMMShape) MACs() int64 { return s.Batch * s.M * s.N * s.K }

// MaxWork bounds the MACs and vector operations of one operator; Validate
// rejects operators beyond it (so that every count fits an int64).
const MaxWork = 1 << 62

// mulLimit multiplies positive factors, reporting false if the product
// exceeds MaxWork.
func mulLimit(fs ...int64) (int64, bool) {
	p := int64(1)
	for _, f := range fs {
		if f <= 0 {
			return 0, f == 0
		}
		if p > MaxWork/f {
			return 0, false
		}
		p *= f
	}
	return p, true
}

// OpWork is the work of one operator: multiply-accumulates on the fabric,
// elementwise operations on the vector engine, and the compulsory bytes (every
// input read once, every output written once).
type OpWork struct {
	MACs      int64 `json:"macs"`
	VectorOps int64 `json:"vector_ops"`
	Bytes     int64 `json:"bytes"`
}

func (g *Graph) tensorsOf(names []string) []*Tensor {
	out := make([]*Tensor, len(names))
	for i, n := range names {
		out[i] = g.Tensors[n]
	}
	return out
}

// GEMM returns the GEMM view of op. ok is false for operators that are not
// GEMM-like; err is set when op does not fit the graph (g must be validated).
func (g *Graph) GEMM(op *Operator) (GEMMShape, bool, error) {
	s, ok, err := g.gemm(op)
	if err != nil {
		return GEMMShape{}, ok, g.opErr(op, err)
	}
	return s, ok, nil
}

// gemm is GEMM without the file/operator prefix on errors.
func (g *Graph) gemm(op *Operator) (GEMMShape, bool, error) {
	if op == nil || !op.Type.IsGEMMLike() {
		return GEMMShape{}, false, nil
	}
	ins := g.tensorsOf(op.Inputs)
	for i, t := range ins {
		if t == nil {
			return GEMMShape{}, true, fmt.Errorf("input tensor %q is not declared", op.Inputs[i])
		}
	}
	if len(ins) < 2 {
		return GEMMShape{}, true, fmt.Errorf("has %d inputs, want at least 2", len(ins))
	}
	switch opInfos[op.Type].kind {
	case kindMatMul:
		p, err := matmulGeom(op, ins[0], ins[1])
		if err != nil {
			return GEMMShape{}, true, err
		}
		batch, ok := mulLimit(p.batch...)
		if !ok {
			return GEMMShape{}, true, fmt.Errorf("batch dims %v exceed the work limit %d", p.batch, int64(MaxWork))
		}
		return GEMMShape{Batch: batch, M: p.M, N: p.N, K: p.K, DType: ins[0].DType, TransA: p.transA, TransB: p.transB}, true, nil
	case kindLinear:
		x, w := ins[0], ins[1]
		if len(x.Shape) < 1 || len(w.Shape) != 2 {
			return GEMMShape{}, true, fmt.Errorf("input %q %v and weight %q %v do not form a linear layer", x.Name, x.Shape, w.Name, w.Shape)
		}
		m := int64(1)
		for _, d := range x.Shape[:len(x.Shape)-1] {
			m *= d
		}
		return GEMMShape{Batch: 1, M: m, N: w.Shape[1], K: w.Shape[0], DType: x.DType}, true, nil
	default: // kindConv
		p, err := convGeom(op, ins[0], ins[1])
		if err != nil {
			return GEMMShape{}, true, err
		}
		if _, ok := mulLimit(p.N, p.OH, p.OW, p.OC, p.C/p.Group, p.KH, p.KW); !ok {
			return GEMMShape{}, true, fmt.Errorf("output %dx%dx%dx%d with a reduction of %dx%dx%d exceeds the work limit of %d MACs",
				p.N, p.OC, p.OH, p.OW, p.C/p.Group, p.KH, p.KW, int64(MaxWork))
		}
		return GEMMShape{
			Batch: p.Group,
			M:     p.N * p.OH * p.OW,
			N:     p.OC / p.Group,
			K:     p.C / p.Group * p.KH * p.KW,
			DType: ins[0].DType,
		}, true, nil
	}
}

// Work returns op's work. Vector operations count one per output element for
// elementwise ops, bias additions and reshapes are free (RESHAPE moves no
// data; TRANSPOSE counts its bytes only); SOFTMAX and LAYERNORM count
// 5 per element, pooling one per window element. g must be validated.
func (g *Graph) Work(op *Operator) OpWork {
	var w OpWork
	for _, t := range g.tensorsOf(op.Inputs) {
		if t != nil {
			w.Bytes += t.Bytes()
		}
	}
	var out *Tensor
	for _, t := range g.tensorsOf(op.Outputs) {
		if t != nil {
			w.Bytes += t.Bytes()
			out = t
		}
	}
	if out == nil {
		return w
	}
	if s, ok, err := g.GEMM(op); ok && err == nil {
		w.MACs = s.MACs()
		if len(op.Inputs) == 3 {
			w.VectorOps = out.Elements()
		}
		return w
	}
	info := opInfos[op.Type]
	switch info.kind {
	case kindUnary, kindBinary:
		w.VectorOps = out.Elements()
	case kindSoftmax, kindLayerNorm:
		w.VectorOps = 5 * out.Elements()
	case kindPool:
		if p, err := poolGeom(op, g.Tensors[op.Inputs[0]]); err == nil {
			w.VectorOps = out.Elements() * p.KH * p.KW
		}
	case kindReshape:
		w.Bytes = 0
	}
	return w
}

// TotalWork sums Work over every operator.
func (g *Graph) TotalWork() OpWork {
	var t OpWork
	for _, op := range g.Operators {
		w := g.Work(op)
		t.MACs += w.MACs
		t.VectorOps += w.VectorOps
		t.Bytes += w.Bytes
	}
	return t
}
