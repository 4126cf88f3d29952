package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
	"github.com/stillwater-sc/kpuopt/search"
)

// solveOptions holds the flags of `solve`.
type solveOptions struct {
	streams   *streams
	config    string
	objective string
	search    string
	timeLimit time.Duration
	mapping   string
	output    string
	format    string
	sv        solveVerifyFlags // --verify, --program, --trace (solve_verify.go)
	// now is the clock (tests fix it so solve_seconds is stable).
	now func() time.Time
}

func newSolveCmd(s *streams) *cobra.Command {
	o := &solveOptions{streams: s, now: solveClock}
	cmd := &cobra.Command{
		Use:   "solve GRAPH",
		Short: "Find the best mapping of every GEMM-like operator of a graph (or evaluate a given one)",
		Long: "solve reads a graph, takes the GEMM view of each MATMUL, LINEAR and CONV2D operator and\n" +
			"searches its mapping space (docs/mapping.md) for the mapping that minimizes the objective on\n" +
			"the machine: latency (cycles), energy (pJ), edp (cycles x pJ) or traffic (DRAM bytes). The\n" +
			"figures are those of the command stream the mapping lowers to, timed exactly. Each result\n" +
			"carries a lower bound and a gap; status \"optimal\" means proven best in the space,\n" +
			"\"feasible\" that the time limit (or Ctrl-C) stopped the proof. --mapping evaluates the\n" +
			"mappings of a file (one mapping for every operator, or {\"ops\":[{\"name\",\"mapping\"}]})\n" +
			"instead of searching. A graph with other operators (convolutions, biases, vector ops) is\n" +
			"scheduled whole: --search optimal chooses the mappings, the tensors that stay resident in L3\n" +
			"and the fusions jointly (as solve-graph does); layerwise, kpusim, greedy, exhaustive or sat\n" +
			"schedule each operator alone with that engine, every tensor through DRAM. Exit status 1 when\n" +
			"an operator cannot fit the machine at all.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFormat(cmd, o.format, "table", "json"); err != nil {
				return err
			}
			if _, err := constraints.ParseObjective(o.objective); err != nil {
				return badInput(fmt.Errorf("%s: --objective: %w", cmd.CommandPath(), err))
			}
			if _, err := search.Lookup(o.search); err != nil && o.search != "layerwise" {
				return badInput(fmt.Errorf("%s: --search: %w", cmd.CommandPath(), err))
			}
			if o.timeLimit <= 0 {
				return badInput(fmt.Errorf("%s: --time-limit %v: want a positive duration", cmd.CommandPath(), o.timeLimit))
			}
			return o.sv.finish(runSolve(cmd.Context(), o, args[0]))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "edge_ai", "machine: preset name or config file")
	f.StringVar(&o.objective, "objective", "latency", "objective: latency, energy, edp or traffic")
	f.StringVar(&o.search, "search", "optimal", "search engine: optimal, exhaustive, sat, kpusim, greedy; layerwise (whole graphs: each operator optimal alone, every tensor through DRAM)")
	f.DurationVar(&o.timeLimit, "time-limit", 30*time.Second, "stop searching after this long and report the best found")
	f.StringVar(&o.mapping, "mapping", "", "evaluate the mappings in this JSON file instead of searching")
	f.StringVarP(&o.output, "output", "o", "", "write the result to this file instead of stdout")
	f.StringVar(&o.format, "format", "table", "output format: table or json")
	o.sv.register(f)
	return cmd
}

// solveClock is the clock of `solve` (tests replace it so that
// solve_seconds is stable).
var solveClock = time.Now

// figures are the predicted figures of a solve.
type figures struct {
	LatencyCycles int64   `json:"latency_cycles"`
	EnergyPJ      float64 `json:"energy_pj"`
	DRAMBytes     int64   `json:"dram_bytes"`
}

// boundFigures is a lower bound.
type boundFigures struct {
	LatencyCycles int64 `json:"latency_cycles"`
	DRAMBytes     int64 `json:"dram_bytes"`
}

// gemmShape is the GEMM view of an operator in the output.
type gemmShape struct {
	Batch int64       `json:"batch"`
	M     int64       `json:"m"`
	N     int64       `json:"n"`
	K     int64       `json:"k"`
	DType model.DType `json:"dtype"`
}

// solvedOp is one GEMM-like operator in the output.
type solvedOp struct {
	Name       string        `json:"name"`
	Type       model.OpType  `json:"type"`
	Shape      gemmShape     `json:"shape"`
	Status     string        `json:"status"`
	Engine     string        `json:"engine"`
	Mapping    model.Mapping `json:"mapping"`
	Predicted  figures       `json:"predicted"`
	LowerBound boundFigures  `json:"lower_bound"`
	// Gap is (value - proven bound) / value of the objective within the
	// mapping space; BoundGap compares with the machine's lower bound.
	Gap        float64 `json:"gap"`
	BoundGap   float64 `json:"bound_gap"`
	Commands   int     `json:"commands"`
	Evaluated  int     `json:"evaluated"`
	Considered int     `json:"considered"`
	Seconds    float64 `json:"solve_seconds"`
}

// otherOp is an operator solve does not schedule.
type otherOp struct {
	Name string       `json:"name"`
	Type model.OpType `json:"type"`
	Note string       `json:"note"`
}

// solveReport is the output of `solve` (JSON keys fixed by issue 4).
type solveReport struct {
	Graph        string       `json:"graph"`
	Status       string       `json:"status"`
	Objective    string       `json:"objective"`
	Config       string       `json:"config"`
	Search       string       `json:"search"`
	SolveSeconds float64      `json:"solve_seconds"`
	Predicted    figures      `json:"predicted"`
	LowerBound   boundFigures `json:"lower_bound"`
	Gap          float64      `json:"gap"`
	BoundGap     float64      `json:"bound_gap"`
	Ops          []solvedOp   `json:"ops"`
	OtherOps     []otherOp    `json:"other_ops,omitempty"`
	*solveVerification
}

// mappingFile is the --mapping input: a mapping, or a list of named ones.
type mappingFile struct {
	single *model.Mapping
	byName map[string]model.Mapping
}

func readMappingFile(path string) (*mappingFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--mapping: %w", err)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("--mapping %s: %w", path, err)
	}
	strict := func(raw []byte, v any) error {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		return dec.Decode(v)
	}
	if ops, ok := probe["ops"]; ok {
		var list []struct {
			Name    string          `json:"name"`
			Mapping json.RawMessage `json:"mapping"`
		}
		if err := json.Unmarshal(ops, &list); err != nil {
			return nil, fmt.Errorf("--mapping %s: ops: %w", path, err)
		}
		mf := &mappingFile{byName: map[string]model.Mapping{}}
		for i, e := range list {
			if e.Name == "" || e.Mapping == nil {
				return nil, fmt.Errorf("--mapping %s: ops[%d]: want \"name\" and \"mapping\"", path, i)
			}
			var m model.Mapping
			if err := strict(e.Mapping, &m); err != nil {
				return nil, fmt.Errorf("--mapping %s: ops[%d] (%s): mapping: %w", path, i, e.Name, err)
			}
			mf.byName[e.Name] = m
		}
		return mf, nil
	}
	var m model.Mapping
	if err := strict(data, &m); err != nil {
		return nil, fmt.Errorf("--mapping %s: %w (want a mapping or {\"ops\":[{\"name\",\"mapping\"}]})", path, err)
	}
	return &mappingFile{single: &m}, nil
}

func (mf *mappingFile) lookup(name string) (model.Mapping, bool) {
	if mf.single != nil {
		return *mf.single, true
	}
	m, ok := mf.byName[name]
	return m, ok
}

// statusRank orders statuses from best to worst.
var statusRank = map[string]int{search.StatusOptimal: 0, "evaluated": 1, search.StatusFeasible: 2, search.StatusInfeasible: 3}

func runSolve(ctx context.Context, o *solveOptions, path string) error {
	s := o.streams
	g, err := loadGraph(path)
	if err != nil {
		return err
	}
	cfg, err := resolveMachine(s, o.config)
	if err != nil {
		return err
	}
	// (the joint optimal schedule may keep intermediate tensors out of DRAM)
	if err := checkDRAMFit("solve", path, g, cfg, o.search != "optimal" || o.mapping != ""); err != nil {
		return err
	}
	obj, _ := constraints.ParseObjective(o.objective)
	if o.mapping == "" && (needsWholeGraph(g) || o.search == "layerwise") {
		return runSolveWhole(ctx, o, path, g, cfg, obj)
	}
	var given *mappingFile
	if o.mapping != "" {
		if given, err = readMappingFile(o.mapping); err != nil {
			return badInput(err)
		}
	}
	start := o.now()
	vctx := ctx // verification is not bound by the search time limit
	ctx, cancel := context.WithTimeout(ctx, o.timeLimit)
	defer cancel()
	rep := &solveReport{Graph: g.Name, Status: search.StatusOptimal, Objective: string(obj), Config: cfg.Name, Search: o.search}
	if given != nil {
		rep.Search, rep.Status = "given", "evaluated"
	}
	var value, bound, pbound, energyLB float64
	for _, op := range g.Operators {
		shape, ok, err := g.GEMM(op)
		if err != nil {
			return badInput(err)
		}
		if !ok {
			rep.OtherOps = append(rep.OtherOps, otherOp{Name: op.Name, Type: op.Type, Note: "not GEMM-like: scheduled by the whole-graph step, not by solve"})
			continue
		}
		p, err := constraints.NewProblem(op.Name, shape)
		if err != nil {
			return badInput(err)
		}
		p.OutDType = g.Tensors[op.Outputs[0]].DType // a narrow output is converted in the stream
		opStart := o.now()
		var res *search.Result
		if given != nil {
			m, ok := given.lookup(op.Name)
			if !ok {
				return badInput(fmt.Errorf("--mapping %s: no mapping for operator %q", o.mapping, op.Name))
			}
			res, err = evaluateGiven(ctx, p, m, cfg, obj)
			if err != nil && ctx.Err() == nil {
				// a malformed mapping (not one that merely does not fit)
				return badInput(fmt.Errorf("solve %s: --mapping %s: operator %s: %w", path, o.mapping, op.Name, err))
			}
		} else {
			sopts := search.Options{Objective: obj}
			if s.Terminal {
				sopts.Progress = progressLine(s, op.Name, opStart)
			}
			res, err = search.Solve(ctx, o.search, p, cfg, sopts)
			if s.Terminal && time.Since(opStart) > time.Second {
				fmt.Fprint(s.Err, "\r\033[K")
			}
		}
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return failed(fmt.Errorf("solve %s: operator %s: stopped before any mapping was found: %w", path, op.Name, err))
			}
			return failed(fmt.Errorf("solve %s: operator %s: %w", path, op.Name, err))
		}
		if res.Status == search.StatusInfeasible {
			return failed(fmt.Errorf("solve %s: operator %s (%s): %w", path, op.Name, p, res.Err))
		}
		so := solvedOp{
			Name: op.Name, Type: op.Type, Status: res.Status, Engine: res.Engine, Mapping: res.Mapping,
			Shape:      gemmShape{Batch: p.Batch, M: p.M, N: p.N, K: p.K, DType: p.DType},
			Predicted:  figures{LatencyCycles: res.Cost.LatencyCycles, EnergyPJ: res.Cost.EnergyPJ, DRAMBytes: res.Cost.DRAMBytes},
			LowerBound: boundFigures{LatencyCycles: res.ProblemBound.LatencyCycles, DRAMBytes: res.ProblemBound.DRAMBytes},
			Gap:        round6(res.Gap), BoundGap: round6(gapTo(res.Value, res.ProblemBound.Value(obj))),
			Commands: res.Cost.Commands, Evaluated: res.Evaluated, Considered: res.Considered,
			Seconds: round3(o.now().Sub(opStart).Seconds()),
		}
		rep.Ops = append(rep.Ops, so)
		if statusRank[res.Status] > statusRank[rep.Status] {
			rep.Status = res.Status
		}
		rep.Predicted.LatencyCycles += so.Predicted.LatencyCycles
		rep.Predicted.EnergyPJ += so.Predicted.EnergyPJ
		rep.Predicted.DRAMBytes += so.Predicted.DRAMBytes
		rep.LowerBound.LatencyCycles += so.LowerBound.LatencyCycles
		rep.LowerBound.DRAMBytes += so.LowerBound.DRAMBytes
		value += res.Value
		bound += res.Bound
		pbound += res.ProblemBound.Value(obj)
		energyLB += res.ProblemBound.EnergyPJ
	}
	if len(rep.Ops) == 0 {
		return badInput(fmt.Errorf("solve %s: the graph has no GEMM-like operator (MATMUL, LINEAR, CONV2D)", path))
	}
	if obj == constraints.EDP && len(rep.Ops) > 1 {
		// the graph's EDP is not the sum of the operators' EDPs: compare with
		// (sum of latency bounds) x (sum of energy bounds). (One operator
		// keeps its own proven bound.)
		value = float64(rep.Predicted.LatencyCycles) * rep.Predicted.EnergyPJ
		pbound = float64(rep.LowerBound.LatencyCycles) * energyLB
		bound = pbound
	}
	rep.Gap = round6(gapTo(value, bound))
	rep.BoundGap = round6(gapTo(value, pbound))
	rep.SolveSeconds = round3(o.now().Sub(start).Seconds())
	if err := o.sv.apply(vctx, path, g, cfg, rep); err != nil {
		return err
	}
	var buf bytes.Buffer
	if o.format == "json" {
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return failed(fmt.Errorf("solve: encode: %w", err))
		}
	} else if err := printSolveTable(&buf, rep); err != nil {
		return failed(err)
	}
	if o.output != "" {
		if err := writeFileAtomic(o.output, buf.Bytes()); err != nil {
			return failed(err)
		}
		return nil
	}
	_, err = s.Out.Write(buf.Bytes())
	return err
}

// evaluateGiven judges a user-given mapping.
func evaluateGiven(ctx context.Context, p constraints.Problem, m model.Mapping, cfg *kpu.Config, obj constraints.Objective) (*search.Result, error) {
	m.Placement = nil
	pl, err := constraints.Place(p, m, cfg)
	if err != nil {
		if constraints.IsInfeasible(err) {
			return &search.Result{Status: search.StatusInfeasible, Err: err}, nil
		}
		return nil, err
	}
	c, err := constraints.Evaluate(ctx, p, m, cfg)
	if err != nil {
		return nil, err
	}
	sum := pl.Summary
	m.Placement = &sum
	pb := constraints.LowerBound(p, cfg)
	v := c.Value(obj)
	return &search.Result{Status: "evaluated", Engine: "given", Mapping: m, Cost: c, Value: v,
		Bound: math.Min(v, pb.Value(obj)), Gap: gapTo(v, pb.Value(obj)), ProblemBound: pb, Evaluated: 1}, nil
}

// progressLine prints the state of a long search on one terminal line.
func progressLine(s *streams, op string, start time.Time) func(search.Progress) {
	return func(pr search.Progress) {
		if time.Since(start) < time.Second {
			return
		}
		best := "none yet"
		if !math.IsInf(pr.Best, 1) {
			best = fmt.Sprintf("%.6g", pr.Best)
		}
		fmt.Fprintf(s.Err, "\r\033[Ksolving %s: %s, %d evaluated, best %s, bound %.6g, %.1fs", op, pr.Engine, pr.Evaluated, best, pr.Bound, pr.Elapsed.Seconds())
	}
}

func gapTo(value, bound float64) float64 {
	if value <= 0 || math.IsInf(value, 0) || bound >= value {
		return 0
	}
	return (value - bound) / value
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }
func round3(x float64) float64 { return math.Round(x*1e3) / 1e3 }

func printSolveTable(buf *bytes.Buffer, rep *solveReport) error {
	fmt.Fprintf(buf, "solve %s on %s: objective %s, search %s: %s in %.3f s\n", cell(rep.Graph), cell(rep.Config), rep.Objective, rep.Search, rep.Status, rep.SolveSeconds)
	w := tabwriter.NewWriter(buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "op\ttype\tbatch x m x n x k\tstatus\tlatency\tbound\tenergy_pj\tdram_bytes\tgap\tl3 tile\tl2 tile\torders\tsplit\tbuffers l3/l2")
	for _, op := range rep.Ops {
		m := op.Mapping
		fmt.Fprintf(w, "%s\t%s\t%dx%dx%dx%d %s\t%s\t%d\t%d\t%.4g\t%d\t%.2f%%\t%dx%dx%d\t%dx%dx%d\t%s/%s\t%s\t%d%d%d/%d%d%d\n",
			cell(op.Name), op.Type, op.Shape.Batch, op.Shape.M, op.Shape.N, op.Shape.K, op.Shape.DType, op.Status,
			op.Predicted.LatencyCycles, op.LowerBound.LatencyCycles, op.Predicted.EnergyPJ, op.Predicted.DRAMBytes, 100*op.Gap,
			m.L3.M, m.L3.N, m.L3.K, m.L2.M, m.L2.N, m.L2.K, m.L3Order, m.L2Order, splitText(m.Split),
			m.L3Buffers.A, m.L3Buffers.B, m.L3Buffers.C, m.L2Buffers.A, m.L2Buffers.B, m.L2Buffers.C)
	}
	fmt.Fprintf(w, "total\t\t\t%s\t%d\t%d\t%.4g\t%d\t%.2f%%\n", rep.Status, rep.Predicted.LatencyCycles, rep.LowerBound.LatencyCycles, rep.Predicted.EnergyPJ, rep.Predicted.DRAMBytes, 100*rep.Gap)
	if err := w.Flush(); err != nil {
		return err
	}
	for _, o := range rep.OtherOps {
		fmt.Fprintf(buf, "not scheduled: %s (%s): %s\n", cell(o.Name), o.Type, cell(o.Note))
	}
	return printSolveVerification(buf, rep.solveVerification)
}
