package search

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// LayerwiseOptions steer Layerwise.
type LayerwiseOptions struct {
	// Engine searches each GEMM-like operator's mapping (default "optimal").
	Engine    string
	Objective constraints.Objective // default latency
	// OpTimeLimit bounds each per-operator search (0: none); a search stopped
	// by it returns its best mapping with status feasible.
	OpTimeLimit time.Duration
}

// Layerwise is the per-operator baseline of a whole graph: every GEMM-like
// operator gets the mapping the engine finds for it alone, every tensor goes
// through DRAM, nothing is fused, and the operators run one after the other.
// Each step's prediction is constraints.OperatorCost (exact for the lowered
// operator: lowering.LowerGraph emits the same streams, and the simulated
// graph latency and DRAM bytes are the sums). Status is optimal when every
// per-operator search proved its mapping optimal. For a CONV2D the search
// ranks mappings of the GEMM view; the gathers are costed after the choice,
// so the kpusim and greedy mappings compete on the real cost too (status
// feasible when one of them wins).
func Layerwise(ctx context.Context, g *model.Graph, cfg *kpu.Config, opts LayerwiseOptions) (*model.GraphSchedule, error) {
	start := time.Now()
	if opts.Engine == "" {
		opts.Engine = "optimal"
	}
	if opts.Objective == "" {
		opts.Objective = constraints.Latency
	}
	s := &model.GraphSchedule{Graph: g.Name, Config: cfg.Name, Mode: "layerwise", Objective: string(opts.Objective),
		Status: StatusOptimal, Engine: opts.Engine}
	type solved struct {
		p      constraints.Problem
		engine string
	}
	cache := map[solved]*Result{}
	solve := func(p constraints.Problem, engine string) (*Result, error) {
		key := solved{p, engine}
		key.p.Name = ""
		if res, ok := cache[key]; ok {
			return res, nil
		}
		sctx, cancel := ctx, context.CancelFunc(func() {})
		if opts.OpTimeLimit > 0 {
			sctx, cancel = context.WithTimeout(ctx, opts.OpTimeLimit)
		}
		defer cancel()
		res, err := Solve(sctx, engine, p, cfg, Options{Objective: opts.Objective})
		if err != nil {
			return nil, err
		}
		if res.Status == StatusInfeasible {
			return nil, res.Err
		}
		cache[key] = res
		return res, nil
	}
	// After ctx ends (a time limit, Ctrl-C) the remaining operators take the
	// closed-form kpusim mapping, priced exactly on a detached context (one
	// pricing per operator): the schedule is complete, with status feasible.
	dctx := context.WithoutCancel(ctx)
	price := func(op *model.Operator, m *model.Mapping) (*constraints.Cost, error) {
		c, err := constraints.OperatorCost(ctx, g, op, m, cfg)
		if err != nil && ctx.Err() != nil {
			s.Status = StatusFeasible
			c, err = constraints.OperatorCost(dctx, g, op, m, cfg)
		}
		return c, err
	}
	for _, op := range g.Operators {
		step := model.ScheduledOp{Name: op.Name, Type: op.Type, Output: op.Outputs[0]}
		var m *model.Mapping
		var bound constraints.Bound
		if op.Type.IsGEMMLike() {
			shape, _, err := g.GEMM(op)
			if err != nil {
				return nil, err
			}
			p, err := constraints.NewProblem(op.Name, shape)
			if err != nil {
				return nil, err
			}
			res, err := solve(p, opts.Engine)
			if err != nil && ctx.Err() != nil {
				res, err = Solve(dctx, "kpusim", p, cfg, Options{Objective: opts.Objective})
				if err == nil && res.Status == StatusInfeasible {
					err = res.Err
				}
				s.Status = StatusFeasible
			}
			if err != nil {
				return nil, fmt.Errorf("layerwise %s: operator %s: %w", g.Name, op.Name, err)
			}
			if res.Status != StatusOptimal {
				s.Status = StatusFeasible
			}
			mm := res.Mapping
			mm.Placement = nil
			m = &mm
			step.Mapping = m
			bound = gemmBound(g, op, p, res.ProblemBound, cfg)
		} else {
			bound = vectorBound(g, op, cfg)
		}
		c, err := price(op, m)
		if err != nil {
			return nil, fmt.Errorf("layerwise %s: %w", g.Name, err)
		}
		if (op.Type == model.OpConv2D || op.Type == model.OpConv2DDW) && ctx.Err() == nil {
			// The search ranks the GEMM view; the gathers are costed only
			// now, so the heuristics' mappings compete on the real cost.
			shape, _, _ := g.GEMM(op)
			p, _ := constraints.NewProblem(op.Name, shape)
			for _, alt := range []string{"kpusim", "greedy"} {
				if alt == opts.Engine {
					continue
				}
				res, err := solve(p, alt)
				if err != nil {
					continue // a heuristic that finds nothing does not compete
				}
				am := res.Mapping
				am.Placement = nil
				ac, err := constraints.OperatorCost(ctx, g, op, &am, cfg)
				if err != nil && ctx.Err() != nil {
					break // stopped: keep the priced mapping
				}
				if err != nil {
					return nil, fmt.Errorf("layerwise %s: %w", g.Name, err)
				}
				if ac.Value(opts.Objective) < c.Value(opts.Objective) {
					c, m = ac, &am
					step.Mapping = m
					s.Status = StatusFeasible
				}
			}
		}
		step.Predicted = model.Figures{LatencyCycles: c.LatencyCycles, EnergyPJ: c.EnergyPJ, DRAMBytes: c.DRAMBytes}
		s.Ops = append(s.Ops, step)
		s.Predicted.LatencyCycles += c.LatencyCycles
		s.Predicted.EnergyPJ += c.EnergyPJ
		s.Predicted.DRAMBytes += c.DRAMBytes
		s.Bound.LatencyCycles += bound.LatencyCycles
		s.Bound.DRAMBytes += bound.DRAMBytes
		s.Bound.EnergyPJ += bound.EnergyPJ
	}
	pv, bv := figure(s.Predicted, opts.Objective), figure(s.Bound, opts.Objective)
	if pv > 0 {
		s.Gap = math.Max(0, (pv-bv)/pv)
	}
	s.Seconds = time.Since(start).Seconds()
	return s, nil
}

func figure(f model.Figures, o constraints.Objective) float64 {
	switch o {
	case constraints.Energy:
		return f.EnergyPJ
	case constraints.Traffic:
		return float64(f.DRAMBytes)
	case constraints.EDP:
		return float64(f.LatencyCycles) * f.EnergyPJ
	}
	return float64(f.LatencyCycles)
}

// gemmBound is the problem's bound; for a convolution, whose A is gathered
// from the (smaller) input, only the compute bound and the compulsory bytes
// of its real tensors hold.
func gemmBound(g *model.Graph, op *model.Operator, p constraints.Problem, b constraints.Bound, cfg *kpu.Config) constraints.Bound {
	if op.Type != model.OpConv2D && op.Type != model.OpConv2DDW {
		return b
	}
	var bytes int64
	for _, n := range append(append([]string(nil), op.Inputs...), op.Outputs...) {
		bytes += g.Tensors[n].Bytes()
	}
	peak := int64(cfg.ComputeTiles) * int64(cfg.ArrayRows) * int64(cfg.ArrayCols)
	cyc := (p.MACs() + peak - 1) / max(peak, 1)
	if bw := float64(cfg.DMAEngines) * cfg.EngineBandwidth(kpu.DMA, p.ElemBytes()); bw > 0 {
		cyc = max(cyc, int64(math.Ceil(float64(bytes)/bw)))
	}
	en := float64(p.MACs())*cfg.MACEnergy(string(p.DType)) + float64(bytes)*cfg.Energy.DRAM
	return constraints.Bound{LatencyCycles: cyc, DRAMBytes: bytes, EnergyPJ: en, LatencyBy: "compute/dram"}
}

// vectorBound: every operand read or written once in DRAM over the
// aggregate DMA bandwidth (a RESHAPE moves nothing).
func vectorBound(g *model.Graph, op *model.Operator, cfg *kpu.Config) constraints.Bound {
	if op.Type == model.OpReshape {
		return constraints.Bound{}
	}
	var bytes int64
	for _, n := range append(append([]string(nil), op.Inputs...), op.Outputs...) {
		bytes += g.Tensors[n].Bytes()
	}
	var cyc int64
	if bw := float64(cfg.DMAEngines) * cfg.EngineBandwidth(kpu.DMA, 1); bw > 0 {
		cyc = int64(math.Ceil(float64(bytes) / bw))
	}
	return constraints.Bound{LatencyCycles: cyc, DRAMBytes: bytes, EnergyPJ: float64(bytes) * cfg.Energy.DRAM}
}
