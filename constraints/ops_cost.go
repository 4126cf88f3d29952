package constraints

import (
	"context"
	"fmt"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// OperatorCost is the exact predicted cost of one operator of g run alone
// with every tensor in DRAM, as the whole-graph lowering emits it
// (docs/graph-schedules.md): a GEMM-like operator under mapping m
// (EvaluateGEMMOp: Walk's stream, with a CONV2D's gathers, a narrow
// output's conversion, and its bias added on the drain path, or by a
// separate in-place pass (PlanBias) when the bias does not fit on chip
// beside the mapping's buffers); any other
// operator its PlanOp stream (m is ignored).
// Latency and DRAM bytes equal the simulator's for the operator alone.
func OperatorCost(ctx context.Context, g *model.Graph, op *model.Operator, m *model.Mapping, cfg *kpu.Config) (*Cost, error) {
	if !op.Type.IsGEMMLike() {
		c, _, err := OpCostOf(ctx, g, op, cfg)
		if err != nil {
			return nil, err
		}
		return &Cost{LatencyCycles: c.Cycles, EnergyPJ: c.EnergyPJ, DRAMBytes: c.Bytes.DRAM(), Bytes: c.Bytes, Busy: c.Busy, Commands: c.Commands}, nil
	}
	if m == nil {
		return nil, fmt.Errorf("operator %q (%s): no mapping", op.Name, op.Type)
	}
	f, err := BiasOnDrain(g, op, *m, cfg)
	separate := IsInfeasible(err)
	if err != nil && !separate {
		return nil, err
	}
	cost, err := EvaluateGEMMOp(ctx, g, op, *m, f, cfg)
	if err != nil {
		return nil, fmt.Errorf("operator %q: %w", op.Name, err)
	}
	if separate {
		plan, err := PlanBias(ctx, g, op, cfg)
		if err != nil {
			return nil, err
		}
		bc, err := plan.Cost(cfg)
		if err != nil {
			return nil, err
		}
		cost.LatencyCycles += bc.Cycles
		cost.EnergyPJ += bc.EnergyPJ
		cost.DRAMBytes += bc.Bytes.DRAM()
		cost.Commands += bc.Commands
		b := &cost.Bytes
		b.DRAMRead += bc.Bytes.DRAMRead
		b.DRAMWrite += bc.Bytes.DRAMWrite
		b.L3Read += bc.Bytes.L3Read
		b.L3Write += bc.Bytes.L3Write
		b.L2Read += bc.Bytes.L2Read
		b.L2Write += bc.Bytes.L2Write
	}
	return cost, nil
}
