package graph

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/stillwater-sc/kpuopt/kpu"
)

// transition is one edge of the shortest path: steps [from, to) executed as
// one entry (a GEMM with to-from-1 fused operators, or a single step).
type transition struct {
	from, to int
	state    uint64 // residency of the tensors crossing boundary from
	resOut   bool
	pattern  Pattern
	cand     *Candidate
	fig      Figures
	ws, live int64
}

type label struct {
	cost float64
	via  transition
	prev uint64
}

// dp is the shortest path over (boundary, residency of the crossing
// tensors). Boundary b lies before step b.
type dp struct {
	pr      *Problem
	cfg     *kpu.Config
	opt     *options
	joint   bool
	maxLive int
}

// errTooWide marks a graph whose live sets exceed Options.MaxLive: the
// dynamic program would need too many states; Solve then uses "sat".
var errTooWide = errors.New("too many live tensors for the dynamic program")

func (d *dp) crossing() ([][]int, error) {
	n := len(d.pr.Steps)
	cr := make([][]int, n+1)
	if !d.joint {
		return cr, nil
	}
	for _, s := range d.pr.Storages {
		if !s.Eligible {
			continue
		}
		for b := s.Producer + 1; b <= s.Last; b++ {
			cr[b] = append(cr[b], s.ID)
		}
	}
	for b, c := range cr {
		if len(c) > d.maxLive {
			return nil, fmt.Errorf("graph %s: %d intermediate tensors are live before step %d (%s), more than the %d the exact program handles: %w",
				d.pr.Graph.Name, len(c), b, d.pr.Steps[min(b, n-1)].Op.Name, d.maxLive, errTooWide)
		}
	}
	return cr, nil
}

func (d *dp) run(ctx context.Context, w weights) ([]transition, error) {
	n := len(d.pr.Steps)
	cr, err := d.crossing()
	if err != nil {
		return nil, err
	}
	pos := make([]map[int]int, n+1)
	for b := range cr {
		pos[b] = map[int]int{}
		for i, id := range cr[b] {
			pos[b][id] = i
		}
	}
	labels := make([]map[uint64]label, n+1)
	for b := range labels {
		labels[b] = map[uint64]label{}
	}
	labels[0][0] = label{}
	l3 := d.cfg.L3Bytes()
	for b := 0; b < n; b++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		states := make([]uint64, 0, len(labels[b]))
		for s := range labels[b] {
			states = append(states, s)
		}
		sort.Slice(states, func(i, j int) bool { return states[i] < states[j] })
		for _, s := range states {
			lb := labels[b][s]
			var live int64
			for i, id := range cr[b] {
				if s&(1<<uint(i)) != 0 {
					live += d.pr.reserve(id, d.cfg)
				}
			}
			bit := func(id int) bool {
				i, ok := pos[b][id]
				return ok && s&(1<<uint(i)) != 0
			}
			for _, t := range d.options(b, s, live, l3, bit, w) {
				next := uint64(0)
				for i, id := range cr[t.to] {
					var on bool
					if id == d.pr.Steps[t.to-1].Out && d.pr.Steps[t.to-1].Kind != StepAlias {
						on = t.resOut
					} else {
						on = bit(id)
					}
					if on {
						next |= 1 << uint(i)
					}
				}
				c := lb.cost + w.of(t.fig)
				if old, ok := labels[t.to][next]; !ok || c < old.cost {
					labels[t.to][next] = label{cost: c, via: t, prev: s}
				}
			}
		}
	}
	end, ok := labels[n][0]
	if !ok {
		return nil, fmt.Errorf("graph %s: no schedule fits L3 (%d B) on %s", d.pr.Graph.Name, l3, d.cfg.Name)
	}
	var path []transition
	for b, lb := n, end; b > 0; {
		path = append(path, lb.via)
		b = lb.via.from
		lb = labels[b][lb.prev]
	}
	for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
		path[i], path[j] = path[j], path[i]
	}
	return path, nil
}

// options lists the best transition out of boundary b in state s for each
// choice of fusion length and output residency.
func (d *dp) options(b int, s uint64, live, l3 int64, bit func(int) bool, w weights) []transition {
	pr := d.pr
	st := &pr.Steps[b]
	var out []transition
	switch st.Kind {
	case StepAlias:
		out = append(out, transition{from: b, to: b + 1, state: s, live: live})
	case StepVector:
		for _, r := range d.outChoices(st.Out) {
			fig, ws, outBytes := d.vectorOption(b, bit, r)
			occ := live + ws
			if r {
				occ += outBytes
			}
			if occ > l3 {
				continue
			}
			out = append(out, transition{from: b, to: b + 1, state: s, resOut: r, fig: fig, ws: ws, live: occ - ws})
		}
	case StepGEMM:
		for f, byPat := range d.opt.gemm[b] {
			last := &pr.Steps[b+f]
			for _, r := range d.outChoices(last.Out) {
				var pat Pattern
				if bit(st.In[0]) {
					pat |= ResA
				}
				if len(st.In) > 1 && bit(st.In[1]) {
					pat |= ResB
				}
				occ := live
				if r {
					pat |= ResC
					occ += pr.reserve(last.Out, d.cfg)
				}
				var best *transition
				var bestV float64
				list := byPat[pat]
				for ci := range list {
					c := &list[ci]
					if occ+c.WorkingSet > l3 {
						continue
					}
					if v := w.of(c.Fig); best == nil || v < bestV {
						bestV = v
						best = &transition{from: b, to: b + f + 1, state: s, resOut: r, pattern: pat, cand: c, fig: c.Fig, ws: c.WorkingSet, live: occ}
					}
				}
				if best != nil {
					out = append(out, *best)
				}
			}
		}
	}
	return out
}

// vectorOption is the cost of vector step b with its inputs resident as bit
// says and its output resident if r: the exact cost alone minus what the
// residency saves in the vector estimate; with the L3 working set and the
// output's bytes.
func (d *dp) vectorOption(b int, bit func(int) bool, r bool) (Figures, int64, int64) {
	pr := d.pr
	st := &pr.Steps[b]
	var ins, dram []operandIO
	for j, id := range st.In {
		if id < 0 {
			o := operandIO{bytes: pr.Graph.Tensors[st.Op.Inputs[j]].Bytes()}
			ins, dram = append(ins, o), append(dram, o)
			continue
		}
		ins = append(ins, operandIO{bytes: pr.Storages[id].Bytes, resident: bit(id)})
		dram = append(dram, operandIO{bytes: pr.Storages[id].Bytes})
	}
	outBytes := pr.Storages[st.Out].Bytes
	est, ws := vectorCost(d.cfg, ins, operandIO{bytes: outBytes, resident: r}, st.VectorOps)
	est0, _ := vectorCost(d.cfg, dram, operandIO{bytes: outBytes}, st.VectorOps)
	outBytes = pr.reserve(st.Out, d.cfg) // its L3 capacity
	var mask uint32
	for j, id := range st.In {
		if id >= 0 && bit(id) {
			mask |= 1 << uint(j)
		}
	}
	if r {
		mask |= 1 << uint(len(st.In))
	}
	if f, ok := d.opt.vecRes[vectorKey{b, mask}]; ok && mask != 0 {
		return f, ws, outBytes
	}
	base := d.opt.vector[b]
	fig := Figures{
		Cycles: max(1, base.Cycles-(est0.Cycles-est.Cycles)),
		Energy: max(0, base.Energy-(est0.Energy-est.Energy)),
		DRAM:   max(0, base.DRAM-(est0.DRAM-est.DRAM)),
	}
	return fig, ws, outBytes
}

func (d *dp) outChoices(id int) []bool {
	if d.joint && d.pr.eligible(id) {
		return []bool{false, true}
	}
	return []bool{false}
}
