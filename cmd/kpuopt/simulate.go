package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/stillwater-sc/kpuopt/kpu"
)

// simulateOptions holds the flags of `simulate`.
type simulateOptions struct {
	streams    *streams
	config     string
	functional bool
	format     string
	seed       uint64
	trace      bool
}

func newSimulateCmd(s *streams) *cobra.Command {
	o := &simulateOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "simulate PROGRAM",
		Short: "Check and run a KPU program on the simulator (timing, optionally functional)",
		Long: "simulate reads a program (docs/program-format.md), checks it (engines, addresses,\n" +
			"capacities, dependencies, races, reads of unwritten bytes) and runs it: every engine\n" +
			"executes its queue in order, a command starts when its engine is free and its deps are\n" +
			"done. It prints latency, DRAM traffic, energy and per-engine figures. With --functional\n" +
			"it also moves real bytes, filling input tensors with seeded random values, and reports a\n" +
			"summary of every output tensor. Exit status 1 when a check fails.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFormat(cmd, o.format, "table", "json"); err != nil {
				return err
			}
			return runSimulate(cmd.Context(), o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "", "machine: preset name or config file (default: the program's own)")
	f.BoolVar(&o.functional, "functional", false, "execute on real bytes with seeded random inputs")
	f.StringVar(&o.format, "format", "table", "output format: table or json")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the random inputs (with --functional)")
	f.BoolVar(&o.trace, "trace", false, "also list every command's start and end cycle, by start")
	return cmd
}

// tensorSummary describes one output tensor after a functional run.
type tensorSummary struct {
	Name     string  `json:"name"`
	DType    string  `json:"dtype"`
	Elements int     `json:"elements"`
	Sum      float64 `json:"sum"`
	MaxAbs   float64 `json:"max_abs"`
}

// traceRow is one command's timing in `simulate --trace`.
type traceRow struct {
	ID     int        `json:"id"`
	Label  string     `json:"label,omitempty"`
	Engine kpu.Engine `json:"engine"`
	Op     kpu.Op     `json:"op"`
	Start  int64      `json:"start"`
	End    int64      `json:"end"`
}

// simulateReport is the JSON output of `simulate`.
type simulateReport struct {
	*kpu.SimResult
	Outputs []tensorSummary `json:"outputs,omitempty"`
	Trace   []traceRow      `json:"trace,omitempty"`
}

// traceOf lists the commands by start cycle (ties by program position).
func traceOf(prog *kpu.Program, res *kpu.SimResult) []traceRow {
	rows := make([]traceRow, len(prog.Commands))
	for i := range prog.Commands {
		c := &prog.Commands[i]
		rows[i] = traceRow{ID: c.ID, Label: c.Label, Engine: c.Engine, Op: c.Op, Start: res.Start[i], End: res.End[i]}
	}
	sort.SliceStable(rows, func(a, b int) bool { return rows[a].Start < rows[b].Start })
	return rows
}

func runSimulate(ctx context.Context, o *simulateOptions, path string) error {
	s := o.streams
	prog, cfg, err := loadProgramMachine(s, path, o.config)
	if err != nil {
		return err
	}
	opts := kpu.SimOptions{Functional: o.functional}
	if o.functional {
		opts.Inputs = randomInputs(prog, o.seed)
	}
	res, err := kpu.Simulate(ctx, prog, cfg, opts)
	if err != nil {
		var ce *kpu.CheckError
		if errors.As(err, &ce) {
			return failed(err)
		}
		if ctx.Err() != nil {
			return failed(err)
		}
		return badInput(err)
	}
	rep := simulateReport{SimResult: res}
	if o.functional {
		rep.Outputs = summarize(prog, res)
	}
	if o.trace {
		rep.Trace = traceOf(prog, res)
	}
	if o.format == "json" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return failed(fmt.Errorf("encode result: %w", err))
		}
		_, err = fmt.Fprintf(s.Out, "%s\n", b)
		return err
	}
	return printSimTable(s, &rep)
}

// randomInputs fills every input tensor with seeded values: uniform in
// [-1, 1) for float types, integers in [-8, 8) for integer types.
func randomInputs(prog *kpu.Program, seed uint64) map[string][]byte {
	names := make([]string, 0, len(prog.Tensors))
	for name, t := range prog.Tensors {
		if t.Input {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	rng := rand.New(rand.NewPCG(seed, 0x6b7075))
	inputs := map[string][]byte{}
	for _, name := range names {
		t := prog.Tensors[name]
		n := int64(1)
		for _, d := range t.Shape {
			n *= d
		}
		if n < 0 || n > 1<<28 {
			continue // the simulator reports the bad placement
		}
		vals := make([]float64, n)
		for i := range vals {
			if t.DType.IsInteger() {
				vals[i] = float64(rng.IntN(16) - 8)
			} else {
				vals[i] = rng.Float64()*2 - 1
			}
		}
		inputs[name] = kpu.EncodeElements(t.DType, vals)
	}
	return inputs
}

func summarize(prog *kpu.Program, res *kpu.SimResult) []tensorSummary {
	names := make([]string, 0, len(res.Tensors))
	for name := range res.Tensors {
		if !prog.Tensors[name].Input {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var out []tensorSummary
	for _, name := range names {
		t := prog.Tensors[name]
		vals := kpu.DecodeElements(t.DType, res.Tensors[name])
		ts := tensorSummary{Name: name, DType: string(t.DType), Elements: len(vals)}
		for _, v := range vals {
			ts.Sum += v
			ts.MaxAbs = math.Max(ts.MaxAbs, math.Abs(v))
		}
		out = append(out, ts)
	}
	return out
}

func printSimTable(s *streams, rep *simulateReport) error {
	r := rep.SimResult
	w := tabwriter.NewWriter(s.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "program\t%s\n", cell(r.Program))
	fmt.Fprintf(w, "config\t%s (%.2f GHz)\n", cell(r.Config), r.ClockGHz)
	fmt.Fprintf(w, "commands\t%d\n", r.Commands)
	fmt.Fprintf(w, "latency\t%d cycles (%.3f us)\n", r.LatencyCycles, r.LatencyUS)
	fmt.Fprintf(w, "dram bytes\t%d\n", r.DRAMBytes)
	fmt.Fprintf(w, "MACs\t%d\n", r.MACs)
	fmt.Fprintf(w, "energy\t%.1f pJ (compute %.1f pJ)\n", r.EnergyPJ, r.ComputeEnergy)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "engine\tcommands\tbusy cycles\tutilization\n")
	for _, e := range r.Engines {
		fmt.Fprintf(w, "%s\t%d\t%d\t%.1f%%\n", e.Engine, e.Commands, e.BusyCycles, 100*e.Utilization)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "level\tread bytes\twrite bytes\tenergy pJ\n")
	for _, l := range r.Levels {
		fmt.Fprintf(w, "%s\t%d\t%d\t%.1f\n", l.Level, l.ReadBytes, l.WriteBytes, l.EnergyPJ)
	}
	if len(rep.Outputs) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "output\tdtype\telements\tsum\tmax |x|\n")
		for _, t := range rep.Outputs {
			fmt.Fprintf(w, "%s\t%s\t%d\t%.6g\t%.6g\n", cell(t.Name), t.DType, t.Elements, t.Sum, t.MaxAbs)
		}
	}
	if len(rep.Trace) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "id\tengine\top\tlabel\tstart\tend\n")
		for _, t := range rep.Trace {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%d\n", t.ID, t.Engine, cell(string(t.Op)), cell(t.Label), t.Start, t.End)
		}
	}
	return w.Flush()
}
