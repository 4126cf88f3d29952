package graph

import (
	"context"
	"fmt"
	"strings"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// exact prices operators as the whole-graph lowering emits them with every
// tensor in DRAM (constraints.OperatorCost, constraints.EvaluateGEMMOp with
// a fused chain): the figures the simulator reproduces. Results are cached
// by the operator's signature (type, attributes, operand shapes) and the
// mapping, so the repeated blocks of a network are priced once.
type exact struct {
	g     *model.Graph
	cfg   *kpu.Config
	gemms map[string]exactGEMM
	vecs  map[string]Figures
}

type exactGEMM struct {
	fig Figures
	ext int64
	ok  bool
}

func newExact(g *model.Graph, cfg *kpu.Config) *exact {
	return &exact{g: g, cfg: cfg, gemms: map[string]exactGEMM{}, vecs: map[string]Figures{}}
}

// signature describes op for caching: everything its exact cost depends on.
func (ex *exact) signature(op *model.Operator) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s%v", op.Type, op.Attrs)
	for _, n := range append(append([]string(nil), op.Inputs...), op.Outputs...) {
		t := ex.g.Tensors[n]
		fmt.Fprintf(&b, "|%v%s", t.Shape, t.DType)
	}
	return b.String()
}

func figuresOf(c *constraints.Cost) Figures {
	return Figures{Cycles: c.LatencyCycles, Energy: c.EnergyPJ, DRAM: c.DRAMBytes}
}

// vector is the exact cost of a non-GEMM operator alone.
func (ex *exact) vector(ctx context.Context, op *model.Operator) (Figures, error) {
	key := ex.signature(op)
	if f, ok := ex.vecs[key]; ok {
		return f, nil
	}
	c, err := constraints.OperatorCost(ctx, ex.g, op, nil, ex.cfg)
	if err != nil {
		return Figures{}, fmt.Errorf("graph %s: %w", ex.g.Name, err)
	}
	f := figuresOf(c)
	ex.vecs[key] = f
	return f, nil
}

// gemm is the exact cost of GEMM op under mapping m with the fused chain
// (none: its bias on the drain or in a separate pass, as OperatorCost
// decides), and the bytes of the constants the drain keeps in L3. ok is
// false when the chain cannot run on this mapping's drain (a constant that
// does not fit beside its buffers, or one the drain cannot index).
func (ex *exact) gemm(ctx context.Context, op *model.Operator, chain []*model.Operator, m model.Mapping) (Figures, int64, bool, error) {
	var b strings.Builder
	b.WriteString(ex.signature(op))
	for _, c := range chain {
		b.WriteString("+" + ex.signature(c))
	}
	fmt.Fprintf(&b, "@%+v", m)
	key := b.String()
	if r, ok := ex.gemms[key]; ok {
		return r.fig, r.ext, r.ok, nil
	}
	var r exactGEMM
	if len(chain) == 0 {
		c, err := constraints.OperatorCost(ctx, ex.g, op, &m, ex.cfg)
		if err != nil {
			return Figures{}, 0, false, fmt.Errorf("graph %s: %w", ex.g.Name, err)
		}
		r = exactGEMM{fig: figuresOf(c), ok: true}
		if len(op.Inputs) == 3 {
			if f, err := constraints.BiasOnDrain(ex.g, op, m, ex.cfg); err == nil && f != nil {
				for i := range f.Ext {
					r.ext += f.ExtBytes(i)
				}
			}
		}
	} else {
		fz, err := constraints.NewFused(ex.g, op, chain)
		if err == nil {
			var ok bool
			if ok, err = ex.fits(fz, op, m); err == nil && ok {
				c, err := constraints.EvaluateGEMMOp(ctx, ex.g, op, m, fz, ex.cfg)
				if err != nil {
					return Figures{}, 0, false, fmt.Errorf("graph %s: %w", ex.g.Name, err)
				}
				r = exactGEMM{fig: figuresOf(c), ok: true}
				for i := range fz.Ext {
					r.ext += fz.ExtBytes(i)
				}
			}
		}
		if err != nil && ctx.Err() != nil {
			return Figures{}, 0, false, ctx.Err()
		}
	}
	ex.gemms[key] = r
	return r.fig, r.ext, r.ok, nil
}

// fits reports whether the fused constants fit on chip beside m's buffers.
func (ex *exact) fits(fz *constraints.Fused, op *model.Operator, m model.Mapping) (bool, error) {
	shape, _, err := ex.g.GEMM(op)
	if err != nil {
		return false, err
	}
	p, err := constraints.NewProblem(op.Name, shape)
	if err != nil {
		return false, err
	}
	pl, err := constraints.Place(p, m, ex.cfg)
	if err != nil {
		return false, nil
	}
	if _, err := fz.PlaceExt(pl, ex.cfg); err != nil {
		if constraints.IsInfeasible(err) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// gatherRatio is, for a convolution step, the input's bytes over the bytes
// of its im2col matrix (how much less a gather moves than an im2col load);
// 1 for other GEMMs.
func (ex *exact) gatherRatio(st *Step) float64 {
	if st.Op.Type != model.OpConv2D && st.Op.Type != model.OpConv2DDW {
		return 1
	}
	p := st.Problem
	im2col := p.Batch * p.M * p.K * p.ElemBytes()
	in := ex.g.Tensors[st.Op.Inputs[0]].Bytes()
	if im2col <= 0 || in >= im2col {
		return 1
	}
	return float64(in) / float64(im2col)
}
