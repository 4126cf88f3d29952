package constraints

import (
	"context"
	"errors"
	"fmt"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// ErrNotVectorOp marks an operator PlanOp does not plan (GEMM-like ones go
// through Walk).
var ErrNotVectorOp = errors.New("not a vector-engine operator")

// PlanOp builds the command stream of a non-GEMM operator of g on cfg
// (docs/graph-schedules.md): the tensors are cut into jobs that fit two
// slots of staging buffers per compute tile (L3 and L2), the jobs are spread
// round-robin over the compute tiles, and each job loads, moves, computes on
// the vector engine and stores. The largest job size that fits is chosen,
// but no larger than needed to give every compute tile a job.
func PlanOp(ctx context.Context, g *model.Graph, op *model.Operator, cfg *kpu.Config) (*OpPlan, error) {
	return planOp(ctx, g, op, cfg, nil)
}

func planOp(ctx context.Context, g *model.Graph, op *model.Operator, cfg *kpu.Config, ro *residentOpts) (*OpPlan, error) {
	if op.Type.IsGEMMLike() {
		return nil, fmt.Errorf("operator %q (%s): %w", op.Name, op.Type, ErrNotVectorOp)
	}
	if len(op.Outputs) != 1 {
		return nil, fmt.Errorf("operator %q: %d outputs, want 1", op.Name, len(op.Outputs))
	}
	ts := make([]*model.Tensor, 0, len(op.Inputs)+1)
	for _, n := range append(append([]string(nil), op.Inputs...), op.Outputs[0]) {
		t := g.Tensors[n]
		if t == nil {
			return nil, fmt.Errorf("operator %q: tensor %q is not declared", op.Name, n)
		}
		ts = append(ts, t)
	}
	plan := &OpPlan{Op: op.Name, Type: op.Type, Operands: append(append([]string(nil), op.Inputs...), op.Outputs[0])}
	out := ts[len(ts)-1]
	var build func(units int64) (*pipeline, error)
	var total int64 = out.Elements()
	switch {
	case op.Type == model.OpReshape:
		plan.Alias = true
		return plan, nil
	case op.Type.IsElementwise() && len(op.Inputs) == 1:
		vop, err := unaryVectorOp(op)
		if err != nil {
			return nil, err
		}
		build = func(u int64) (*pipeline, error) { return unaryJobs(ts[0], out, vop, u), nil }
	case op.Type.IsElementwise():
		vop, err := binaryVectorOp(op, out.DType)
		if err != nil {
			return nil, err
		}
		build = func(u int64) (*pipeline, error) {
			return binaryJobs(ts[0].Shape, ts[1].Shape, out.Shape, [3]int{0, 1, 2}, out.DType, vop, u)
		}
	case op.Type == model.OpSoftmax:
		axis, err := op.Attrs.Int("axis", -1)
		if err != nil {
			return nil, fmt.Errorf("operator %q: %w", op.Name, err)
		}
		build, total, err = softmaxJobs(ts[0], out, axis, cfg)
		if err != nil {
			return nil, fmt.Errorf("operator %q: %w", op.Name, err)
		}
	case op.Type == model.OpLayerNorm:
		var err error
		build, total, err = layerNormJobs(op, ts, out)
		if err != nil {
			return nil, fmt.Errorf("operator %q: %w", op.Name, err)
		}
	case op.Type == model.OpMaxPool || op.Type == model.OpAvgPool:
		var err error
		build, total, err = poolJobs(op, g, ts[0], out)
		if err != nil {
			return nil, fmt.Errorf("operator %q: %w", op.Name, err)
		}
	case op.Type == model.OpTranspose:
		perm, err := op.Attrs.Ints("perm", nil)
		if err != nil {
			return nil, fmt.Errorf("operator %q: %w", op.Name, err)
		}
		build = func(u int64) (*pipeline, error) { return transposeJobs(ts[0], out, perm, u) }
	default:
		return nil, fmt.Errorf("operator %q (%s): %w", op.Name, op.Type, ErrNotVectorOp)
	}
	if err := plan.fitWith(ctx, cfg, total, build, ro); err != nil {
		return nil, fmt.Errorf("operator %q (%s): %w", op.Name, op.Type, err)
	}
	return plan, nil
}

// PlanBias builds the stream that adds a GEMM-like operator's bias (its third
// input) to its output in place, a separate pass after the product, used
// when the mapping leaves no room on chip for the bias beside its buffers:
// out += bias broadcast over the output (LINEAR, MATMUL: along the last dim;
// CONV2D: per output channel). Operands are [output, bias, output].
func PlanBias(ctx context.Context, g *model.Graph, op *model.Operator, cfg *kpu.Config) (*OpPlan, error) {
	return planBias(ctx, g, op, cfg, nil)
}

func planBias(ctx context.Context, g *model.Graph, op *model.Operator, cfg *kpu.Config, ro *residentOpts) (*OpPlan, error) {
	if !op.Type.IsGEMMLike() || len(op.Inputs) != 3 || len(op.Outputs) != 1 {
		return nil, fmt.Errorf("operator %q (%s) has no bias input", op.Name, op.Type)
	}
	out, bias := g.Tensors[op.Outputs[0]], g.Tensors[op.Inputs[2]]
	if out == nil || bias == nil {
		return nil, fmt.Errorf("operator %q: output or bias tensor is not declared", op.Name)
	}
	bshape := []int64{bias.Elements()}
	if op.Type == model.OpConv2D || op.Type == model.OpConv2DDW {
		bshape = append(bshape, 1, 1) // [OC, 1, 1] against [N, OC, OH, OW]
	}
	plan := &OpPlan{Op: op.Name + ":bias", Type: model.OpAdd, Operands: []string{op.Outputs[0], op.Inputs[2], op.Outputs[0]}}
	build := func(u int64) (*pipeline, error) {
		return binaryJobs(out.Shape, bshape, out.Shape, [3]int{0, 1, 2}, out.DType, "add", u)
	}
	if err := plan.fitWith(ctx, cfg, out.Elements(), build, ro); err != nil {
		return nil, fmt.Errorf("operator %q bias: %w", op.Name, err)
	}
	return plan, nil
}

// fit tries job sizes from min(total, ceil(total / compute tiles)) down by
// halves until the staging buffers fit (two slots of each buffer, or, when
// no size fits so, one), and emits the stream.
func (plan *OpPlan) fit(ctx context.Context, cfg *kpu.Config, total int64, build func(units int64) (*pipeline, error)) error {
	return plan.fitWith(ctx, cfg, total, build, nil)
}

// fitWith is fit with the resident operands and L3 budget of ro (nil: none).
func (plan *OpPlan) fitWith(ctx context.Context, cfg *kpu.Config, total int64, build func(units int64) (*pipeline, error), ro *residentOpts) error {
	start := max(1, (total+int64(cfg.ComputeTiles)-1)/int64(max(cfg.ComputeTiles, 1)))
	// No job needs more than one L2 bank's worth of elements.
	start = min(start, max(1, cfg.L2BankBytes))
	var lastErr error
	for _, single := range []bool{false, true} {
		for units := start; units >= 1; units /= 2 {
			if err := ctx.Err(); err != nil {
				return err
			}
			p, err := build(units)
			if err != nil {
				return err
			}
			p.markShared()
			p.single = single
			p.res = ro
			if _, _, _, err := p.layout(cfg, min(len(p.jobs), cfg.ComputeTiles)); err != nil {
				if IsInfeasible(err) {
					lastErr = err
					continue
				}
				return err
			}
			plan.Cmds = plan.Cmds[:0]
			plan.JobElems = units
			plan.Single = single
			return p.emit(plan, cfg)
		}
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("no job size fits")
	}
	return lastErr
}
