package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/lowering"
	"github.com/stillwater-sc/kpuopt/model"
	"github.com/stillwater-sc/kpuopt/search"
	"github.com/stillwater-sc/kpuopt/verify"
)

// compareOptions holds the flags of `compare`.
type compareOptions struct {
	streams         *streams
	config          string
	objective       string
	format          string
	exhaustive      string
	functionalLimit int64
	seed            uint64
	timeLimit       time.Duration
}

// exhaustiveLimitMACs is the largest GEMM `compare` runs the exhaustive
// engine on under --exhaustive auto.
const exhaustiveLimitMACs = 1 << 12

func newCompareCmd(s *streams) *cobra.Command {
	o := &compareOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "compare GRAPH --config X",
		Short: "Optimal schedule vs every heuristic, each lowered and simulated",
		Long: "compare schedules a graph with each search engine, lowers each schedule to a program,\n" +
			"verifies it on the simulator and prints predicted and simulated latency, energy and DRAM\n" +
			"bytes, and each one's slowdown against the first (simulated latency ratio). A graph of\n" +
			"MATMUL/LINEAR operators is compared per GEMM: optimal, kpusim, greedy, and exhaustive for\n" +
			"small problems. Any other graph (conv, vector ops) is compared as a whole: the joint schedule\n" +
			"(mappings and fusion chosen together), layerwise (each operator optimal alone) and the\n" +
			"kpusim and greedy heuristics applied per operator, each lowered to one program.\n" +
			"Exit status 1 when a schedule fails verification.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFormat(cmd, o.format, "table", "json", "csv"); err != nil {
				return err
			}
			if o.timeLimit <= 0 {
				return badInput(fmt.Errorf("compare: --time-limit %v: want a positive duration", o.timeLimit))
			}
			if o.config == "" {
				return badInput(fmt.Errorf("compare: --config is required (a preset name or config file)"))
			}
			switch o.exhaustive {
			case "auto", "always", "never":
			default:
				return badInput(fmt.Errorf("compare: --exhaustive %q: want auto, always or never", o.exhaustive))
			}
			obj, err := constraints.ParseObjective(o.objective)
			if err != nil {
				return badInput(fmt.Errorf("compare: --objective: %w", err))
			}
			return runCompare(cmd.Context(), o, args[0], obj)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "", "machine: preset name or config file (required)")
	f.StringVar(&o.objective, "objective", "latency", "objective: latency, energy, edp or traffic")
	f.StringVar(&o.format, "format", "table", "output format: table, json or csv")
	f.StringVar(&o.exhaustive, "exhaustive", "auto", "run the exhaustive engine: auto (GEMMs up to 2^12 MACs), always or never")
	f.Int64Var(&o.functionalLimit, "functional-limit", verify.DefaultFunctionalLimitMACs, "largest program (MACs) checked numerically (negative: never)")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the random inputs")
	f.DurationVar(&o.timeLimit, "time-limit", 60*time.Second, "time limit of each engine's search per operator (best found so far when it expires)")
	return cmd
}

// scheduled is a graph scheduled by one engine, lowered and verified.
type scheduled struct {
	Engine    string            `json:"engine"`
	Status    string            `json:"status"` // worst status over the GEMMs
	Mappings  lowering.Schedule `json:"mappings"`
	Predicted verify.Figures    `json:"predicted"`
	Simulated *verify.Figures   `json:"simulated,omitempty"`
	Verified  bool              `json:"verified"`
	Reasons   []string          `json:"reasons,omitempty"`
	Slowdown  float64           `json:"slowdown"` // simulated latency / the optimal one's
	Program   *kpu.Program      `json:"-"`
	Report    *verify.Report    `json:"-"`
}

// gemmProblems lists the GEMM problems of g in operator order; it fails for
// operators the lowering does not handle.
func gemmProblems(g *model.Graph) ([]*model.Operator, []constraints.Problem, error) {
	var ops []*model.Operator
	var ps []constraints.Problem
	for _, op := range g.Operators {
		if op.Type != model.OpMatMul && op.Type != model.OpLinear {
			return nil, nil, fmt.Errorf("operator %q (%s): %w (lowering handles MATMUL and LINEAR)", op.Name, op.Type, lowering.ErrUnsupported)
		}
		shape, _, err := g.GEMM(op)
		if err != nil {
			return nil, nil, err
		}
		p, err := constraints.NewProblem(op.Name, shape)
		if err != nil {
			return nil, nil, err
		}
		p.OutDType = g.Tensors[op.Outputs[0]].DType // a narrow output is converted in the stream
		ops = append(ops, op)
		ps = append(ps, p)
	}
	return ops, ps, nil
}

// scheduleWith runs engine on every GEMM of g, lowers the schedule and
// verifies the program against the summed predictions (operators run one
// after the other, so latencies add up).
func scheduleWith(ctx context.Context, g *model.Graph, cfg *kpu.Config, engine string, obj constraints.Objective, limit time.Duration, vopts verify.Options) (*scheduled, error) {
	ops, ps, err := gemmProblems(g)
	if err != nil {
		return nil, err
	}
	sc := &scheduled{Engine: engine, Status: search.StatusOptimal, Mappings: lowering.Schedule{}}
	for i, op := range ops {
		sctx, cancel := context.WithTimeout(ctx, limit)
		res, err := search.Solve(sctx, engine, ps[i], cfg, search.Options{Objective: obj})
		cancel()
		if err == nil && res == nil {
			err = fmt.Errorf("no result")
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: operator %q: %w", engine, op.Name, ctx.Err())
		}
		if err != nil {
			return nil, fmt.Errorf("%s: operator %q: %w", engine, op.Name, err)
		}
		if res.Status == search.StatusInfeasible {
			return nil, fmt.Errorf("%s: operator %q: infeasible: %w", engine, op.Name, res.Err)
		}
		if res.Status != search.StatusOptimal {
			sc.Status = res.Status
		}
		sc.Mappings[op.Name] = res.Mapping
		cost, err := constraints.Evaluate(ctx, ps[i], res.Mapping, cfg)
		if err != nil {
			return nil, fmt.Errorf("%s: operator %q: evaluate: %w", engine, op.Name, err)
		}
		sc.Predicted.LatencyCycles += cost.LatencyCycles
		sc.Predicted.DRAMBytes += cost.DRAMBytes
		sc.Predicted.EnergyPJ += cost.EnergyPJ
	}
	prog, err := lowering.Lower(ctx, g, sc.Mappings, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", engine, err)
	}
	return sc, sc.verifyProgram(ctx, prog, cfg, vopts)
}

// verifyProgram verifies the lowered program of sc against sc's prediction
// and records the verdict.
func (sc *scheduled) verifyProgram(ctx context.Context, prog *kpu.Program, cfg *kpu.Config, vopts verify.Options) error {
	sc.Program = prog
	pred := sc.Predicted
	vopts.Predicted = &pred
	rep, err := verify.Program(ctx, prog, cfg, vopts)
	if err != nil {
		return fmt.Errorf("%s: %w", sc.Engine, err)
	}
	sc.Report = rep
	sc.Simulated = rep.Simulated
	sc.Verified = rep.Verified
	sc.Reasons = rep.Reasons
	return nil
}

func runCompare(ctx context.Context, o *compareOptions, path string, obj constraints.Objective) error {
	s := o.streams
	g, err := loadGraph(path)
	if err != nil {
		return err
	}
	cfg, err := resolveMachine(s, o.config)
	if err != nil {
		return err
	}
	engines := compareGraphEngines
	schedule := scheduleGraphWith
	if onlyPlainGEMMs(g) {
		_, ps, err := gemmProblems(g)
		if err != nil {
			return badInput(fmt.Errorf("compare %s: %w", path, err))
		}
		engines = []string{"optimal", "kpusim", "greedy"}
		small := true
		for _, p := range ps {
			small = small && p.MACs() <= exhaustiveLimitMACs
		}
		if o.exhaustive == "always" || (o.exhaustive == "auto" && small) {
			engines = append(engines, "exhaustive")
		}
		schedule = scheduleWith
	}
	vopts := verify.Options{Seed: o.seed, FunctionalLimitMACs: o.functionalLimit}
	var rows []*scheduled
	for _, e := range engines {
		sc, err := schedule(ctx, g, cfg, e, obj, o.timeLimit, vopts)
		if err != nil {
			return failed(fmt.Errorf("compare %s: %w", path, err))
		}
		rows = append(rows, sc)
	}
	if base := rows[0].Simulated; base != nil && base.LatencyCycles > 0 {
		for _, r := range rows {
			if r.Simulated != nil {
				r.Slowdown = float64(r.Simulated.LatencyCycles) / float64(base.LatencyCycles)
			}
		}
	}
	out := compareResult{Graph: g.Name, Config: cfg.Name, Objective: string(obj), Schedules: rows}
	switch o.format {
	case "json":
		if err := writeIndentedJSON(s, out); err != nil {
			return err
		}
	case "csv":
		if err := printCompareCSV(s, rows); err != nil {
			return err
		}
	default:
		if err := printCompareTable(s, &out); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if !r.Verified {
			return failed(fmt.Errorf("compare %s: the %s schedule failed verification: %v", path, r.Engine, r.Reasons))
		}
	}
	return nil
}

type compareResult struct {
	Graph     string       `json:"graph"`
	Config    string       `json:"config"`
	Objective string       `json:"objective"`
	Schedules []*scheduled `json:"schedules"`
}

func simOrZero(f *verify.Figures) verify.Figures {
	if f == nil {
		return verify.Figures{}
	}
	return *f
}

func printCompareTable(s *streams, out *compareResult) error {
	w := tabwriter.NewWriter(s.Out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(s.Out, "graph %s on %s, objective %s\n\n", cell(out.Graph), cell(out.Config), out.Objective)
	fmt.Fprintf(w, "engine\tstatus\tpred cycles\tsim cycles\tpred energy pJ\tsim energy pJ\tpred DRAM B\tsim DRAM B\tslowdown\tverified\t\n")
	for _, r := range out.Schedules {
		sim := simOrZero(r.Simulated)
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%.4g\t%.4g\t%d\t%d\t%.3fx\t%v\t\n", r.Engine, r.Status, r.Predicted.LatencyCycles, sim.LatencyCycles,
			r.Predicted.EnergyPJ, sim.EnergyPJ, r.Predicted.DRAMBytes, sim.DRAMBytes, r.Slowdown, r.Verified)
	}
	return w.Flush()
}

func printCompareCSV(s *streams, rows []*scheduled) error {
	w := csv.NewWriter(s.Out)
	w.Write([]string{"engine", "status", "predicted_latency_cycles", "simulated_latency_cycles", "predicted_energy_pj", "simulated_energy_pj",
		"predicted_dram_bytes", "simulated_dram_bytes", "slowdown", "verified"})
	for _, r := range rows {
		sim := simOrZero(r.Simulated)
		w.Write([]string{r.Engine, r.Status, strconv.FormatInt(r.Predicted.LatencyCycles, 10), strconv.FormatInt(sim.LatencyCycles, 10),
			strconv.FormatFloat(r.Predicted.EnergyPJ, 'g', 10, 64), strconv.FormatFloat(sim.EnergyPJ, 'g', 10, 64),
			strconv.FormatInt(r.Predicted.DRAMBytes, 10), strconv.FormatInt(sim.DRAMBytes, 10),
			strconv.FormatFloat(r.Slowdown, 'f', 4, 64), strconv.FormatBool(r.Verified)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return failed(fmt.Errorf("write CSV: %w", err))
	}
	return nil
}
