package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/lowering"
	"github.com/stillwater-sc/kpuopt/model"
	"github.com/stillwater-sc/kpuopt/verify"
)

// solveVerifyFlags are the flags `solve` shares with lowering and
// verification: --verify, --program, --trace.
type solveVerifyFlags struct {
	verify          bool
	program         string
	trace           bool
	functionalLimit int64
	seed            uint64
	// failure is set when verification ran and failed (exit 1 after the
	// report is written).
	failure error
}

func (v *solveVerifyFlags) register(f *pflag.FlagSet) {
	f.BoolVar(&v.verify, "verify", false, "lower the schedule to a program and verify it on the simulator (numerics, checks, predicted vs simulated); exit 1 if it fails")
	f.StringVar(&v.program, "program", "", "write the lowered program (JSON) to this file")
	f.BoolVar(&v.trace, "trace", false, "list every command of the lowered program: engine, op, tile, source and destination, start and end cycle")
	f.Int64Var(&v.functionalLimit, "functional-limit", verify.DefaultFunctionalLimitMACs, "with --verify: largest graph (MACs) checked numerically (negative: never)")
	f.Uint64Var(&v.seed, "seed", 1, "with --verify: seed of the random inputs")
}

// finish turns a run that succeeded but failed verification into exit 1.
func (v *solveVerifyFlags) finish(err error) error {
	if err != nil {
		return err
	}
	return v.failure
}

// solveVerification is what --verify, --program and --trace add to the solve
// report (embedded, so its keys sit at the top level of the JSON).
type solveVerification struct {
	Simulated     *verify.Figures `json:"simulated,omitempty"`
	Verified      *bool           `json:"verified,omitempty"`
	VerifyReasons []string        `json:"verify_reasons,omitempty"`
	Functional    *bool           `json:"functional,omitempty"`
	ProgramFile   string          `json:"program_file,omitempty"`
	Trace         []commandTrace  `json:"command_trace,omitempty"`
}

// commandTrace is one command of the lowered program with its timing.
type commandTrace struct {
	ID     int    `json:"id"`
	Engine string `json:"engine"`
	Op     kpu.Op `json:"op"`
	Label  string `json:"label"`
	Src    string `json:"src"`
	Dst    string `json:"dst"`
	Start  int64  `json:"start"`
	End    int64  `json:"end"`
}

// apply lowers the solved schedule when any of the flags asks for it, and
// fills rep. It returns an error for a schedule that cannot be lowered or
// written; a failed verification is recorded in v.failure.
func (v *solveVerifyFlags) apply(ctx context.Context, path string, g *model.Graph, cfg *kpu.Config, rep *solveReport) error {
	if !v.verify && v.program == "" && !v.trace {
		return nil
	}
	if v.functionalLimit == 0 {
		return badInput(fmt.Errorf("solve: --functional-limit 0: want a positive number of MACs, or negative for never"))
	}
	sched := lowering.Schedule{}
	for _, op := range rep.Ops {
		sched[op.Name] = op.Mapping
	}
	prog, err := lowering.Lower(ctx, g, sched, cfg)
	if err != nil {
		if errors.Is(err, lowering.ErrUnsupported) {
			return badInput(fmt.Errorf("solve %s: --verify/--program/--trace: %w (kpuopt lower %s --verify lowers and verifies whole graphs)", path, err, path))
		}
		return failed(fmt.Errorf("solve %s: %w", path, err))
	}
	pred := verify.Figures{LatencyCycles: rep.Predicted.LatencyCycles, DRAMBytes: rep.Predicted.DRAMBytes, EnergyPJ: rep.Predicted.EnergyPJ}
	sv, err := v.check(ctx, path, prog, cfg, pred)
	rep.solveVerification = sv
	return err
}

// check writes (--program), verifies (--verify) and traces (--trace) a
// lowered program against the predicted figures of its schedule.
func (v *solveVerifyFlags) check(ctx context.Context, path string, prog *kpu.Program, cfg *kpu.Config, pred verify.Figures) (*solveVerification, error) {
	sv := &solveVerification{}
	if v.program != "" {
		b, err := kpu.MarshalProgram(prog)
		if err != nil {
			return sv, failed(err)
		}
		if err := writeFileAtomic(v.program, b); err != nil {
			return sv, failed(err)
		}
		sv.ProgramFile = v.program
	}
	var res *kpu.SimResult
	if v.verify {
		vr, err := verify.Program(ctx, prog, cfg, verify.Options{Seed: v.seed, FunctionalLimitMACs: v.functionalLimit, Predicted: &pred})
		if err != nil {
			return sv, failed(fmt.Errorf("solve %s: verify: %w", path, err))
		}
		sv.Simulated = vr.Simulated
		ok, fn := vr.Verified, vr.Functional
		sv.Verified, sv.Functional = &ok, &fn
		sv.VerifyReasons = vr.Reasons
		res = vr.Sim
		if !ok {
			v.failure = verdict(vr)
		}
	}
	if v.trace {
		if res == nil {
			var err error
			if res, err = kpu.Simulate(ctx, prog, cfg, kpu.SimOptions{}); err != nil {
				return sv, failed(fmt.Errorf("solve %s: simulate the lowered program: %w", path, err))
			}
		}
		sv.Trace = traceCommands(prog, res)
	}
	return sv, nil
}

// where names an access: level[unit]@addr.
func where(a *kpu.Access) string {
	if a == nil {
		return "-"
	}
	return fmt.Sprintf("%s[%d]@%#x", a.Level, a.Unit, a.Addr)
}

// traceCommands lists the commands by start cycle (ties in program order).
func traceCommands(prog *kpu.Program, res *kpu.SimResult) []commandTrace {
	rows := make([]commandTrace, len(prog.Commands))
	for i := range prog.Commands {
		c := &prog.Commands[i]
		src := where(c.Src)
		if c.Src2 != nil {
			src += "," + where(c.Src2)
		}
		rows[i] = commandTrace{ID: c.ID, Engine: c.Engine.String(), Op: c.Op, Label: c.Label, Src: src, Dst: where(c.Dst), Start: res.Start[i], End: res.End[i]}
	}
	sort.SliceStable(rows, func(a, b int) bool { return rows[a].Start < rows[b].Start })
	return rows
}

// printSolveVerification adds the rows of --verify, --program and --trace
// to the solve table.
func printSolveVerification(out io.Writer, sv *solveVerification) error {
	if sv == nil {
		return nil
	}
	if sv.ProgramFile != "" {
		fmt.Fprintf(out, "program written to %s\n", cell(sv.ProgramFile))
	}
	if sv.Verified != nil {
		w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		if s := sv.Simulated; s != nil {
			fmt.Fprintf(w, "simulated\tlatency %d cycles\tenergy %.4g pJ\tdram %d bytes\n", s.LatencyCycles, s.EnergyPJ, s.DRAMBytes)
		}
		numerics := "numerics checked"
		if !*sv.Functional {
			numerics = "timing and checks only"
		}
		fmt.Fprintf(w, "verified\t%v\t%s\t\n", *sv.Verified, numerics)
		for _, r := range sv.VerifyReasons {
			fmt.Fprintf(w, "reason\t%s\n", cell(r))
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	if len(sv.Trace) > 0 {
		fmt.Fprintln(out)
		w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "cycle\tend\tengine\top\ttile\tsrc\tdst\tid")
		for _, r := range sv.Trace {
			fmt.Fprintf(w, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%d\n", r.Start, r.End, r.Engine, cell(string(r.Op)), cell(r.Label), cell(r.Src), cell(r.Dst), r.ID)
		}
		return w.Flush()
	}
	return nil
}
