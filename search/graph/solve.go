package graph

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
	"github.com/stillwater-sc/kpuopt/solver"
)

// Modes of Solve.
const (
	ModeOptimal   = "optimal"   // joint: mappings, residency and fusion together
	ModeLayerwise = "layerwise" // every operator alone, all tensors via DRAM, no fusion
)

// Options control Solve.
type Options struct {
	Mode       string                // ModeOptimal (default) or ModeLayerwise
	Objective  constraints.Objective // latency (default), energy, edp or traffic
	Candidates CandidateOptions
	// Seeds names the engines of package search whose per-operator
	// mapping joins every GEMM's candidate set (default: "optimal"; an
	// empty non-nil slice means none).
	Seeds []string
	// SeedTime bounds each seed search (per distinct GEMM shape); 0 means
	// 1 s. A search cut short still gives its best mapping so far.
	SeedTime time.Duration
	// Cache, when set, keeps the seed mappings and the exact operator costs
	// between calls (a layerwise and a joint solve of the same graph on the
	// same machine search and price each operator once).
	Cache *Cache
	// NoResidency keeps every tensor in DRAM in ModeOptimal: only the
	// mappings and the fusion are joint (a schedule the lowering can emit
	// today).
	NoResidency bool
	// Engine solves the joint problem: "dp" (the exact dynamic program) or
	// "sat" (the pseudo-boolean encoding over package solver). "" means dp,
	// or sat when more than MaxLive tensors are live across a step.
	Engine string
	// MaxLive caps the number of intermediate tensors live across one step
	// boundary (the dynamic program has 2^live states there); 0 means 20.
	MaxLive int
	// Check, when set, tells whether the lowering builds a schedule (for
	// example by lowering.LowerGraphSchedule). With it a tensor larger
	// than one L3 tile may stay resident in a striped home, whose cuts the
	// lowering chooses from the accesses it emits (docs/graph-schedules.md
	// §6): a schedule it rejects is solved again with the tensors its error
	// names (an error with a HomeTensors() []string method), or every
	// striped one, kept in DRAM. Without it no tensor larger than one L3
	// tile is resident.
	Check func(ctx context.Context, s *model.GraphSchedule) error
}

// maxCheckRounds bounds the solves of Solve's Check loop.
const maxCheckRounds = 8

// homeRejection is an error of Options.Check that names the striped
// resident tensors it could not place.
type homeRejection interface {
	error
	HomeTensors() []string
}

// stripedResidents are the resident tensors of s with a striped home.
func stripedResidents(s *model.GraphSchedule, cfg *kpu.Config) []string {
	var out []string
	for _, r := range s.Resident {
		if constraints.StripedHomeTiles(r.Bytes, cfg) > 0 {
			out = append(out, r.Tensor)
		}
	}
	return out
}

// storageNamed reports whether storage st or one of its views is in names.
func storageNamed(st *Storage, names map[string]bool) bool {
	if names[st.Name] {
		return true
	}
	for _, a := range st.Aliases {
		if names[a] {
			return true
		}
	}
	return false
}

// maxEDPRounds bounds the reweighting rounds of the edp objective.
const maxEDPRounds = 8

// Solve chooses the schedule of graph g on cfg. In ModeOptimal the result is
// optimal over the per-operator candidate sets and the fixed execution order
// (the dynamic program is exact for latency, energy and traffic); for edp it
// is the best of a reweighting of latency against energy (status feasible).
// A schedule with resident tensors is repriced exactly with its planned
// homes, and the all-DRAM joint schedule is returned instead when it is no
// worse (exactOrDRAM), so Predicted is what the lowering's program costs.
func Solve(ctx context.Context, g *model.Graph, cfg *kpu.Config, opts Options) (*model.GraphSchedule, error) {
	start := time.Now()
	if opts.Mode == "" {
		opts.Mode = ModeOptimal
	}
	if opts.Mode != ModeOptimal && opts.Mode != ModeLayerwise {
		return nil, fmt.Errorf("graph mode %q: want %s or %s", opts.Mode, ModeOptimal, ModeLayerwise)
	}
	if opts.Objective == "" {
		opts.Objective = constraints.Latency
	}
	if _, err := constraints.ParseObjective(string(opts.Objective)); err != nil {
		return nil, err
	}
	if opts.MaxLive <= 0 {
		opts.MaxLive = 20
	}
	pr, err := NewProblem(g)
	if err != nil {
		return nil, err
	}
	joint := opts.Mode == ModeOptimal
	if opts.Seeds == nil {
		opts.Seeds = []string{"optimal"}
	}
	if opts.SeedTime <= 0 {
		opts.SeedTime = time.Second
	}
	for i := range pr.Storages {
		// a home lies in one L3 tile (an access never spans two), or it is
		// striped over whole tiles when the lowering is there to cut it
		st := &pr.Storages[i]
		if opts.NoResidency || st.Bytes > cfg.L3TileBytes && (opts.Check == nil || constraints.HomeReserve(st.Bytes, cfg) > cfg.L3Bytes()) {
			st.Eligible = false
		}
	}
	if opts.Cache == nil && joint && !opts.NoResidency {
		opts.Cache = &Cache{} // shared with the all-DRAM solve below
	}
	cands, err := pr.candidates(ctx, cfg, joint, opts.Candidates, seedSpec{opts.Seeds, opts.SeedTime, opts.Cache}, opts.Objective)
	if err != nil {
		return nil, err
	}
	d := &dp{pr: pr, cfg: cfg, opt: cands, joint: joint, maxLive: opts.MaxLive}
	status := "optimal"
	engine := opts.Engine
	if cands.stopped {
		// some steps have only a fallback mapping and no residency prices
		d = d.withoutResidency()
		status = "feasible"
	}
	run := d.run
	if engine == "" {
		engine = "dp"
		if _, err := d.crossing(); errors.Is(err, errTooWide) {
			engine = "sat"
		}
	}
	switch engine {
	case "dp":
	case "sat":
		run = func(ctx context.Context, w weights) ([]transition, error) {
			p, res, err := d.runSAT(ctx, w)
			if err == nil && res.Status != solver.Optimal {
				status = "feasible"
			}
			return p, err
		}
	default:
		return nil, fmt.Errorf("graph engine %q: want dp or sat", engine)
	}
	if opts.Objective == constraints.EDP {
		status = "feasible"
		engine += " (edp by latency/energy reweighting)"
	}
	solvePath := func() ([]transition, error) {
		var path []transition
		switch opts.Objective {
		case constraints.EDP:
			// the joint space contains the layerwise one: reweight in both
			// and keep the better product, so joint is never worse than
			// layerwise
			bestEDP := -1.0
			for _, restricted := range []bool{false, true} {
				if restricted && !joint {
					break
				}
				w := weights{Lat: 1}
				seen := map[weights]bool{}
				for round := 0; round < maxEDPRounds && !seen[w]; round++ {
					seen[w] = true
					d.joint = !restricted && joint
					p, err := run(ctx, w)
					d.joint = joint
					if stopped(ctx, err) {
						break
					}
					if err != nil {
						return nil, err
					}
					tot := total(p)
					if v := float64(tot.Cycles) * tot.Energy; bestEDP < 0 || v < bestEDP {
						bestEDP, path = v, p
					}
					// the tangent of L*E at (L, E): minimize E*L' + L*E'
					w = weights{Lat: tot.Energy / max(1, float64(tot.Cycles)), En: 1}
				}
			}
		default:
			var err error
			path, err = run(ctx, objectiveWeights(opts.Objective))
			if err != nil && !stopped(ctx, err) {
				return nil, err
			}
		}
		if ctx.Err() != nil {
			// stopped: the all-DRAM schedule over the candidates priced so
			// far (exact prices; the program takes milliseconds)
			status = "feasible"
			engine = "dp (stopped by the context: every tensor through DRAM)"
			return d.withoutResidency().run(detached(ctx), objectiveWeights(opts.Objective))
		}
		return path, nil
	}
	var s *model.GraphSchedule
	for round := 0; ; round++ {
		path, err := solvePath()
		if err != nil {
			return nil, err
		}
		s = pr.schedule(cfg, path)
		s.Mode, s.Objective, s.Status, s.Engine = opts.Mode, string(opts.Objective), status, engine
		err = planL3(ctx, s, cfg)
		if err == nil && len(s.Resident) > 0 {
			s, err = exactOrDRAM(ctx, g, cfg, opts, s)
		}
		striped := stripedResidents(s, cfg)
		if err == nil && len(striped) > 0 && opts.Check != nil {
			err = opts.Check(ctx, s)
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			// stopped while planning or checking: the all-DRAM schedule
			path, err := d.withoutResidency().run(detached(ctx), objectiveWeights(opts.Objective))
			if err != nil {
				return nil, err
			}
			s = pr.schedule(cfg, path)
			s.Mode, s.Objective, s.Status = opts.Mode, string(opts.Objective), "feasible"
			s.Engine = "dp (stopped by the context: every tensor through DRAM)"
			break
		}
		if len(striped) == 0 {
			return nil, err
		}
		// keep the rejected striped tensors (every striped one, when the
		// reason names none or the rounds run out) in DRAM and solve again
		var hr homeRejection
		named := errors.As(err, &hr) && round < maxCheckRounds
		reject := map[string]bool{}
		if named {
			for _, n := range hr.HomeTensors() {
				reject[n] = true
			}
		}
		for i := range pr.Storages {
			st := &pr.Storages[i]
			if named && storageNamed(st, reject) || !named && constraints.StripedHomeTiles(st.Bytes, cfg) > 0 {
				st.Eligible = false
			}
		}
	}
	s.Bound = pr.lowerBound(cfg)
	s.Gap = gap(s.Predicted, s.Bound, opts.Objective)
	s.Seconds = time.Since(start).Seconds()
	return s, nil
}

// exactOrDRAM prices schedule s, which keeps tensors resident, exactly as
// the lowering emits it with its planned homes (reprice), and returns it,
// or the joint schedule with every tensor through DRAM (whose prices are
// exact by construction) when that one is no worse for the objective or s
// cannot be built (a home or a step the lowering cannot place).
func exactOrDRAM(ctx context.Context, g *model.Graph, cfg *kpu.Config, opts Options, s *model.GraphSchedule) (*model.GraphSchedule, error) {
	rerr := fixHomes(s, cfg)
	if rerr == nil {
		rerr = reprice(ctx, g, s, cfg)
	}
	o := opts
	o.NoResidency = true
	alt, err := Solve(ctx, g, cfg, o)
	if err != nil {
		return nil, err
	}
	if rerr != nil || objectiveValue(alt.Predicted, opts.Objective) <= objectiveValue(s.Predicted, opts.Objective) {
		return alt, nil
	}
	return s, nil
}

// objectiveWeights are the dynamic program's weights of a linear objective
// (edp, a product, falls back to latency).
func objectiveWeights(o constraints.Objective) weights {
	switch o {
	case constraints.Energy:
		return weights{En: 1}
	case constraints.Traffic:
		return weights{Traffic: 1}
	}
	return weights{Lat: 1}
}

// objectiveValue is the figure objective o minimizes.
func objectiveValue(p model.Figures, o constraints.Objective) float64 {
	switch o {
	case constraints.Energy:
		return p.EnergyPJ
	case constraints.Traffic:
		return float64(p.DRAMBytes)
	case constraints.EDP:
		return float64(p.LatencyCycles) * p.EnergyPJ
	}
	return float64(p.LatencyCycles)
}

func total(path []transition) Figures {
	var f Figures
	for _, t := range path {
		f = f.add(t.fig)
	}
	return f
}

func gap(p, b model.Figures, o constraints.Objective) float64 {
	var pv, bv float64
	switch o {
	case constraints.Energy:
		pv, bv = p.EnergyPJ, b.EnergyPJ
	case constraints.Traffic:
		pv, bv = float64(p.DRAMBytes), float64(b.DRAMBytes)
	case constraints.EDP:
		pv, bv = float64(p.LatencyCycles)*p.EnergyPJ, float64(b.LatencyCycles)*b.EnergyPJ
	default:
		pv, bv = float64(p.LatencyCycles), float64(b.LatencyCycles)
	}
	if pv <= 0 {
		return 0
	}
	return max(0, (pv-bv)/pv)
}
