package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/lowering"
	"github.com/stillwater-sc/kpuopt/model"
	"github.com/stillwater-sc/kpuopt/search/graph"
	"github.com/stillwater-sc/kpuopt/verify"
)

// solveGraphOptions holds the flags of `solve-graph`.
type solveGraphOptions struct {
	streams   *streams
	file      string
	config    string
	objective string
	mode      string
	engine    string
	noRes     bool
	simulate  bool
	seeds     []string
	seedTime  time.Duration
	timeLimit time.Duration
	format    string
	output    string
}

func newSolveGraphCmd(s *streams) *cobra.Command {
	o := &solveGraphOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "solve-graph GRAPH",
		Short: "Schedule a whole graph: per-operator mappings, L3 residency and fusion, optimized jointly",
		Long: "solve-graph chooses, for every operator of GRAPH, a mapping from its candidate set, which\n" +
			"intermediate tensors stay resident in L3 from producer to last consumer, and which elementwise\n" +
			"operators fuse into the drain path of the GEMM producing their input, under the L3 capacity at\n" +
			"every step (docs/graph-optimization.md). --mode optimal solves the joint problem exactly over\n" +
			"the candidate sets; layerwise schedules every operator alone with every tensor through DRAM;\n" +
			"both prints the two and their ratios.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFormat(cmd, o.format, "table", "json"); err != nil {
				return err
			}
			switch o.mode {
			case graph.ModeOptimal, graph.ModeLayerwise, "both":
			default:
				return badInput(fmt.Errorf("%s: --mode %q: want optimal, layerwise or both", cmd.CommandPath(), o.mode))
			}
			if o.engine != "" && o.engine != "dp" && o.engine != "sat" {
				return badInput(fmt.Errorf("%s: --engine %q: want dp or sat", cmd.CommandPath(), o.engine))
			}
			if _, err := constraints.ParseObjective(o.objective); err != nil {
				return badInput(fmt.Errorf("%s: --objective: %w", cmd.CommandPath(), err))
			}
			if o.timeLimit < 0 || o.seedTime < 0 {
				return badInput(fmt.Errorf("%s: --time-limit and --seed-time must not be negative", cmd.CommandPath()))
			}
			o.file = args[0]
			return runSolveGraph(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "edge_ai", "machine: preset name or config file")
	f.StringVar(&o.objective, "objective", "latency", "latency, energy, edp or traffic")
	f.StringVar(&o.mode, "mode", "both", "optimal (joint), layerwise, or both")
	f.StringVar(&o.engine, "engine", "", "joint solver: dp (exact dynamic program) or sat (pseudo-boolean encoding); default dp, sat when too many tensors are live at once")
	f.BoolVar(&o.noRes, "no-residency", false, "keep every tensor in DRAM (joint mappings and fusion only)")
	f.BoolVar(&o.simulate, "simulate", false, "lower each schedule (resident tensors in L3) and run it on the simulator")
	f.StringSliceVar(&o.seeds, "seed", []string{"optimal"}, "per-operator search engines whose mapping joins each candidate set (none: --seed=)")
	f.DurationVar(&o.seedTime, "seed-time", time.Second, "time limit of each seed search (per distinct GEMM shape)")
	f.DurationVar(&o.timeLimit, "time-limit", 5*time.Minute, "time limit of the whole solve")
	f.StringVar(&o.format, "format", "table", "output format: table or json")
	f.StringVarP(&o.output, "output", "o", "", "write the JSON schedule(s) to this file as well")
	return cmd
}

// graphSolveReport is the JSON output of `solve-graph`.
type graphSolveReport struct {
	File      string               `json:"file"`
	Optimal   *model.GraphSchedule `json:"optimal,omitempty"`
	Layerwise *model.GraphSchedule `json:"layerwise,omitempty"`
	// Simulated figures of the lowered schedules (--simulate), by mode.
	Simulated map[string]*simulatedFigures `json:"simulated,omitempty"`
	// Ratios of layerwise to joint (> 1: the joint schedule is better).
	LatencyRatio float64 `json:"latency_ratio,omitempty"`
	DRAMRatio    float64 `json:"dram_ratio,omitempty"`
	EnergyRatio  float64 `json:"energy_ratio,omitempty"`
}

func runSolveGraph(ctx context.Context, o *solveGraphOptions) error {
	g, err := loadGraph(o.file)
	if err != nil {
		return err
	}
	cfg, err := resolveMachine(o.streams, o.config)
	if err != nil {
		return err
	}
	if err := checkDRAMFit("solve-graph", o.file, g, cfg, o.mode != graph.ModeOptimal || o.noRes); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeLimit)
	defer cancel()
	seeds := []string{}
	for _, s := range o.seeds {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	rep := graphSolveReport{File: o.file}
	cache := &graph.Cache{}
	modes := []string{o.mode}
	if o.mode == "both" {
		modes = []string{graph.ModeLayerwise, graph.ModeOptimal}
	}
	for _, mode := range modes {
		if o.streams.Terminal {
			fmt.Fprintf(o.streams.Err, "kpuopt: solving %s (%s, %s)...\n", g.Name, mode, cfg.Name)
		}
		s, err := graph.Solve(ctx, g, cfg, graph.Options{Mode: mode, Objective: constraints.Objective(o.objective), Engine: o.engine, NoResidency: o.noRes, Seeds: seeds, SeedTime: o.seedTime, Cache: cache, Check: lowering.CheckSchedule(g, cfg)})
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return failed(fmt.Errorf("solve-graph %s (%s): stopped after the time limit %s: %w", o.file, mode, o.timeLimit, err))
			}
			if strings.Contains(err.Error(), "unknown search engine") {
				return badInput(fmt.Errorf("solve-graph %s: --seed: %w", o.file, err))
			}
			return failed(fmt.Errorf("solve-graph %s (%s) on %s: %w", o.file, mode, cfg.Name, err))
		}
		if mode == graph.ModeOptimal {
			rep.Optimal = s
		} else {
			rep.Layerwise = s
		}
		if o.simulate {
			sim, err := simulateGraphSchedule(ctx, g, s, cfg)
			if err != nil {
				return failed(fmt.Errorf("solve-graph %s (%s): --simulate: %w", o.file, mode, err))
			}
			if rep.Simulated == nil {
				rep.Simulated = map[string]*simulatedFigures{}
			}
			rep.Simulated[mode] = sim
		}
	}
	if rep.Optimal != nil && rep.Layerwise != nil {
		rep.LatencyRatio = ratio(float64(rep.Layerwise.Predicted.LatencyCycles), float64(rep.Optimal.Predicted.LatencyCycles))
		rep.DRAMRatio = ratio(float64(rep.Layerwise.Predicted.DRAMBytes), float64(rep.Optimal.Predicted.DRAMBytes))
		rep.EnergyRatio = ratio(rep.Layerwise.Predicted.EnergyPJ, rep.Optimal.Predicted.EnergyPJ)
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return failed(fmt.Errorf("solve-graph %s: %w", o.file, err))
	}
	data = append(data, '\n')
	if o.output != "" {
		if err := writeFileAtomic(o.output, data); err != nil {
			return failed(err)
		}
	}
	if o.format == "json" {
		if _, err = o.streams.Out.Write(data); err != nil {
			return err
		}
		return graphVerdict(o.file, rep)
	}
	for _, s := range []*model.GraphSchedule{rep.Layerwise, rep.Optimal} {
		if s != nil {
			var spans []int64
			if sim := rep.Simulated[s.Mode]; sim != nil {
				spans = sim.OpSpans
			}
			if err := printGraphSchedule(o.streams.Out, s, spans); err != nil {
				return err
			}
			if sim := rep.Simulated[s.Mode]; sim != nil {
				fmt.Fprintf(o.streams.Out, "simulated (%d commands): %d cycles (%+.1f%% vs predicted), %d DRAM bytes (%+.1f%%), %.4g pJ (%+.1f%%); numerics checked: %v; verified: %v\n\n",
					sim.Commands, sim.LatencyCycles, sim.LatencyErr*100, sim.DRAMBytes, sim.DRAMErr*100, sim.EnergyPJ, sim.EnergyErr*100, sim.Functional, sim.Verified)
			}
		}
	}
	if rep.Optimal != nil && rep.Layerwise != nil {
		_, err = fmt.Fprintf(o.streams.Out, "layerwise / joint: latency %.3fx, DRAM bytes %.3fx, energy %.3fx\n",
			rep.LatencyRatio, rep.DRAMRatio, rep.EnergyRatio)
		if err != nil {
			return err
		}
	}
	return graphVerdict(o.file, rep)
}

// graphVerdict fails the job when a simulated schedule did not verify.
func graphVerdict(file string, rep graphSolveReport) error {
	for _, mode := range []string{graph.ModeLayerwise, graph.ModeOptimal} {
		if sim := rep.Simulated[mode]; sim != nil && !sim.Verified {
			return failed(fmt.Errorf("solve-graph %s: the %s schedule failed verification: %s", file, mode, strings.Join(sim.Reasons, "; ")))
		}
	}
	return nil
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func mappingSummary(m *model.Mapping) string {
	if m == nil {
		return "-"
	}
	return fmt.Sprintf("L3 %dx%dx%d %s, L2 %dx%dx%d %s, split %s", m.L3.M, m.L3.N, m.L3.K, m.L3Order,
		m.L2.M, m.L2.N, m.L2.K, m.L2Order, splitText(m.Split))
}

// splitText is a split for a table: MxN, or MxNxK when it cuts K.
func splitText(s model.Split) string {
	if s.K > 1 {
		return fmt.Sprintf("%dx%dx%d", s.M, s.N, s.K)
	}
	return fmt.Sprintf("%dx%d", s.M, s.N)
}

func residencySummary(op model.ScheduledOp) string {
	var parts []string
	for _, r := range []struct {
		on   bool
		name string
	}{{op.ResidentA, "A"}, {op.ResidentB, "B"}, {op.ResidentC, "C"}} {
		if r.on {
			parts = append(parts, r.name)
		}
	}
	for _, n := range op.ResidentIn {
		parts = append(parts, "in:"+cell(n))
	}
	for _, n := range op.ResidentOut {
		parts = append(parts, "out:"+cell(n))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// printGraphSchedule prints s as a table; spans, when given, adds each
// entry's simulated span.
func printGraphSchedule(w io.Writer, s *model.GraphSchedule, spans []int64) error {
	fmt.Fprintf(w, "graph %s on %s: mode %s, objective %s, status %s (%s), %.2f s\n", cell(s.Graph), cell(s.Config), s.Mode, s.Objective, s.Status, s.Engine, s.Seconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	simHead := ""
	if len(spans) == len(s.Ops) {
		simHead = "\tSIM SPAN"
	}
	fmt.Fprintln(tw, "#\tOPERATOR\tTYPE\tMAPPING\tRESIDENT\tFUSED\tL3 WS\tL3 LIVE\tCYCLES\tDRAM BYTES\tENERGY pJ"+simHead)
	for i, op := range s.Ops {
		fused := "-"
		if len(op.FusedOps) > 0 {
			fused = cellList(op.FusedOps, ",")
		}
		simCol := ""
		if simHead != "" {
			simCol = fmt.Sprintf("\t%d", spans[i])
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%.4g%s\n", i, cell(op.Name), op.Type, mappingSummary(op.Mapping), residencySummary(op), fused,
			op.WorkingSetBytes, op.L3LiveBytes, op.Predicted.LatencyCycles, op.Predicted.DRAMBytes, op.Predicted.EnergyPJ, simCol)
	}
	fmt.Fprintf(tw, "total\t\t\t\t\t\t\t%d\t%d\t%d\t%.4g\n", s.L3Peak, s.Predicted.LatencyCycles, s.Predicted.DRAMBytes, s.Predicted.EnergyPJ)
	fmt.Fprintf(tw, "lower bound\t\t\t\t\t\t\t\t%d\t%d\t%.4g\n", s.Bound.LatencyCycles, s.Bound.DRAMBytes, s.Bound.EnergyPJ)
	if err := tw.Flush(); err != nil {
		return err
	}
	if s.L3Plan != "" {
		fmt.Fprintf(w, "L3 layout: %s\n", cell(s.L3Plan))
	}
	_, err := fmt.Fprintf(w, "resident tensors: %d, gap to the lower bound (%s): %.1f%%\n\n", len(s.Resident), s.Objective, 100*s.Gap)
	return err
}

// simulatedFigures are a lowered schedule's simulated figures, their
// relative difference from the prediction ((simulated - predicted) /
// predicted), and the verdict of verify.Program (checks, numerics against
// the reference evaluator when the graph is small enough, prediction within
// the fidelity bound).
type simulatedFigures struct {
	Commands      int      `json:"commands"`
	LatencyCycles int64    `json:"latency_cycles"`
	DRAMBytes     int64    `json:"dram_bytes"`
	EnergyPJ      float64  `json:"energy_pj"`
	LatencyErr    float64  `json:"latency_error"`
	DRAMErr       float64  `json:"dram_error"`
	EnergyErr     float64  `json:"energy_error"`
	Functional    bool     `json:"functional"`
	Verified      bool     `json:"verified"`
	Reasons       []string `json:"reasons,omitempty"`
	// OpSpans is, per schedule entry, the simulated span (last end - first
	// start) of its commands; spans of consecutive entries may overlap.
	OpSpans []int64 `json:"op_span_cycles,omitempty"`
}

// opSpans measures each entry's span in a simulated program: its commands
// are those whose label starts with the name of the entry's operator or of
// one of its fused operators ("name:...").
func opSpans(s *model.GraphSchedule, prog *kpu.Program, sim *kpu.SimResult) []int64 {
	if sim == nil || len(sim.Start) != len(prog.Commands) || len(sim.End) != len(prog.Commands) {
		return nil
	}
	entry := map[string]int{}
	for i, op := range s.Ops {
		entry[op.Name] = i
		for _, f := range op.FusedOps {
			entry[f] = i
		}
	}
	first := make([]int64, len(s.Ops))
	last := make([]int64, len(s.Ops))
	seen := make([]bool, len(s.Ops))
	for i, c := range prog.Commands {
		name, _, ok := strings.Cut(c.Label, ":")
		if !ok {
			continue
		}
		e, ok := entry[name]
		if !ok {
			continue
		}
		if !seen[e] || sim.Start[i] < first[e] {
			first[e] = sim.Start[i]
		}
		if !seen[e] || sim.End[i] > last[e] {
			last[e] = sim.End[i]
		}
		seen[e] = true
	}
	spans := make([]int64, len(s.Ops))
	for i := range spans {
		if seen[i] {
			spans[i] = last[i] - first[i]
		}
	}
	return spans
}

// simulateGraphSchedule lowers s (its resident tensors in L3) into one
// program and verifies it on the simulator.
func simulateGraphSchedule(ctx context.Context, g *model.Graph, s *model.GraphSchedule, cfg *kpu.Config) (*simulatedFigures, error) {
	prog, err := lowering.LowerGraphSchedule(ctx, g, s, cfg)
	if err != nil {
		return nil, err
	}
	pred := verify.Figures{LatencyCycles: s.Predicted.LatencyCycles, DRAMBytes: s.Predicted.DRAMBytes, EnergyPJ: s.Predicted.EnergyPJ}
	rep, err := verify.Program(ctx, prog, cfg, verify.Options{Seed: 1, Predicted: &pred})
	if err != nil {
		return nil, err
	}
	if rep.Simulated == nil {
		return nil, fmt.Errorf("verify gave no simulated figures: %v", rep.Reasons)
	}
	rel := func(sim, pred float64) float64 {
		if pred == 0 {
			return 0
		}
		return (sim - pred) / pred
	}
	sim := rep.Simulated
	return &simulatedFigures{
		Commands: rep.Commands, LatencyCycles: sim.LatencyCycles, DRAMBytes: sim.DRAMBytes, EnergyPJ: sim.EnergyPJ,
		LatencyErr: rel(float64(sim.LatencyCycles), float64(s.Predicted.LatencyCycles)),
		DRAMErr:    rel(float64(sim.DRAMBytes), float64(s.Predicted.DRAMBytes)),
		EnergyErr:  rel(sim.EnergyPJ, s.Predicted.EnergyPJ),
		Functional: rep.Functional, Verified: rep.Verified, Reasons: rep.Reasons,
		OpSpans: opSpans(s, prog, rep.Sim),
	}, nil
}
