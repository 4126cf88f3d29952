package graph

import (
	"context"
	"math"
)

// bruteForce is the test oracle of the dynamic program: it enumerates every
// fusion length of every GEMM and every residency of every eligible storage,
// checks the L3 capacity of every entry from the residency intervals, and
// picks for each entry its cheapest candidate that fits (given fusion and
// residency the entries only interact through capacity, which is per entry).
// It returns the best objective value, or +Inf when nothing fits.
func bruteForce(ctx context.Context, d *dp, w weights) float64 {
	pr, cfg := d.pr, d.cfg
	var gemms []int
	for i, s := range pr.Steps {
		if s.Kind == StepGEMM {
			gemms = append(gemms, i)
		}
	}
	var eligible []int
	for _, s := range pr.Storages {
		if s.Eligible {
			eligible = append(eligible, s.ID)
		}
	}
	best := math.Inf(1)
	fuse := make([]int, len(gemms))
	l3 := cfg.L3Bytes()
	for {
		// group steps into entries under this fusion choice
		type entry struct{ from, to int }
		var entries []entry
		internal := map[int]bool{}
		for i := 0; i < len(pr.Steps); {
			n := 1
			for gi, g := range gemms {
				if g == i {
					n += fuse[gi]
				}
			}
			for j := i; j < i+n-1; j++ {
				internal[pr.Steps[j].Out] = true
			}
			entries = append(entries, entry{i, i + n})
			i += n
		}
		for mask := 0; mask < 1<<len(eligible); mask++ {
			if ctx.Err() != nil {
				return best
			}
			res := map[int]bool{}
			ok := true
			for k, id := range eligible {
				if mask&(1<<k) != 0 {
					if internal[id] {
						ok = false
						break
					}
					res[id] = true
				}
			}
			if !ok {
				continue
			}
			total := 0.0
			for _, e := range entries {
				// live resident bytes: storages with Producer <= last step and Last >= first step
				var live int64
				for id := range res {
					s := pr.Storages[id]
					if s.Producer <= e.to-1 && s.Last >= e.from {
						live += s.Bytes
					}
				}
				st := &pr.Steps[e.from]
				last := &pr.Steps[e.to-1]
				v := math.Inf(1)
				switch st.Kind {
				case StepAlias:
					v = 0
					if live > l3 {
						v = math.Inf(1)
					}
				case StepVector:
					fig, ws, outBytes := d.vectorOption(e.from, func(id int) bool { return res[id] }, res[st.Out])
					occ := live + ws
					_ = outBytes // the output's bytes are already in live when resident
					if occ <= l3 {
						v = w.of(fig)
					}
				case StepGEMM:
					var pat Pattern
					if st.In[0] >= 0 && res[st.In[0]] {
						pat |= ResA
					}
					if st.In[1] >= 0 && res[st.In[1]] {
						pat |= ResB
					}
					if res[last.Out] {
						pat |= ResC
					}
					f := e.to - e.from - 1
					if f < len(d.opt.gemm[e.from]) {
						for _, c := range d.opt.gemm[e.from][f][pat] {
							if live+c.WorkingSet <= l3 {
								v = min(v, w.of(c.Fig))
							}
						}
					}
				}
				total += v
			}
			best = min(best, total)
		}
		// next fusion choice
		k := 0
		for ; k < len(gemms); k++ {
			if fuse[k] < pr.Steps[gemms[k]].Chain {
				fuse[k]++
				break
			}
			fuse[k] = 0
		}
		if k == len(gemms) {
			return best
		}
	}
}
