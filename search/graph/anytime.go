package graph

import (
	"context"
	"fmt"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
	"github.com/stillwater-sc/kpuopt/search"
)

// A solve stopped by its context (a time limit, Ctrl-C) still returns a
// schedule: the steps priced before the stop keep their candidate sets,
// the others get one mapping each (their seed search's, when it finished,
// else the closed-form kpusim rule), priced exactly with every tensor
// through DRAM. Work done after the stop runs on a detached context: it is
// bounded (one exact pricing per remaining operator, and a dynamic program
// that takes milliseconds).

// detached is ctx without its deadline and cancellation, for the bounded
// work that turns what a stopped solve has into a schedule.
func detached(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// stopped reports whether err comes from ctx being done.
func stopped(ctx context.Context, err error) bool { return err != nil && ctx.Err() != nil }

// cachedSeed is the mapping a seed search of engine name already found for
// p (ok false when none is cached).
func (s seedSpec) cachedSeed(name string, p constraints.Problem, obj constraints.Objective) (model.Mapping, bool) {
	if s.cache == nil {
		return model.Mapping{}, false
	}
	key := seedKey{name, p, obj}
	key.p.Name = ""
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	m, ok := s.cache.m[key]
	return m, ok
}

// fallbackCandidates is the candidate list of GEMM step st after the stop:
// the first cached seed mapping, else the kpusim rule's mapping (closed
// form), without residency and without fusion, priced exactly.
func (pr *Problem) fallbackCandidates(ctx context.Context, cfg *kpu.Config, st *Step, seeds seedSpec, obj constraints.Objective, ex *exact) ([]Candidate, error) {
	dctx := detached(ctx)
	p := st.Problem
	var m model.Mapping
	found := false
	for _, name := range seeds.names {
		if m, found = seeds.cachedSeed(name, p, obj); found {
			break
		}
	}
	if !found {
		r, err := search.Solve(dctx, "kpusim", p, cfg, search.Options{Objective: obj})
		if err != nil {
			return nil, fmt.Errorf("operator %s: fallback mapping: %w", st.Op.Name, err)
		}
		if r.Status == search.StatusInfeasible {
			return nil, fmt.Errorf("operator %s: fallback mapping: %w", st.Op.Name, r.Err)
		}
		m = r.Mapping
		m.Placement = nil
	}
	pl, err := constraints.Place(p, m, cfg)
	if err != nil {
		return nil, fmt.Errorf("operator %s: fallback mapping: %w", st.Op.Name, err)
	}
	fig, _, ok, err := ex.gemm(dctx, st.Op, nil, m)
	if err != nil {
		return nil, fmt.Errorf("operator %s: fallback mapping: %w", st.Op.Name, err)
	}
	if !ok {
		return nil, fmt.Errorf("operator %s: the fallback mapping cannot be costed", st.Op.Name)
	}
	s := stagingBytes(pl)
	return []Candidate{{Mapping: m, WorkingSet: s[0] + s[1] + s[2], Fig: fig}}, nil
}

// withoutResidency is d over the same candidates with no storage eligible
// for residency: the joint schedule with every tensor through DRAM (fusion
// stays joint), whose prices are exact by construction.
func (d *dp) withoutResidency() *dp {
	pr := *d.pr
	pr.Storages = append([]Storage(nil), d.pr.Storages...)
	for i := range pr.Storages {
		pr.Storages[i].Eligible = false
	}
	c := *d
	c.pr = &pr
	return &c
}
