package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
	"github.com/stillwater-sc/kpuopt/search"
)

// benchOptions holds the flags of `bench`.
type benchOptions struct {
	streams   *streams
	suite     string
	shapes    []string
	graphs    []string
	configs   []string
	objective string
	timeLimit time.Duration
	format    string
	output    string
	// now is the clock (tests fix it so that solve times are stable).
	now func() time.Time
}

// benchClock is the clock of `bench` (tests replace it).
var benchClock = time.Now

func newBenchCmd(s *streams) *cobra.Command {
	o := &benchOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Run the benchmark suite: optimal search vs the heuristics and the lower bound",
		Long: "bench runs a suite of GEMMs on each machine: the optimal search (status, time to result,\n" +
			"proven or its gap), the kpusim and greedy heuristics and the machine's lower bound, and\n" +
			"prints the ratios kpusim/optimal, greedy/optimal and optimal/lower-bound of the objective,\n" +
			"with a summary of the median and maximum solve time and the geometric means of the ratios.\n" +
			"All engines run in the same process, one after the other, so the ratios compare like with\n" +
			"like; absolute times depend on the machine and its load. --shapes replaces the suite's\n" +
			"GEMMs with your own (MxNxK, fp32). --suite graphs schedules whole graphs instead (the joint\n" +
			"schedule with residency and fusion vs the layerwise one and the lower bound; --time-limit\n" +
			"is then the seed search time per GEMM shape); --graphs replaces its graphs with your own.\n" +
			"docs/bench.md describes the suites and the columns.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFormat(cmd, o.format, "table", "json", "csv"); err != nil {
				return err
			}
			if o.timeLimit <= 0 {
				return badInput(fmt.Errorf("bench: --time-limit %v: want a positive duration", o.timeLimit))
			}
			obj, err := constraints.ParseObjective(o.objective)
			if err != nil {
				return badInput(fmt.Errorf("bench: --objective: %w", err))
			}
			if len(o.configs) == 0 {
				return badInput(fmt.Errorf("bench: --configs: want at least one machine"))
			}
			if o.suite == graphSuiteName || len(o.graphs) > 0 {
				if len(o.shapes) > 0 {
					return badInput(fmt.Errorf("bench: --shapes is for GEMM suites, not with --suite graphs or --graphs"))
				}
				return runBench(cmd.Context(), o, search.Suite{}, obj)
			}
			suite, err := benchSuite(o.suite, o.shapes)
			if err != nil {
				return badInput(fmt.Errorf("bench: %w", err))
			}
			return runBench(cmd.Context(), o, suite, obj)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.suite, "suite", search.GEMMSuite.Name, "benchmark suite: gemm (issue 4's six fp32 GEMMs) or graphs (whole graphs, joint vs layerwise)")
	f.StringSliceVar(&o.shapes, "shapes", nil, "run these GEMMs instead of the suite's (MxNxK, comma separated, fp32)")
	f.StringSliceVar(&o.graphs, "graphs", nil, "run the graphs suite on these graph files instead of the repository's testdata graphs")
	f.StringSliceVar(&o.configs, "configs", []string{"edge_ai", "datacenter"}, "machines (preset names or config files), comma separated")
	f.StringVar(&o.objective, "objective", "latency", "objective: latency, energy, edp or traffic")
	f.DurationVar(&o.timeLimit, "time-limit", 2*time.Second, "time limit of each search of each case")
	f.StringVar(&o.format, "format", "table", "output format: table, json or csv")
	f.StringVarP(&o.output, "output", "o", "", "write the result to this file instead of stdout")
	return cmd
}

// benchSuite is the named suite, or the GEMMs given with --shapes.
func benchSuite(name string, shapes []string) (search.Suite, error) {
	if len(shapes) == 0 {
		s, err := search.LookupSuite(name)
		if err != nil {
			return search.Suite{}, fmt.Errorf("--suite: %w (or %q: whole graphs)", err, graphSuiteName)
		}
		return s, nil
	}
	s := search.Suite{Name: "custom"}
	for _, text := range shapes {
		parts := strings.Split(strings.ToLower(strings.TrimSpace(text)), "x")
		if len(parts) != 3 {
			return search.Suite{}, fmt.Errorf("--shapes %q: want MxNxK, e.g. 1024x1024x1024", text)
		}
		var d [3]int64
		for i, p := range parts {
			v, err := strconv.ParseInt(p, 10, 64)
			if err != nil || v < 1 || v > 1<<20 {
				return search.Suite{}, fmt.Errorf("--shapes %q: dimension %q: want an integer from 1 to %d", text, p, 1<<20)
			}
			d[i] = v
		}
		s.Shapes = append(s.Shapes, search.SuiteShape{M: d[0], N: d[1], K: d[2], DType: model.Float32})
	}
	return s, nil
}

func runBench(ctx context.Context, o *benchOptions, suite search.Suite, obj constraints.Objective) error {
	s := o.streams
	var cfgs []*kpu.Config
	for _, c := range o.configs {
		cfg, err := resolveMachine(s, strings.TrimSpace(c))
		if err != nil {
			return err
		}
		cfgs = append(cfgs, cfg)
	}
	if len(suite.Shapes) == 0 {
		rep, runErr := runGraphBench(ctx, o, graphFiles(o), cfgs, obj)
		if rep == nil {
			return runErr
		}
		if runErr != nil && len(rep.Rows) == 0 {
			return failed(fmt.Errorf("bench: %w", runErr))
		}
		data, err := encodeGraphBench(o.format, rep)
		if err != nil {
			return failed(fmt.Errorf("bench: %s: %w", o.format, err))
		}
		return writeBenchOutput(o, data, len(rep.Rows), runErr)
	}
	now := o.now
	if now == nil {
		now = benchClock
	}
	opts := search.SuiteOptions{Objective: obj, TimeLimit: o.timeLimit, Now: now}
	if s.Terminal {
		opts.Progress = func(done, total int, label string) {
			fmt.Fprintf(s.Err, "\r\033[Kbench %s: [%d/%d] %s", suite.Name, done+1, total, label)
		}
	}
	rep, runErr := search.RunSuite(ctx, suite, cfgs, opts)
	if s.Terminal {
		fmt.Fprint(s.Err, "\r\033[K")
	}
	if runErr != nil && (rep == nil || len(rep.Rows) == 0) {
		return failed(fmt.Errorf("bench: %w", runErr))
	}
	var buf bytes.Buffer
	switch o.format {
	case "json":
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return failed(fmt.Errorf("bench: encode: %w", err))
		}
	case "csv":
		if err := writeBenchCSV(&buf, rep); err != nil {
			return failed(fmt.Errorf("bench: csv: %w", err))
		}
	default:
		if err := writeBenchTable(&buf, rep); err != nil {
			return failed(fmt.Errorf("bench: table: %w", err))
		}
	}
	return writeBenchOutput(o, buf.Bytes(), len(rep.Rows), runErr)
}

// writeBenchOutput writes a report to -o or stdout; runErr, when set, says
// why the run stopped after done cases (their rows were written).
func writeBenchOutput(o *benchOptions, data []byte, done int, runErr error) error {
	if o.output != "" {
		if err := writeFileAtomic(o.output, data); err != nil {
			return failed(fmt.Errorf("bench: %w", err))
		}
	} else if _, err := o.streams.Out.Write(data); err != nil {
		return failed(fmt.Errorf("bench: %w", err))
	}
	if runErr != nil {
		return failed(fmt.Errorf("bench: stopped after %d cases: %w", done, runErr))
	}
	return nil
}

// benchRatio prints a ratio, or "-" when it is missing.
func benchRatio(r float64) string {
	if r <= 0 {
		return "-"
	}
	return strconv.FormatFloat(r, 'f', 3, 64)
}

// benchNumber prints an objective value: whole numbers (cycles, bytes) in
// full, others with 6 significant digits.
func benchNumber(x float64) string {
	if x == math.Trunc(x) && math.Abs(x) < 1e15 {
		return strconv.FormatFloat(x, 'f', 0, 64)
	}
	return strconv.FormatFloat(x, 'g', 6, 64)
}

// benchValue prints a heuristic's value, or its status when it has none.
func benchValue(h search.HeuristicResult) string {
	if h.Status == search.StatusInfeasible {
		return h.Status
	}
	return benchNumber(h.Value)
}

func writeBenchTable(buf *bytes.Buffer, rep *search.SuiteReport) error {
	fmt.Fprintf(buf, "bench %s: objective %s, time limit %gs per search\n", rep.Suite, rep.Objective, rep.TimeLimit)
	w := tabwriter.NewWriter(buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "config\tgemm m x n x k\tstatus\tsolve s\tgap\toptimal\tkpusim\tgreedy\tlower bound\tkpusim/opt\tgreedy/opt\topt/bound\t")
	for _, r := range rep.Rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%.3f\t%.2f%%\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			cell(r.Config), r.Shape, r.Status, r.Seconds, 100*r.Gap, benchNumber(r.Optimal), benchValue(r.KPUSim), benchValue(r.Greedy),
			benchNumber(r.LowerBound), benchRatio(r.KPUSim.Ratio), benchRatio(r.Greedy.Ratio), benchRatio(r.BoundRatio))
	}
	sm := rep.Summary
	fmt.Fprintf(w, "summary\t%d cases\t%d proven\tmedian %.3f\t\t\t\t\t\tgeomean %s\tgeomean %s\tgeomean %s\t\n",
		sm.Cases, sm.Proven, sm.MedianSeconds, benchRatio(sm.GeoKPUSim), benchRatio(sm.GeoGreedy), benchRatio(sm.GeoBound))
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(buf, "solve time of the optimal search: median %.3f s, max %.3f s; ratios are of the objective, geomeans over the cases that have both sides\n", sm.MedianSeconds, sm.MaxSeconds)
	return nil
}

func writeBenchCSV(buf *bytes.Buffer, rep *search.SuiteReport) error {
	w := csv.NewWriter(buf)
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	rows := [][]string{{"config", "m", "n", "k", "dtype", "status", "solve_seconds", "gap", "optimal", "kpusim_status", "kpusim", "greedy_status", "greedy", "lower_bound", "kpusim_over_optimal", "greedy_over_optimal", "optimal_over_bound"}}
	for _, r := range rep.Rows {
		rows = append(rows, []string{r.Config, strconv.FormatInt(r.M, 10), strconv.FormatInt(r.N, 10), strconv.FormatInt(r.K, 10), string(r.DType),
			r.Status, f(r.Seconds), f(r.Gap), f(r.Optimal), r.KPUSim.Status, f(r.KPUSim.Value), r.Greedy.Status, f(r.Greedy.Value),
			f(r.LowerBound), f(r.KPUSim.Ratio), f(r.Greedy.Ratio), f(r.BoundRatio)})
	}
	sm := rep.Summary
	// two summary rows: medians and geometric means, then maxima
	rows = append(rows, []string{"summary median/geomean", "", "", "", "", fmt.Sprintf("%d/%d proven", sm.Proven, sm.Cases), f(sm.MedianSeconds), "", "", "", "", "", "", "",
		f(sm.GeoKPUSim), f(sm.GeoGreedy), f(sm.GeoBound)})
	rows = append(rows, []string{"summary max", "", "", "", "", "", f(sm.MaxSeconds), "", "", "", "", "", "", "", "", "", ""})
	if err := w.WriteAll(rows); err != nil {
		return err
	}
	return w.Error()
}
