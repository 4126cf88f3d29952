package lowering

import (
	"context"
	"errors"
	"fmt"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// Schedule maps the name of every GEMM-like operator of a graph to its mapping.
type Schedule map[string]model.Mapping

// ErrUnsupported marks an operator the GEMM lowering does not handle.
var ErrUnsupported = errors.New("not lowered")

// OpLowering lowers one operator that is not a GEMM (vector work, reshapes)
// by appending commands to b. It must place the operator's tensors with
// PlaceTensor, make its DRAM reads depend on ReadDeps, record its DRAM
// writes with Wrote, and end with DMA stores (see Builder).
type OpLowering func(ctx context.Context, b *Builder, g *model.Graph, op *model.Operator) error

// Options extend Lower.
type Options struct {
	// Name of the program (default: the graph's name).
	Name string
	// Other lowers the operators that are not MATMUL or LINEAR; nil makes
	// Lower fail on them.
	Other OpLowering
}

// Lower builds the program of graph g on machine cfg: every operator in the
// graph's (topological) order, GEMM-like ones with their mapping from sched.
func Lower(ctx context.Context, g *model.Graph, sched Schedule, cfg *kpu.Config) (*kpu.Program, error) {
	return LowerWith(ctx, g, sched, cfg, Options{})
}

// LowerWith is Lower with options.
func LowerWith(ctx context.Context, g *model.Graph, sched Schedule, cfg *kpu.Config, opts Options) (*kpu.Program, error) {
	if g == nil {
		return nil, fmt.Errorf("lower: no graph")
	}
	name := opts.Name
	if name == "" {
		name = g.Name
	}
	b, err := NewBuilder(name, g, cfg)
	if err != nil {
		return nil, err
	}
	for _, op := range g.Operators {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("lower %q: %w", name, err)
		}
		if op.Type == model.OpMatMul || op.Type == model.OpLinear {
			m, ok := sched[op.Name]
			if !ok {
				return nil, fmt.Errorf("lower %q: operator %q (%s) has no mapping in the schedule", name, op.Name, op.Type)
			}
			if err := b.LowerGEMM(ctx, g, op, m); err != nil {
				return nil, fmt.Errorf("lower %q: %w", name, err)
			}
			continue
		}
		if opts.Other == nil {
			return nil, fmt.Errorf("lower %q: operator %q (%s): %w (the GEMM lowering handles MATMUL and LINEAR only)", name, op.Name, op.Type, ErrUnsupported)
		}
		if err := opts.Other(ctx, b, g, op); err != nil {
			return nil, fmt.Errorf("lower %q: operator %q (%s): %w", name, op.Name, op.Type, err)
		}
	}
	return b.Program(), nil
}
