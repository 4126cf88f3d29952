package search

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// Suite is a named benchmark suite: GEMMs that every search engine is run
// on, on every machine of a run.
type Suite struct {
	Name   string
	Shapes []SuiteShape
}

// SuiteShape is one GEMM C[M,N] = A[M,K] x B[K,N] of a suite.
type SuiteShape struct {
	M, N, K int64
	DType   model.DType
}

func (s SuiteShape) String() string { return fmt.Sprintf("%dx%dx%d", s.M, s.N, s.K) }

// GEMMSuite is issue 4's benchmark: six fp32 GEMMs (M, N, K) from square
// layers, a projection, a matrix-vector product, a convolution as implicit
// GEMM and a late-stage ResNet layer.
var GEMMSuite = Suite{Name: "gemm", Shapes: []SuiteShape{
	{1024, 1024, 1024, model.Float32},
	{4096, 4096, 4096, model.Float32},
	{128, 768, 3072, model.Float32},
	{1, 4096, 4096, model.Float32},
	{3136, 64, 576, model.Float32},
	{49, 2048, 512, model.Float32},
}}

// Suites lists the named suites, by name.
var Suites = map[string]Suite{GEMMSuite.Name: GEMMSuite}

// LookupSuite returns the suite called name.
func LookupSuite(name string) (Suite, error) {
	s, ok := Suites[name]
	if !ok {
		var names []string
		for n := range Suites {
			names = append(names, n)
		}
		sort.Strings(names)
		return Suite{}, fmt.Errorf("unknown suite %q (known: %v)", name, names)
	}
	return s, nil
}

// SuiteOptions steer a suite run.
type SuiteOptions struct {
	Objective constraints.Objective // default latency
	// TimeLimit bounds each search of each case (default 2 s); the optimal
	// search reports "feasible" with its gap when it expires.
	TimeLimit time.Duration
	// Progress, if set, is called before each case with the number of cases
	// done, the total and the case about to run.
	Progress func(done, total int, label string)
	// Now is the clock (default time.Now; tests fix it so that times are
	// stable).
	Now func() time.Time
}

// HeuristicResult is a heuristic's outcome on one case.
type HeuristicResult struct {
	Status string  `json:"status"`
	Value  float64 `json:"value"` // objective (0 when infeasible)
	// Ratio is Value / the optimal search's value (0 when either is
	// missing).
	Ratio float64 `json:"ratio"`
}

// SuiteRow is one case of a suite run: one GEMM on one machine.
type SuiteRow struct {
	Config string      `json:"config"`
	Shape  string      `json:"shape"` // MxNxK
	M      int64       `json:"m"`
	N      int64       `json:"n"`
	K      int64       `json:"k"`
	DType  model.DType `json:"dtype"`
	// The optimal search: its status ("optimal" = proven), the engine that
	// proved it, the wall time to the result, its objective value and gap.
	Status  string  `json:"status"`
	Engine  string  `json:"engine"`
	Seconds float64 `json:"solve_seconds"`
	Optimal float64 `json:"optimal"`
	Gap     float64 `json:"gap"`
	// LowerBound is the machine's lower bound on the objective (the
	// relaxation-strengthened constraints.LowerBound); BoundRatio is
	// Optimal / LowerBound.
	LowerBound float64         `json:"lower_bound"`
	BoundRatio float64         `json:"optimal_over_bound"`
	KPUSim     HeuristicResult `json:"kpusim"`
	Greedy     HeuristicResult `json:"greedy"`
	Mapping    model.Mapping   `json:"mapping"`
}

// SuiteSummary aggregates a run: solve times of the optimal search and
// geometric means of the ratios over the cases where both sides exist.
type SuiteSummary struct {
	Cases         int     `json:"cases"`
	Proven        int     `json:"proven"`
	MedianSeconds float64 `json:"median_solve_seconds"`
	MaxSeconds    float64 `json:"max_solve_seconds"`
	GeoKPUSim     float64 `json:"geomean_kpusim_over_optimal"`
	GeoGreedy     float64 `json:"geomean_greedy_over_optimal"`
	GeoBound      float64 `json:"geomean_optimal_over_bound"`
}

// SuiteReport is the outcome of a suite run.
type SuiteReport struct {
	Suite     string       `json:"suite"`
	Objective string       `json:"objective"`
	TimeLimit float64      `json:"time_limit_seconds"`
	Rows      []SuiteRow   `json:"rows"`
	Summary   SuiteSummary `json:"summary"`
}

// RunSuite runs the optimal search and the kpusim and greedy heuristics on
// every shape of s on every machine of cfgs (machines outermost), all in this
// one run so that the ratios compare like with like. It stops at the first
// case that fails (an infeasible optimum, an engine error) or when ctx ends,
// returning the rows done so far with the error.
func RunSuite(ctx context.Context, s Suite, cfgs []*kpu.Config, opts SuiteOptions) (*SuiteReport, error) {
	if opts.Objective == "" {
		opts.Objective = constraints.Latency
	}
	if opts.TimeLimit <= 0 {
		opts.TimeLimit = 2 * time.Second
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	rep := &SuiteReport{Suite: s.Name, Objective: string(opts.Objective), TimeLimit: opts.TimeLimit.Seconds()}
	total := len(cfgs) * len(s.Shapes)
	for _, cfg := range cfgs {
		for _, sh := range s.Shapes {
			label := cfg.Name + " " + sh.String()
			if opts.Progress != nil {
				opts.Progress(len(rep.Rows), total, label)
			}
			row, err := runSuiteCase(ctx, cfg, sh, opts, now)
			if err != nil {
				rep.Summary = suiteSummarize(rep.Rows)
				return rep, fmt.Errorf("suite %s: %s: %w", s.Name, label, err)
			}
			rep.Rows = append(rep.Rows, *row)
		}
	}
	rep.Summary = suiteSummarize(rep.Rows)
	return rep, nil
}

// runSuiteCase runs the three engines on one shape and machine.
func runSuiteCase(ctx context.Context, cfg *kpu.Config, sh SuiteShape, opts SuiteOptions, now func() time.Time) (*SuiteRow, error) {
	p := constraints.Problem{Name: sh.String(), Batch: 1, M: sh.M, N: sh.N, K: sh.K, DType: sh.DType}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	row := &SuiteRow{Config: cfg.Name, Shape: sh.String(), M: sh.M, N: sh.N, K: sh.K, DType: sh.DType}
	start := now()
	r, err := solveSuiteCase(ctx, "optimal", p, cfg, opts)
	row.Seconds = math.Round(now().Sub(start).Seconds()*1e3) / 1e3
	if err != nil {
		return nil, err
	}
	if r.Status == StatusInfeasible {
		return nil, fmt.Errorf("optimal: infeasible: %w", r.Err)
	}
	row.Status, row.Engine, row.Optimal, row.Gap, row.Mapping = r.Status, r.Engine, r.Value, suiteRound6(r.Gap), r.Mapping
	row.LowerBound = r.ProblemBound.Value(opts.Objective)
	row.BoundRatio = suiteRatio(row.Optimal, row.LowerBound)
	for _, h := range []struct {
		name string
		out  *HeuristicResult
	}{{"kpusim", &row.KPUSim}, {"greedy", &row.Greedy}} {
		hr, err := solveSuiteCase(ctx, h.name, p, cfg, opts)
		if err != nil {
			return nil, err
		}
		h.out.Status = hr.Status
		if hr.Status != StatusInfeasible {
			h.out.Value = hr.Value
			h.out.Ratio = suiteRatio(hr.Value, row.Optimal)
		}
	}
	return row, nil
}

// solveSuiteCase runs one engine under the suite's time limit; it fails when the
// caller's ctx ended (Ctrl-C), not when only the time limit did.
func solveSuiteCase(ctx context.Context, engine string, p constraints.Problem, cfg *kpu.Config, opts SuiteOptions) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, opts.TimeLimit)
	defer cancel()
	r, err := Solve(sctx, engine, p, cfg, Options{Objective: opts.Objective})
	if cerr := ctx.Err(); cerr != nil {
		return nil, fmt.Errorf("%s: %w", engine, cerr)
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%s: no mapping found within the time limit %v: %w", engine, opts.TimeLimit, err)
		}
		return nil, fmt.Errorf("%s: %w", engine, err)
	}
	if r == nil {
		return nil, fmt.Errorf("%s: the engine returned no result", engine)
	}
	return r, nil
}

func suiteRatio(a, b float64) float64 {
	if a <= 0 || b <= 0 || math.IsInf(a, 0) || math.IsInf(b, 0) {
		return 0
	}
	return suiteRound6(a / b)
}

func suiteRound6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// suiteSummarize computes the summary of rows.
func suiteSummarize(rows []SuiteRow) SuiteSummary {
	s := SuiteSummary{Cases: len(rows)}
	if len(rows) == 0 {
		return s
	}
	secs := make([]float64, len(rows))
	var ks, gr, bd []float64
	for i, r := range rows {
		secs[i] = r.Seconds
		if r.Status == StatusOptimal {
			s.Proven++
		}
		ks = append(ks, r.KPUSim.Ratio)
		gr = append(gr, r.Greedy.Ratio)
		bd = append(bd, r.BoundRatio)
	}
	sort.Float64s(secs)
	if n := len(secs); n%2 == 1 {
		s.MedianSeconds = secs[n/2]
	} else {
		s.MedianSeconds = math.Round((secs[n/2-1]+secs[n/2])/2*1e3) / 1e3
	}
	s.MaxSeconds = secs[len(secs)-1]
	s.GeoKPUSim, s.GeoGreedy, s.GeoBound = suiteGeomean(ks), suiteGeomean(gr), suiteGeomean(bd)
	return s
}

// suiteGeomean is the geometric mean of the positive values of xs (0 if none).
func suiteGeomean(xs []float64) float64 {
	var sum float64
	n := 0
	for _, x := range xs {
		if x > 0 {
			sum += math.Log(x)
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return suiteRound6(math.Exp(sum / float64(n)))
}
