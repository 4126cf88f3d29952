package graph

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/stillwater-sc/kpuopt/solver"
)

// The SAT encoding of the joint problem (engine "sat"), for package solver:
//
//   - r_s: storage s is resident (eligible storages only);
//   - F_{b,f}: GEMM step b fuses its first f chain operators (one-hot in f);
//     F_{b,f} with f > 0 forbids residency of the storages inside the chain;
//   - x: one option of a GEMM step (fusion length, residency pattern,
//     candidate), exactly one per GEMM; x implies its F and equates the
//     pattern's bits with the r of the operands' storages. Per (f, pattern)
//     only the candidates on the Pareto front of (working set, cost) are
//     kept, which loses no optimum;
//   - y: one option of a standalone vector step (the residency of its
//     operands), exactly one unless the step is fused;
//   - capacity, per GEMM step and fusion length (under F_{b,f}) and per
//     standalone vector or view step: the bytes of the resident storages
//     live there plus the option's working set <= L3, as a pseudo-boolean
//     sum compared with the capacity;
//   - objective: the sum of the options' costs (the scalarized figures,
//     rounded to integers), minimized by bound search under assumptions.
//
// The dynamic program solves the same problem exactly and faster; this
// encoding exists to cross-check it and for graphs whose live sets are too
// wide for the program's states.

// satOption is one literal of the encoding and what it stands for.
type satOption struct {
	lit solver.Lit
	t   transition
	ok  func(res map[int]bool) bool // consistency check when reading back
}

func (d *dp) runSAT(ctx context.Context, w weights) ([]transition, solver.Result, error) {
	pr := d.pr
	m := solver.NewModel()
	n := len(pr.Steps)
	l3 := d.cfg.L3Bytes()
	r := map[int]solver.Lit{}
	resident := func(id int) solver.Lit {
		if l, ok := r[id]; ok {
			return l
		}
		return m.False()
	}
	if d.joint {
		for _, s := range pr.Storages {
			if s.Eligible {
				r[s.ID] = m.NewBool()
			}
		}
	}
	crossing := func(b int) []int {
		var out []int
		for _, s := range pr.Storages {
			if _, ok := r[s.ID]; ok && s.Producer < b && s.Last >= b {
				out = append(out, s.ID)
			}
		}
		return out
	}
	liveTerms := func(b int) []solver.Term {
		var ts []solver.Term
		for _, id := range crossing(b) {
			ts = append(ts, solver.Term{Lit: r[id], Weight: pr.reserve(id, d.cfg)})
		}
		return ts
	}
	eq := func(a solver.Lit, v bool) solver.Lit {
		if v {
			return a
		}
		return a.Not()
	}
	capacity := func(cond solver.Lit, ts []solver.Term) error {
		sum, err := m.NewSum(solver.Linear{Terms: ts})
		if err != nil {
			return fmt.Errorf("graph %s: capacity sum: %w", pr.Graph.Name, err)
		}
		m.AddClause(cond.Not(), sum.Le(l3))
		return nil
	}
	var obj []solver.Term
	var options []satOption
	fusedInto := make([]solver.Lit, n) // step i runs inside an earlier GEMM's drain
	for i := range fusedInto {
		fusedInto[i] = m.False()
	}
	for b := 0; b < n; b++ {
		if err := ctx.Err(); err != nil {
			return nil, solver.Result{}, err
		}
		st := &pr.Steps[b]
		switch st.Kind {
		case StepAlias:
			if err := capacity(fusedInto[b].Not(), liveTerms(b)); err != nil {
				return nil, solver.Result{}, err
			}
		case StepVector:
			outs := d.outChoices(st.Out)
			ids := []int{}
			for _, id := range st.In {
				if _, ok := r[id]; ok {
					ids = append(ids, id)
				}
			}
			var ys []solver.Lit
			for mask := 0; mask < 1<<len(ids); mask++ {
				bits := map[int]bool{}
				for k, id := range ids {
					bits[id] = mask&(1<<k) != 0
				}
				for _, ro := range outs {
					fig, ws, outBytes := d.vectorOption(b, func(id int) bool { return bits[id] }, ro)
					y := m.NewBool()
					for _, id := range ids {
						m.AddImplication(y, eq(r[id], bits[id]))
					}
					if _, ok := r[st.Out]; ok {
						m.AddImplication(y, eq(r[st.Out], ro))
					}
					ts := liveTerms(b)
					if ro {
						ts = append(ts, solver.Term{Lit: y, Weight: outBytes})
					}
					ts = append(ts, solver.Term{Lit: y, Weight: ws})
					if err := capacity(y, ts); err != nil {
						return nil, solver.Result{}, err
					}
					obj = append(obj, solver.Term{Lit: y, Weight: int64(math.Round(w.of(fig)))})
					options = append(options, satOption{lit: y, t: transition{from: b, to: b + 1, resOut: ro, fig: fig, ws: ws}})
					ys = append(ys, y)
				}
			}
			m.ExactlyOne(append(ys, fusedInto[b])...)
		case StepGEMM:
			maxF := len(d.opt.gemm[b]) - 1
			fs := make([]solver.Lit, maxF+1)
			for f := range fs {
				fs[f] = m.NewBool()
			}
			m.ExactlyOne(fs...)
			for j := 1; j <= maxF; j++ {
				var on []solver.Lit
				for f := j; f <= maxF; f++ {
					on = append(on, fs[f])
				}
				fusedInto[b+j] = m.Or(on...)
			}
			var xs []solver.Lit
			for f := 0; f <= maxF; f++ {
				for j := 0; j < f; j++ {
					if id := pr.Steps[b+j].Out; id >= 0 {
						m.AddImplication(fs[f], resident(id).Not())
					}
				}
				last := &pr.Steps[b+f]
				capTerms := liveTerms(b)
				if _, ok := r[last.Out]; ok {
					capTerms = append(capTerms, solver.Term{Lit: r[last.Out], Weight: pr.reserve(last.Out, d.cfg)})
				}
				byPat := d.opt.gemm[b][f]
				pats := make([]Pattern, 0, len(byPat))
				for pat := range byPat {
					pats = append(pats, pat)
				}
				sort.Slice(pats, func(i, j int) bool { return pats[i] < pats[j] })
				for _, pat := range pats {
					if (pat.Has(0) && !hasLit(r, st.In[0])) || (pat.Has(1) && (len(st.In) < 2 || !hasLit(r, st.In[1]))) || (pat.Has(2) && !hasLit(r, last.Out)) {
						continue
					}
					for _, c := range paretoFront(byPat[pat], w) {
						x := m.NewBool()
						m.AddImplication(x, fs[f])
						if hasLit(r, st.In[0]) {
							m.AddImplication(x, eq(r[st.In[0]], pat.Has(0)))
						}
						if len(st.In) > 1 && hasLit(r, st.In[1]) && st.In[1] != st.In[0] {
							m.AddImplication(x, eq(r[st.In[1]], pat.Has(1)))
						}
						if hasLit(r, last.Out) {
							m.AddImplication(x, eq(r[last.Out], pat.Has(2)))
						}
						capTerms = append(capTerms, solver.Term{Lit: x, Weight: c.WorkingSet})
						obj = append(obj, solver.Term{Lit: x, Weight: int64(math.Round(w.of(c.Fig)))})
						options = append(options, satOption{lit: x, t: transition{from: b, to: b + f + 1, resOut: pat.Has(2), pattern: pat, cand: c, fig: c.Fig, ws: c.WorkingSet}})
						xs = append(xs, x)
					}
				}
				if err := capacity(fs[f], capTerms); err != nil {
					return nil, solver.Result{}, err
				}
			}
			m.ExactlyOne(xs...)
		}
	}
	sum, err := m.NewSum(solver.Linear{Terms: obj})
	if err != nil {
		return nil, solver.Result{}, fmt.Errorf("graph %s: objective sum: %w", pr.Graph.Name, err)
	}
	res, err := m.Minimize(ctx, sum, solver.MinimizeOptions{})
	if err != nil {
		return nil, res, fmt.Errorf("graph %s: %w", pr.Graph.Name, err)
	}
	if res.Status != solver.Optimal && res.Status != solver.Sat {
		if res.Status == solver.Unsat {
			return nil, res, fmt.Errorf("graph %s: no schedule fits L3 (%d B) on %s", pr.Graph.Name, l3, d.cfg.Name)
		}
		return nil, res, fmt.Errorf("graph %s: the solver found no schedule before the time limit: %w", pr.Graph.Name, ctx.Err())
	}
	sol := res.Solution
	res.Solution = nil
	// read back: the chosen option of every step, in order
	var path []transition
	chosen := map[int]transition{}
	for _, o := range options {
		if sol.Value(o.lit) {
			chosen[o.t.from] = o.t
		}
	}
	for b := 0; b < n; {
		t, ok := chosen[b]
		if !ok {
			if pr.Steps[b].Kind != StepAlias {
				return nil, res, fmt.Errorf("graph %s: internal error: no option chosen for step %d (%s)", pr.Graph.Name, b, pr.Steps[b].Op.Name)
			}
			t = transition{from: b, to: b + 1}
		}
		for _, id := range crossing(b) {
			if sol.Value(r[id]) {
				t.live += pr.reserve(id, d.cfg)
			}
		}
		if t.resOut && pr.Steps[t.to-1].Kind != StepAlias {
			t.live += pr.reserve(pr.Steps[t.to-1].Out, d.cfg)
		}
		path = append(path, t)
		b = t.to
	}
	return path, res, nil
}

func hasLit(r map[int]solver.Lit, id int) bool {
	_, ok := r[id]
	return id >= 0 && ok
}

// paretoFront keeps the candidates no other candidate beats in both working
// set and (scalarized) cost; ties keep the first.
func paretoFront(list []Candidate, w weights) []*Candidate {
	idx := make([]int, len(list))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool {
		a, b := &list[idx[i]], &list[idx[j]]
		if a.WorkingSet != b.WorkingSet {
			return a.WorkingSet < b.WorkingSet
		}
		return w.of(a.Fig) < w.of(b.Fig)
	})
	var out []*Candidate
	best := math.Inf(1)
	for _, i := range idx {
		if v := w.of(list[i].Fig); v < best {
			best = v
			out = append(out, &list[i])
		}
	}
	return out
}
