package main

import (
	"context"
	"errors"
	"fmt"
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

// lowerOptions holds the flags of `lower`.
type lowerOptions struct {
	streams         *streams
	config          string
	objective       string
	search          string
	timeLimit       time.Duration
	opTimeLimit     time.Duration
	output          string
	verify          bool
	functionalLimit int64
	seed            uint64
	relTol          float64
	format          string
	opTimeSet       bool // --op-time-limit was given
}

func newLowerCmd(s *streams) *cobra.Command {
	o := &lowerOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "lower GRAPH",
		Short: "Schedule a whole graph layerwise, lower it to one program and simulate it",
		Long: "lower maps every GEMM-like operator of GRAPH alone (--search engine), runs every other\n" +
			"operator on the vector engines, keeps every tensor in DRAM, and lowers the whole graph to\n" +
			"ONE program (docs/graph-schedules.md). It prints each operator's predicted cost and the\n" +
			"simulated total (which equals the predicted sum), writes the program with -o, and with\n" +
			"--verify also runs it on random inputs against the reference evaluation. --time-limit\n" +
			"bounds the whole command (searches, lowering, simulation and verification); by default\n" +
			"the per-operator searches share half of it. Exit status 1 when the graph does not fit\n" +
			"the machine, verification fails or the time limit expires (then no file is written).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFormat(cmd, o.format, "table", "json"); err != nil {
				return err
			}
			if _, err := constraints.ParseObjective(o.objective); err != nil {
				return badInput(fmt.Errorf("%s: --objective: %w", cmd.CommandPath(), err))
			}
			if _, err := search.Lookup(o.search); err != nil {
				return badInput(fmt.Errorf("%s: --search: %w", cmd.CommandPath(), err))
			}
			if o.timeLimit <= 0 {
				return badInput(fmt.Errorf("%s: --time-limit %v: want a positive duration", cmd.CommandPath(), o.timeLimit))
			}
			if o.opTimeLimit < 0 || o.functionalLimit == 0 || o.relTol < 0 {
				return badInput(fmt.Errorf("%s: --op-time-limit and --rel-tol must not be negative, --functional-limit not 0", cmd.CommandPath()))
			}
			o.opTimeSet = cmd.Flags().Changed("op-time-limit")
			return runLower(cmd.Context(), o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "edge_ai", "machine: preset name or config file")
	f.StringVar(&o.objective, "objective", "latency", "per-operator objective: latency, energy, edp or traffic")
	f.StringVar(&o.search, "search", "optimal", "per-operator search engine: optimal, exhaustive, kpusim, greedy")
	f.DurationVar(&o.timeLimit, "time-limit", 30*time.Second, "time limit of the whole command; when it expires lower exits 1 and writes nothing")
	f.DurationVar(&o.opTimeLimit, "op-time-limit", 2*time.Second, "time limit of each per-operator search (0: only --time-limit); unset: the searches share half of --time-limit, at most 2s each")
	f.StringVarP(&o.output, "output", "o", "", "write the program JSON to this file")
	f.BoolVar(&o.verify, "verify", false, "run the program on random inputs and compare every output with the reference")
	f.Int64Var(&o.functionalLimit, "functional-limit", verify.DefaultFunctionalLimitMACs, "with --verify: largest graph (MACs) checked numerically (negative: never)")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the random inputs")
	f.Float64Var(&o.relTol, "rel-tol", 0, "with --verify: relative tolerance of float outputs (0: the per-dtype default of verify; deep graphs accumulate float32 rounding)")
	f.StringVar(&o.format, "format", "table", "output format: table or json")
	return cmd
}

// lowerReport is the JSON output of `lower`.
type lowerReport struct {
	Schedule  *model.GraphSchedule `json:"schedule"`
	Commands  int                  `json:"commands"`
	Simulated verify.Figures       `json:"simulated"`
	Verify    *verify.Report       `json:"verify,omitempty"`
}

func runLower(ctx context.Context, o *lowerOptions, path string) error {
	s := o.streams
	ctx, cancel := context.WithTimeout(ctx, o.timeLimit)
	defer cancel()
	g, err := loadGraph(path)
	if err != nil {
		return err
	}
	cfg, err := resolveMachine(s, o.config)
	if err != nil {
		return err
	}
	if err := checkDRAMFit("lower", path, g, cfg, true); err != nil {
		return err
	}
	gs, err := search.Layerwise(ctx, g, cfg, search.LayerwiseOptions{Engine: o.search, Objective: constraints.Objective(o.objective), OpTimeLimit: o.opLimit(g)})
	if ctx.Err() != nil {
		// a search cut short by ctx still returns a schedule, but nothing
		// is left of the time limit to lower and simulate it
		return o.stopped(ctx, path, "searching the operators' mappings")
	}
	if err != nil {
		return failed(err)
	}
	prog, err := lowering.LowerGraphSchedule(ctx, g, gs, cfg)
	if ctx.Err() != nil {
		return o.stopped(ctx, path, "lowering the schedule")
	}
	if err != nil {
		return failed(err)
	}
	rep := &lowerReport{Schedule: gs, Commands: len(prog.Commands)}
	if o.verify {
		pred := &verify.Figures{LatencyCycles: gs.Predicted.LatencyCycles, DRAMBytes: gs.Predicted.DRAMBytes, EnergyPJ: gs.Predicted.EnergyPJ}
		rep.Verify, err = verify.Program(ctx, prog, cfg, verify.Options{Seed: o.seed, FunctionalLimitMACs: o.functionalLimit, Predicted: pred, RelTol: o.relTol})
		if ctx.Err() != nil {
			return o.stopped(ctx, path, "verifying the program")
		}
		if err != nil {
			return failed(err)
		}
		if rep.Verify.Simulated != nil {
			rep.Simulated = *rep.Verify.Simulated
		}
	} else {
		res, err := kpu.Simulate(ctx, prog, cfg, kpu.SimOptions{})
		if ctx.Err() != nil {
			return o.stopped(ctx, path, "simulating the program")
		}
		if err != nil {
			return failed(fmt.Errorf("simulate %q: %w", prog.Name, err))
		}
		rep.Simulated = verify.Figures{LatencyCycles: res.LatencyCycles, DRAMBytes: res.DRAMBytes, EnergyPJ: res.EnergyPJ}
	}
	// The program is written once it has been simulated (and verified),
	// so a run stopped by the time limit leaves no file behind.
	if o.output != "" {
		data, err := kpu.MarshalProgram(prog)
		if err != nil {
			return failed(err)
		}
		if ctx.Err() != nil {
			return o.stopped(ctx, path, "encoding the program")
		}
		if err := writeFileAtomic(o.output, data); err != nil {
			return failed(err)
		}
	}
	if o.format == "json" {
		if err := writeIndentedJSON(s, rep); err != nil {
			return err
		}
	} else if err := printLowerTable(s, rep); err != nil {
		return err
	}
	if rep.Verify != nil {
		return verdict(rep.Verify)
	}
	return nil
}

// opLimit is the time limit of each per-operator search: --op-time-limit
// when given (0: none but --time-limit), else the GEMM-like operators share
// half of --time-limit (as solve's layerwise search does), at most the
// --op-time-limit default each.
func (o *lowerOptions) opLimit(g *model.Graph) time.Duration {
	if o.opTimeSet {
		return o.opTimeLimit
	}
	return min(o.opTimeLimit, opTimeLimit(g, o.timeLimit))
}

// stopped is lower's failure once ctx has ended: the time limit (naming
// it) or an interrupt, and the stage that was cut short. The output file
// is written only after every stage, so none has been written then.
func (o *lowerOptions) stopped(ctx context.Context, path, stage string) error {
	err := ctx.Err()
	note := ""
	if o.output != "" {
		note = fmt.Sprintf("; %s not written", o.output)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return failed(fmt.Errorf("lower %s: stopped by the time limit of %s (--time-limit) while %s%s: %w", path, o.timeLimit, stage, note, err))
	}
	return failed(fmt.Errorf("lower %s: interrupted while %s%s: %w", path, stage, note, err))
}

func printLowerTable(s *streams, rep *lowerReport) error {
	gs := rep.Schedule
	w := tabwriter.NewWriter(s.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "op\ttype\tlatency\tdram_bytes\tenergy_pj")
	for _, st := range gs.Ops {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%.4g\n", cell(st.Name), st.Type, st.Predicted.LatencyCycles, st.Predicted.DRAMBytes, st.Predicted.EnergyPJ)
	}
	fmt.Fprintf(w, "predicted\t%s\t%d\t%d\t%.4g\n", gs.Status, gs.Predicted.LatencyCycles, gs.Predicted.DRAMBytes, gs.Predicted.EnergyPJ)
	fmt.Fprintf(w, "lower bound\t\t%d\t%d\t%.4g\n", gs.Bound.LatencyCycles, gs.Bound.DRAMBytes, gs.Bound.EnergyPJ)
	fmt.Fprintf(w, "simulated\t%d cmds\t%d\t%d\t%.4g\n", rep.Commands, rep.Simulated.LatencyCycles, rep.Simulated.DRAMBytes, rep.Simulated.EnergyPJ)
	if v := rep.Verify; v != nil {
		status := "verified"
		if !v.Verified {
			status = "FAILED"
		}
		note := ""
		if !v.Functional {
			note = " (" + v.FunctionalNote + ")"
		}
		fmt.Fprintf(w, "verify\t%s%s\n", status, note)
	}
	return w.Flush()
}
