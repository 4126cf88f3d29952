package graph

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// gemmKey identifies a GEMM problem for the candidate cache (ResNet repeats
// its shapes).
type gemmKey struct {
	batch, m, n, k int64
	dtype          model.DType
	ta, tb         bool
	pats           string
}

// options holds, per GEMM step, the candidate lists by fusion length and
// residency pattern, and per vector step its exact cost alone.
type options struct {
	gemm   map[int][]map[Pattern][]Candidate
	vector map[int]Figures
	// vecRes are the exact figures of vector steps with resident operands
	// (vectorResident); a missing key falls back to the estimate.
	vecRes map[vectorKey]Figures
	// stopped is set when the context ended while the candidates were
	// built: the steps after the stop have one fallback mapping each, and
	// no tensor may stay resident (Solve turns residency off).
	stopped bool
}

// candidates evaluates every GEMM step under the residency patterns its
// operands allow (only the empty pattern when not joint) and every fusion
// length (none when not joint), and every vector step alone.
func (pr *Problem) candidates(ctx context.Context, cfg *kpu.Config, joint bool, opts CandidateOptions, seeds seedSpec, obj constraints.Objective) (*options, error) {
	out := &options{gemm: map[int][]map[Pattern][]Candidate{}, vector: map[int]Figures{}, vecRes: map[vectorKey]Figures{}}
	cache := map[gemmKey][]Evaluated{}
	ex := seeds.cache.exactFor(pr.Graph, cfg)
	for i := range pr.Steps {
		st := &pr.Steps[i]
		if !out.stopped && ctx.Err() != nil {
			out.stopped = true
		}
		if st.Kind == StepVector {
			vctx := ctx
			if out.stopped {
				vctx = detached(ctx)
			}
			f, err := ex.vector(vctx, st.Op)
			if stopped(ctx, err) {
				out.stopped = true
				f, err = ex.vector(detached(ctx), st.Op)
			}
			if err != nil {
				return nil, err
			}
			out.vector[i] = f
			if joint && !out.stopped {
				if err := pr.vectorResident(ctx, cfg, i, out.vecRes); err != nil && !stopped(ctx, err) {
					return nil, fmt.Errorf("operator %s: %w", st.Op.Name, err)
				}
			}
			continue
		}
		if st.Kind == StepGEMM && out.stopped {
			l, err := pr.fallbackCandidates(ctx, cfg, st, seeds, obj, ex)
			if err != nil {
				return nil, err
			}
			out.gemm[i] = []map[Pattern][]Candidate{{0: l}}
			continue
		}
		if st.Kind != StepGEMM {
			continue
		}
		var allow Pattern
		if joint {
			if pr.eligible(st.In[0]) {
				allow |= ResA
			}
			if pr.eligible(st.In[1]) {
				allow |= ResB
			}
			for f := 0; f <= st.Chain; f++ {
				if pr.eligible(pr.Steps[i+f].Out) {
					allow |= ResC
				}
			}
		}
		var pats []Pattern
		for p := Pattern(0); p <= ResA|ResB|ResC; p++ {
			if p&^allow == 0 {
				pats = append(pats, p)
			}
		}
		p := st.Problem
		key := gemmKey{p.Batch, p.M, p.N, p.K, p.DType, p.TransA, p.TransB, fmt.Sprint(pats)}
		evs, ok := cache[key]
		if !ok {
			o := opts
			o.Seeds = append([]model.Mapping(nil), opts.Seeds...)
			for _, name := range seeds.names {
				m, err := seeds.seed(ctx, name, p, cfg, obj)
				if stopped(ctx, err) {
					break
				}
				if err != nil {
					return nil, fmt.Errorf("operator %s: %w", st.Op.Name, err)
				}
				o.Seeds = append(o.Seeds, m)
			}
			var err error
			if ctx.Err() == nil {
				evs, err = GEMMCandidates(ctx, p, cfg, pats, o)
			}
			if ctx.Err() != nil {
				// stopped while this step was searched: fall back
				out.stopped = true
				l, err := pr.fallbackCandidates(ctx, cfg, st, seeds, obj, ex)
				if err != nil {
					return nil, err
				}
				out.gemm[i] = []map[Pattern][]Candidate{{0: l}}
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("operator %s: %w", st.Op.Name, err)
			}
			cache[key] = evs
		}
		maxF := 0
		if joint {
			maxF = st.Chain
		}
		rho := ex.gatherRatio(st)
	lengths:
		for f := 0; f <= maxF; f++ {
			chain := make([]*model.Operator, f)
			for j := range chain {
				chain[j] = pr.Steps[i+1+j].Op
			}
			byPat := map[Pattern][]Candidate{}
			for _, ev := range evs {
				base, ext, ok, err := ex.gemm(ctx, st.Op, chain, ev.Mapping)
				if stopped(ctx, err) {
					out.stopped = true
					if f > 0 {
						break lengths // keep the fusion lengths priced so far
					}
					l, err := pr.fallbackCandidates(ctx, cfg, st, seeds, obj, ex)
					if err != nil {
						return nil, err
					}
					out.gemm[i] = []map[Pattern][]Candidate{{0: l}}
					break lengths
				}
				if err != nil {
					return nil, err
				}
				if !ok {
					continue
				}
				for k, pat := range pats {
					var ws int64
					for x := constraints.OpA; x <= constraints.OpC; x++ {
						if !pat.Has(x) {
							ws += ev.Staging[x]
						}
					}
					fig := withResidency(base, ev.Outcomes, pats, k, rho)
					byPat[pat] = append(byPat[pat], Candidate{Mapping: ev.Mapping, WorkingSet: ws + ext, Fig: fig})
				}
			}
			if f == 0 && len(byPat[0]) == 0 {
				return nil, fmt.Errorf("operator %s: no candidate mapping can be costed", st.Op.Name)
			}
			if len(byPat[0]) == 0 {
				break // this fusion length is not lowerable; longer ones neither
			}
			for _, l := range byPat {
				sort.SliceStable(l, func(a, b int) bool { return l[a].WorkingSet < l[b].WorkingSet })
			}
			out.gemm[i] = append(out.gemm[i], byPat)
		}
	}
	return out, nil
}

// withResidency adjusts the exact no-residency figure base of a mapping to
// residency pattern pats[k]: it subtracts what the pattern saves on the
// mapping's GEMM-view replay (the DMA commands that no longer exist). For a
// convolution, whose lowering gathers A from the input instead of loading
// im2col blocks, the part of the saving due to A is scaled by rho, the
// ratio of the input's bytes to the im2col matrix's.
func withResidency(base Figures, out []Outcome, pats []Pattern, k int, rho float64) Figures {
	pat := pats[k]
	if pat == 0 {
		return base
	}
	idx := func(p Pattern) int {
		for i, q := range pats {
			if q == p {
				return i
			}
		}
		return 0
	}
	zero := out[idx(0)]
	save := func(o Outcome) (float64, float64, float64) {
		return float64(zero.Cycles - o.Cycles), zero.EnergyPJ - o.EnergyPJ, float64(zero.DRAM - o.DRAM)
	}
	c, e, d := save(out[k])
	if pat.Has(constraints.OpA) && rho < 1 {
		c0, e0, d0 := save(out[idx(pat&^ResA)])
		c, e, d = c0+rho*(c-c0), e0+rho*(e-e0), d0+rho*(d-d0)
	}
	f := Figures{
		Cycles: base.Cycles - int64(math.Round(c)),
		Energy: base.Energy - e,
		DRAM:   base.DRAM - int64(math.Round(d)),
	}
	f.Cycles = max(f.Cycles, 1)
	f.Energy = max(f.Energy, 0)
	f.DRAM = max(f.DRAM, 0)
	return f
}

func (pr *Problem) eligible(id int) bool { return id >= 0 && pr.Storages[id].Eligible }
