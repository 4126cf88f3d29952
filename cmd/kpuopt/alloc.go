package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/stillwater-sc/kpuopt/constraints/alloc"
	"github.com/stillwater-sc/kpuopt/search/placer"
)

// allocOptions holds the flags of `kpuopt alloc`.
type allocOptions struct {
	streams      *streams
	input        string
	capacity     int64
	hasCapacity  bool
	minimizePeak bool
	timeLimit    time.Duration
	output       string
}

func newAllocCmd(s *streams) *cobra.Command {
	o := &allocOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "alloc FILE.csv",
		Short: "Place buffers with lifetimes into memory: prove they fit, or minimize the peak",
		Long: "alloc solves a static memory allocation problem in the CSV format of the MiniMalloc\n" +
			"benchmarks: a header naming the columns id,lower,upper,size (lifetimes are half-open\n" +
			"[lower, upper)) and optionally alignment. It writes the same rows with an offset column.\n" +
			"With --capacity it proves that the buffers fit (exit 0) or that they cannot (exit 1,\n" +
			"\"infeasible\"); without it, or with --minimize-peak, it finds the smallest peak. A search\n" +
			"cut short by --time-limit exits 1 (\"time limit\") unless it has a placement to write.\n" +
			"FILE may be - for standard input. See docs/alloc.md.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.input = args[0]
			o.hasCapacity = cmd.Flags().Changed("capacity")
			if o.hasCapacity && o.capacity <= 0 {
				return badInput(fmt.Errorf("alloc: --capacity %d: must be a positive number of bytes", o.capacity))
			}
			if o.timeLimit < 0 {
				return badInput(fmt.Errorf("alloc: --time-limit %v: must not be negative", o.timeLimit))
			}
			return runAlloc(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.Int64Var(&o.capacity, "capacity", 0, "memory capacity in bytes (default: none, minimize the peak)")
	f.BoolVar(&o.minimizePeak, "minimize-peak", false, "find the smallest peak (within --capacity, if given)")
	f.DurationVar(&o.timeLimit, "time-limit", 30*time.Second, "stop the search after this long (0: no limit)")
	f.StringVarP(&o.output, "output", "o", "", "write the placed CSV here (default: standard output)")
	return cmd
}

func runAlloc(ctx context.Context, o *allocOptions) error {
	file, err := readAllocInput(o)
	if err != nil {
		return err
	}
	p := &file.Problem
	opts := placer.Options{MinimizePeak: o.minimizePeak || !o.hasCapacity}
	if o.hasCapacity {
		opts.Capacity = o.capacity
	}
	if o.timeLimit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeLimit)
		defer cancel()
	}
	sol, err := placer.Place(ctx, p, opts)
	if err != nil {
		return failed(fmt.Errorf("alloc %s: %w", o.input, err))
	}
	fmt.Fprintln(o.streams.Err, allocSummary(o, p, sol))
	switch sol.Status {
	case placer.Infeasible:
		return failed(fmt.Errorf("alloc %s: infeasible: the %d buffers cannot be placed in %d bytes (proven by %s)",
			o.input, len(p.Buffers), o.capacity, sol.Engine))
	case placer.Unknown:
		return failed(fmt.Errorf("alloc %s: time limit %v reached before the search found a placement in %d bytes or proved there is none",
			o.input, o.timeLimit, o.capacity))
	}
	var buf bytes.Buffer
	if err := alloc.WriteCSV(&buf, p, sol.Offsets); err != nil {
		return failed(fmt.Errorf("alloc %s: %w", o.input, err))
	}
	if o.output == "" {
		if _, err := o.streams.Out.Write(buf.Bytes()); err != nil {
			return failed(fmt.Errorf("alloc: write output: %w", err))
		}
		return nil
	}
	if err := writeFileAtomic(o.output, buf.Bytes()); err != nil {
		return failed(fmt.Errorf("alloc: %w", err))
	}
	return nil
}

// readAllocInput reads and validates the input CSV (bad input: exit 2).
func readAllocInput(o *allocOptions) (*alloc.File, error) {
	var r io.Reader
	if o.input == "-" {
		r = o.streams.In
	} else {
		f, err := os.Open(o.input)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, badInput(fmt.Errorf("alloc: %w", err))
			}
			return nil, badInput(fmt.Errorf("alloc: read input: %w", err))
		}
		defer f.Close()
		r = f
	}
	file, err := alloc.ReadCSV(r, o.input)
	if err != nil {
		return nil, badInput(err)
	}
	return file, nil
}

// allocSummary is the one-line report printed on stderr.
func allocSummary(o *allocOptions, p *alloc.Problem, sol placer.Solution) string {
	capText := "none"
	if sol.Capacity > 0 {
		capText = fmt.Sprint(sol.Capacity)
	}
	proof := "not proven"
	switch {
	case sol.Status == placer.Infeasible:
		proof = "proven infeasible"
	case sol.Status == placer.Solved && (o.minimizePeak || !o.hasCapacity):
		proof = "proven optimal"
	case sol.Status == placer.Solved:
		proof = "proven to fit"
	case sol.Status == placer.Feasible:
		proof = fmt.Sprintf("not proven optimal: lower bound %d (time limit)", sol.LowerBound)
	case sol.Status == placer.Unknown:
		proof = "undecided (time limit)"
	}
	peak := "-"
	if sol.Offsets != nil {
		peak = fmt.Sprint(sol.Peak)
	}
	return fmt.Sprintf("kpuopt alloc: %d buffers, peak %s, capacity %s, %s, engine %s, %d nodes, %v",
		len(p.Buffers), peak, capText, proof, sol.Engine, sol.Nodes, sol.Elapsed.Round(time.Millisecond))
}
