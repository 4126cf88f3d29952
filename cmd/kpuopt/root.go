package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes of kpuopt.
const (
	exitOK       = 0
	exitFailed   = 1 // the job ran and failed (infeasible, verification failed, check failed)
	exitBadInput = 2 // bad usage or bad input
)

// streams are the I/O a command uses; tests inject buffers.
type streams struct {
	In       io.Reader
	Out      io.Writer
	Err      io.Writer
	Terminal bool // Err is an interactive terminal (progress lines allowed)
}

func defaultStreams() *streams {
	term := false
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		term = true
	}
	return &streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Terminal: term}
}

// exitError carries the exit code a command's failure maps to.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// badInput marks err as bad usage or bad input (exit 2).
func badInput(err error) error { return &exitError{code: exitBadInput, err: err} }

// failed marks err as a failed job (exit 1).
func failed(err error) error { return &exitError{code: exitFailed, err: err} }

// commandConstructors builds every subcommand; each lives in its own file.
var commandConstructors = []func(*streams) *cobra.Command{
	newVersionCmd,
	newConfigsCmd,
	newGraphCmd,
	newSimulateCmd,
	newVerifyCmd,
	newCompareCmd,
	newSolveCmd,
	newAllocCmd,
	newSolveGraphCmd,
	newLowerCmd,
	newImportCmd,
	newBenchCmd,
	newExportCmd,
}

func newRootCmd(s *streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "kpuopt",
		Short: "Optimal data-movement schedules for the Stillwater KPU",
		Long: "kpuopt compiles computational graphs into system-level data-movement schedules for the\n" +
			"Stillwater KPU (DRAM -> L3 -> L2 -> L1 -> fabric), chosen by constrained optimization,\n" +
			"lowered to DMA/BlockMover/Streamer/compute commands and checked on a KPU simulator.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return badInput(fmt.Errorf("%s: %w", c.CommandPath(), err))
	})
	// output files are checked before any (possibly long) work starts;
	// one that cannot be written fails the job (exit 1, as docs/onnx.md says)
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		for _, name := range []string{"output", "program"} {
			f := c.Flags().Lookup(name)
			if f == nil || f.Value.Type() != "string" || f.Value.String() == "" {
				continue
			}
			flag := "--" + name
			if f.Shorthand != "" {
				flag = "-" + f.Shorthand
			}
			if err := checkOutputPath(flag, f.Value.String()); err != nil {
				return failed(fmt.Errorf("%s: %w", c.CommandPath(), err))
			}
		}
		return nil
	}
	for _, mk := range commandConstructors {
		root.AddCommand(mk(s))
	}
	return root
}

// run executes kpuopt with args and returns the process exit code. Errors are
// printed on one line to s.Err.
func run(ctx context.Context, args []string, s *streams) int {
	root := newRootCmd(s)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if !errors.As(err, &ee) && cmd != nil && cmd != root && !strings.HasPrefix(err.Error(), "unknown command") {
		// cobra's own argument errors do not say which command or what it takes
		err = fmt.Errorf("%s: %w (usage: %s)", cmd.CommandPath(), err, cmd.UseLine())
	}
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	fmt.Fprintf(s.Err, "kpuopt: %s\n", msg)
	if errors.As(err, &ee) {
		return ee.code
	}
	// Errors cobra raises itself (unknown command, wrong argument count) are usage errors.
	return exitBadInput
}
