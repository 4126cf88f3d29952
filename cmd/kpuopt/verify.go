package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/stillwater-sc/kpuopt/verify"
)

// verifyOptions holds the flags of `verify`.
type verifyOptions struct {
	streams         *streams
	config          string
	functionalLimit int64
	seed            uint64
	format          string
}

func newVerifyCmd(s *streams) *cobra.Command {
	o := &verifyOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "verify PROGRAM",
		Short: "Prove a program on the simulator: checks, numerics against the reference, timing",
		Long: "verify runs every simulator check on a program (docs/program-format.md) and, when the\n" +
			"program carries its graph and is within the functional limit, executes it on seeded\n" +
			"random inputs and compares every graph output with the reference evaluation (exact for\n" +
			"integer outputs, a relative tolerance for floats; the max error is reported). Above the\n" +
			"limit only the checks and the timing run. Exit status 1 when verification fails, with\n" +
			"the reasons. See docs/verification.md.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFormat(cmd, o.format, "table", "json"); err != nil {
				return err
			}
			return runVerify(cmd.Context(), o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "", "machine: preset name or config file (default: the program's own)")
	f.Int64Var(&o.functionalLimit, "functional-limit", verify.DefaultFunctionalLimitMACs, "largest program (MACs) checked numerically; larger ones get timing and checks only (negative: never)")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the random inputs")
	f.StringVar(&o.format, "format", "table", "output format: table or json")
	return cmd
}

func runVerify(ctx context.Context, o *verifyOptions, path string) error {
	s := o.streams
	if o.functionalLimit == 0 {
		return badInput(fmt.Errorf("verify: --functional-limit 0: want a positive number of MACs, or negative for never"))
	}
	prog, cfg, err := loadProgramMachine(s, path, o.config)
	if err != nil {
		return err
	}
	if prog.Graph != nil {
		if err := prog.Graph.Validate(); err != nil {
			return badInput(fmt.Errorf("%s: embedded graph: %w", path, err))
		}
	}
	rep, err := verify.Program(ctx, prog, cfg, verify.Options{Seed: o.seed, FunctionalLimitMACs: o.functionalLimit})
	if err != nil {
		return failed(err)
	}
	if o.format == "json" {
		if err := writeIndentedJSON(s, rep); err != nil {
			return err
		}
	} else if err := printVerifyTable(s, rep); err != nil {
		return err
	}
	return verdict(rep)
}

// verdict turns a failed report into exit status 1 with its reasons.
func verdict(rep *verify.Report) error {
	if rep.Verified {
		return nil
	}
	msg := fmt.Sprintf("verification of %q failed", rep.Program)
	for i, r := range rep.Reasons {
		if i == 5 {
			msg += fmt.Sprintf("; and %d more", len(rep.Reasons)-5)
			break
		}
		msg += "; " + r
	}
	return failed(fmt.Errorf("%s", msg))
}

func printVerifyTable(s *streams, rep *verify.Report) error {
	w := tabwriter.NewWriter(s.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "program\t%s\n", cell(rep.Program))
	fmt.Fprintf(w, "config\t%s\n", cell(rep.Config))
	fmt.Fprintf(w, "commands\t%d\n", rep.Commands)
	fmt.Fprintf(w, "MACs\t%d\n", rep.MACs)
	checks := "passed"
	if !rep.Checks {
		checks = fmt.Sprintf("FAILED (%d violations)", len(rep.Violations))
	}
	fmt.Fprintf(w, "checks\t%s\n", checks)
	if rep.Functional {
		fmt.Fprintf(w, "numerics\tchecked (seed %d)\n", rep.Seed)
	} else {
		fmt.Fprintf(w, "numerics\tnot checked: %s\n", cell(rep.FunctionalNote))
	}
	if sim := rep.Simulated; sim != nil {
		fmt.Fprintf(w, "simulated latency\t%d cycles\n", sim.LatencyCycles)
		fmt.Fprintf(w, "simulated dram bytes\t%d\n", sim.DRAMBytes)
		fmt.Fprintf(w, "simulated energy\t%.1f pJ\n", sim.EnergyPJ)
	}
	if p, d := rep.Predicted, rep.Deviation; p != nil && d != nil {
		fmt.Fprintf(w, "predicted latency\t%d cycles (%.2f%%)\n", p.LatencyCycles, 100*d.Latency)
		fmt.Fprintf(w, "predicted dram bytes\t%d (%.2f%%)\n", p.DRAMBytes, 100*d.DRAM)
		fmt.Fprintf(w, "predicted energy\t%.1f pJ (%.2f%%)\n", p.EnergyPJ, 100*d.Energy)
	}
	if len(rep.Outputs) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "output\tdtype\telements\tcheck\tmax abs error\tmax rel error\tmismatches\tresult\n")
		for _, oc := range rep.Outputs {
			check := fmt.Sprintf("rel <= %g", oc.Tolerance)
			if oc.Exact {
				check = "exact"
			}
			res := "ok"
			if !oc.OK {
				res = "FAIL"
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%.3g\t%.3g\t%d\t%s\n", cell(oc.Tensor), oc.DType, oc.Elements, check, oc.MaxAbsErr, oc.MaxRelErr, oc.Mismatches, res)
		}
	}
	fmt.Fprintln(w)
	if rep.Verified {
		fmt.Fprintf(w, "verified\ttrue\n")
	} else {
		fmt.Fprintf(w, "verified\tfalse\n")
		for _, r := range rep.Reasons {
			fmt.Fprintf(w, "reason\t%s\n", cell(r))
		}
	}
	return w.Flush()
}
