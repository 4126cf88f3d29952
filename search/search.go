package search

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// Result statuses.
const (
	StatusOptimal    = "optimal"    // proven best in the mapping space
	StatusFeasible   = "feasible"   // best found; the gap says how far from proven
	StatusInfeasible = "infeasible" // no mapping fits (Err says which capacity is short)
)

// Options steer a search.
type Options struct {
	Objective constraints.Objective // default latency
	// Progress, if set, is called from time to time with the state of the search.
	Progress func(Progress)
}

// Progress is a snapshot of a running search.
type Progress struct {
	Engine    string
	Evaluated int     // exact evaluations (replays) so far
	Best      float64 // objective of the incumbent (+Inf if none)
	Bound     float64 // proven lower bound on the objective within the space
	Elapsed   time.Duration
}

// Result is the outcome of a search.
type Result struct {
	Status  string
	Engine  string // the engine that found (and, if optimal, proved) the result
	Mapping model.Mapping
	Cost    *constraints.Cost
	Value   float64 // the objective of Mapping
	// Bound is the proven lower bound on the objective over the mapping
	// space (equal to Value when optimal); Gap = (Value - Bound) / Value.
	Bound float64
	Gap   float64
	// ProblemBound bounds every mapping (constraints.LowerBound).
	ProblemBound constraints.Bound
	// Relaxation is the continuous relaxation that strengthened ProblemBound.
	Relaxation *Relaxation
	Evaluated  int // exact evaluations
	Considered int // closed-form evaluations
	Elapsed    time.Duration
	Err        error // the infeasibility, when Status is infeasible
}

// Engine is a search engine: it searches the space of p on cfg under opts.
// It returns a Result with status infeasible (and Err set) when nothing
// fits, and the best found so far (status feasible) when ctx ends.
type Engine func(ctx context.Context, p constraints.Problem, cfg *kpu.Config, opts Options) (*Result, error)

var (
	regMu   sync.Mutex
	engines = map[string]Engine{}
)

// Register adds a search engine under name (for engines defined in other
// files of this package or elsewhere). It panics on a duplicate name, a
// programming error.
func Register(name string, e Engine) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := engines[name]; dup {
		panic("search: engine " + name + " registered twice")
	}
	engines[name] = e
}

// Names lists the registered engines, sorted.
func Names() []string {
	regMu.Lock()
	defer regMu.Unlock()
	var out []string
	for n := range engines {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Lookup returns the engine registered under name.
func Lookup(name string) (Engine, error) {
	regMu.Lock()
	defer regMu.Unlock()
	e, ok := engines[name]
	if !ok {
		var names []string
		for n := range engines {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("unknown search engine %q (known: %v)", name, names)
	}
	return e, nil
}

// Solve runs the engine called name.
func Solve(ctx context.Context, name string, p constraints.Problem, cfg *kpu.Config, opts Options) (*Result, error) {
	e, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	if opts.Objective == "" {
		opts.Objective = constraints.Latency
	}
	r, err := e(ctx, p, cfg, opts)
	if err != nil || r.Status == StatusInfeasible {
		return r, err
	}
	// strengthen the machine bound with the continuous relaxation
	rx, rerr := Relax(context.WithoutCancel(ctx), p, cfg)
	if rerr == nil {
		r.Relaxation = &rx
		r.ProblemBound = withRelaxation(r.ProblemBound, rx)
		if r.Status == StatusFeasible {
			r.Bound = math.Max(r.Bound, math.Min(r.ProblemBound.Value(opts.Objective), r.Value))
			r.Gap = gapOf(r.Value, r.Bound)
		}
	}
	return r, nil
}

func init() {
	Register("exhaustive", Exhaustive)
	Register("optimal", Optimal)
	Register("kpusim", KPUSim)
	Register("greedy", Greedy)
}

// valueOf is the objective of an exactly evaluated mapping.
func valueOf(o constraints.Objective, c *constraints.Cost) float64 { return c.Value(o) }

// quickValue is the objective from the closed form: exact for energy and
// traffic, a lower bound for latency and edp.
func quickValue(o constraints.Objective, p constraints.Problem, est constraints.Estimate, cfg *kpu.Config) float64 {
	en := constraints.EnergyOf(p, est.Bytes, p.MACs(), cfg)
	switch o {
	case constraints.Energy:
		return en
	case constraints.Traffic:
		return float64(est.Bytes.DRAM())
	case constraints.EDP:
		return float64(est.LowerCycles) * en
	}
	return float64(est.LowerCycles)
}

// exactFromQuick says whether the closed form gives the objective exactly
// (then buffer counts do not change it).
func exactFromQuick(o constraints.Objective) bool {
	return o == constraints.Energy || o == constraints.Traffic
}

func gapOf(value, bound float64) float64 {
	if value <= 0 || math.IsInf(value, 1) {
		return 0
	}
	return math.Max(0, (value-bound)/value)
}

// bufferCombos lists the 64 buffer-count choices, most double buffering first
// (ties in a fixed order).
func bufferCombos() [][2]model.Buffers {
	var out [][2]model.Buffers
	for mask := 0; mask < 64; mask++ {
		b := func(bit int) int { return 1 + (mask>>bit)&1 }
		out = append(out, [2]model.Buffers{{A: b(0), B: b(1), C: b(2)}, {A: b(3), B: b(4), C: b(5)}})
	}
	ones := func(x [2]model.Buffers) int {
		return x[0].A + x[0].B + x[0].C + x[1].A + x[1].B + x[1].C
	}
	sort.SliceStable(out, func(i, j int) bool { return ones(out[i]) > ones(out[j]) })
	return out
}

var allCombos = bufferCombos()

// finish fills the bound and gap of a result.
func finish(r *Result, start time.Time) *Result {
	r.Elapsed = time.Since(start)
	if r.Status == StatusOptimal {
		r.Bound = r.Value
	}
	r.Gap = gapOf(r.Value, r.Bound)
	return r
}
