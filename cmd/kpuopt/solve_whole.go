package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/lowering"
	"github.com/stillwater-sc/kpuopt/model"
	"github.com/stillwater-sc/kpuopt/search"
	"github.com/stillwater-sc/kpuopt/search/graph"
	"github.com/stillwater-sc/kpuopt/verify"
)

// needsWholeGraph reports whether solve schedules g as a whole: any operator
// other than a plain MATMUL or bias-free LINEAR (convolutions, biases, vector
// operators) is scheduled, lowered and verified by the whole-graph path.
func needsWholeGraph(g *model.Graph) bool {
	for _, op := range g.Operators {
		switch {
		case op.Type == model.OpMatMul:
		case op.Type == model.OpLinear && len(op.Inputs) == 2:
		default:
			return true
		}
	}
	return false
}

// wholeOp is one operator of a whole-graph solve. Mapping is the GEMM
// mapping of a GEMM-like operator, or {"unit": "vector"} for an operator run
// on the vector engines (with "fused_into" when it runs on a GEMM's drain).
type wholeOp struct {
	Name      string       `json:"name"`
	Type      model.OpType `json:"type"`
	Shape     *gemmShape   `json:"shape,omitempty"` // the GEMM view (GEMM-like operators)
	Mapping   any          `json:"mapping"`
	FusedOps  []string     `json:"fused_ops,omitempty"`
	ResidentA bool         `json:"resident_a,omitempty"`
	ResidentB bool         `json:"resident_b,omitempty"`
	ResidentC bool         `json:"resident_c,omitempty"`
	Predicted *figures     `json:"predicted,omitempty"`
}

type vectorMapping struct {
	Unit      string `json:"unit"`
	FusedInto string `json:"fused_into,omitempty"`
}

// wholeReport is the output of solve on a whole graph; it keeps the keys of
// the per-GEMM report (issue 4) and adds the graph decisions.
type wholeReport struct {
	Graph        string                 `json:"graph"`
	Status       string                 `json:"status"`
	Objective    string                 `json:"objective"`
	Config       string                 `json:"config"`
	Search       string                 `json:"search"`
	Mode         string                 `json:"mode"` // optimal (joint) or layerwise
	Engine       string                 `json:"engine"`
	SolveSeconds float64                `json:"solve_seconds"`
	Predicted    figures                `json:"predicted"`
	LowerBound   boundFigures           `json:"lower_bound"`
	Gap          float64                `json:"gap"`
	Ops          []wholeOp              `json:"ops"`
	Resident     []model.ResidentTensor `json:"resident,omitempty"`
	L3PeakBytes  int64                  `json:"l3_peak_bytes"`
	Note         string                 `json:"note,omitempty"`
	*solveVerification
	schedule *model.GraphSchedule
}

// runSolveWhole schedules the whole graph: --search optimal solves the joint
// problem (mappings, L3 residency and fusion together, search/graph);
// --search layerwise, kpusim, greedy, exhaustive or sat schedule each
// operator alone with that engine, every tensor through DRAM.
func runSolveWhole(ctx context.Context, o *solveOptions, path string, g *model.Graph, cfg *kpu.Config, obj constraints.Objective) error {
	s := o.streams
	start := o.now()
	vctx := ctx
	ctx, cancel := context.WithTimeout(ctx, o.timeLimit)
	defer cancel()
	lowerable := o.sv.verify || o.sv.program != "" || o.sv.trace
	solve := func(noResidency bool) (*model.GraphSchedule, error) {
		if s.Terminal {
			fmt.Fprintf(s.Err, "kpuopt: solving %s on %s (%s)...\n", g.Name, cfg.Name, o.search)
		}
		switch o.search {
		case "optimal":
			return graph.Solve(ctx, g, cfg, graph.Options{Mode: graph.ModeOptimal, Objective: obj, SeedTime: seedTime(g, o.timeLimit), NoResidency: noResidency, Check: lowering.CheckSchedule(g, cfg)})
		case "layerwise":
			return search.Layerwise(ctx, g, cfg, search.LayerwiseOptions{Engine: "optimal", Objective: obj, OpTimeLimit: opTimeLimit(g, o.timeLimit)})
		default:
			return search.Layerwise(ctx, g, cfg, search.LayerwiseOptions{Engine: o.search, Objective: obj, OpTimeLimit: opTimeLimit(g, o.timeLimit)})
		}
	}
	gs, err := solve(false)
	if err != nil {
		return wholeSolveError(path, err)
	}
	note := ""
	var prog *kpu.Program
	if lowerable {
		prog, err = lowering.LowerGraphSchedule(vctx, g, gs, cfg)
		if err != nil && len(gs.Resident) > 0 {
			// A schedule whose resident tensors the lowering cannot place is
			// re-solved with every tensor through DRAM, so that what is
			// verified is what is reported.
			note = fmt.Sprintf("the joint schedule with %d L3-resident tensors could not be lowered (%v); reported and verified: the joint schedule with every tensor through DRAM", len(gs.Resident), err)
			if gs, err = solve(true); err != nil {
				return wholeSolveError(path, err)
			}
			prog, err = lowering.LowerGraphSchedule(vctx, g, gs, cfg)
		}
		if err != nil {
			return failed(fmt.Errorf("solve %s: lower the schedule: %w", path, err))
		}
	}
	rep := wholeReportOf(g, gs, o.search, note)
	rep.SolveSeconds = round3(o.now().Sub(start).Seconds())
	gs.Seconds = rep.SolveSeconds // the table shows solve's clock
	if prog != nil {
		pred := verify.Figures{LatencyCycles: gs.Predicted.LatencyCycles, DRAMBytes: gs.Predicted.DRAMBytes, EnergyPJ: gs.Predicted.EnergyPJ}
		sv, err := o.sv.check(vctx, path, prog, cfg, pred)
		rep.solveVerification = sv
		if err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	if o.format == "json" {
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return failed(fmt.Errorf("solve: encode: %w", err))
		}
	} else {
		if err := printGraphSchedule(&buf, gs, nil); err != nil {
			return failed(err)
		}
		if rep.Note != "" {
			fmt.Fprintf(&buf, "note: %s\n", rep.Note)
		}
		if err := printSolveVerification(&buf, rep.solveVerification); err != nil {
			return failed(err)
		}
	}
	if o.output != "" {
		return writeFileAtomic(o.output, buf.Bytes())
	}
	_, err = s.Out.Write(buf.Bytes())
	return err
}

func wholeSolveError(path string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return failed(fmt.Errorf("solve %s: stopped before a whole-graph schedule was found: %w", path, err))
	}
	if constraints.IsInfeasible(err) {
		return failed(fmt.Errorf("solve %s: %w", path, err))
	}
	return failed(fmt.Errorf("solve %s: %w", path, err))
}

// wholeReportOf turns a graph schedule into solve's report.
func wholeReportOf(g *model.Graph, gs *model.GraphSchedule, engine, note string) *wholeReport {
	rep := &wholeReport{
		Graph: gs.Graph, Status: gs.Status, Objective: gs.Objective, Config: gs.Config, Search: engine,
		Mode: gs.Mode, Engine: gs.Engine, Resident: gs.Resident, L3PeakBytes: gs.L3Peak, Note: note,
		Predicted:  figures{LatencyCycles: gs.Predicted.LatencyCycles, EnergyPJ: gs.Predicted.EnergyPJ, DRAMBytes: gs.Predicted.DRAMBytes},
		LowerBound: boundFigures{LatencyCycles: gs.Bound.LatencyCycles, DRAMBytes: gs.Bound.DRAMBytes},
		Gap:        round6(gs.Gap), schedule: gs,
	}
	byName := map[string]*model.Operator{}
	for _, op := range g.Operators {
		byName[op.Name] = op
	}
	for _, st := range gs.Ops {
		pred := figures{LatencyCycles: st.Predicted.LatencyCycles, EnergyPJ: st.Predicted.EnergyPJ, DRAMBytes: st.Predicted.DRAMBytes}
		op := wholeOp{Name: st.Name, Type: st.Type, FusedOps: st.FusedOps, ResidentA: st.ResidentA, ResidentB: st.ResidentB, ResidentC: st.ResidentC, Predicted: &pred}
		if st.Mapping != nil {
			op.Mapping = st.Mapping
			if gop := byName[st.Name]; gop != nil {
				if sh, ok, err := g.GEMM(gop); err == nil && ok {
					op.Shape = &gemmShape{Batch: sh.Batch, M: sh.M, N: sh.N, K: sh.K, DType: sh.DType}
				}
			}
		} else {
			op.Mapping = vectorMapping{Unit: "vector"}
		}
		rep.Ops = append(rep.Ops, op)
		for _, f := range st.FusedOps {
			rep.Ops = append(rep.Ops, wholeOp{Name: f, Type: "", Mapping: vectorMapping{Unit: "vector", FusedInto: st.Name}})
		}
	}
	return rep
}

// seedTime bounds each per-operator seed search of a joint solve so that
// all of them together take at most half of the time limit (at most 10 s
// each): the seeds are anytime searches, and the joint step needs the rest.
func seedTime(g *model.Graph, limit time.Duration) time.Duration {
	shapes := map[model.GEMMShape]bool{}
	for _, op := range g.Operators {
		if sh, ok, err := g.GEMM(op); err == nil && ok {
			shapes[sh] = true
		}
	}
	return min(limit/time.Duration(2*max(len(shapes), 1)), 10*time.Second)
}

// opTimeLimit bounds each operator's search of a layerwise solve so that all
// of them together take at most half of the time limit; a search cut short
// keeps its best mapping (status feasible).
func opTimeLimit(g *model.Graph, limit time.Duration) time.Duration {
	n := 0
	for _, op := range g.Operators {
		if _, ok, err := g.GEMM(op); err == nil && ok {
			n++
		}
	}
	return limit / time.Duration(2*max(n, 1))
}
