package constraints

import (
	"fmt"
	"sort"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// opAlign is the byte alignment of on-chip staging buffers.
const opAlign = 64

// ioSpec is one operand block of a job: a strided block of a DRAM tensor
// (operand index t, byte offset, shape, byte strides), staged on chip densely
// in the same shape.
type ioSpec struct {
	t       int
	off     int64
	shape   []int64
	strides []int64
	dtype   model.DType
}

func (s ioSpec) bytes() int64 {
	n := s.dtype.Size()
	for _, d := range s.shape {
		n *= d
	}
	return n
}

// job is one tile of an operator: its input blocks are loaded (DMA) and moved
// to L2 (BlockMover), vec computes the output block in L2 on the vector
// engine, which is moved back to L3 and stored. A direct job (a layout
// change) only loads its single input into L3 with the input's strides and
// stores it with the output's.
type job struct {
	ins    []ioSpec
	out    ioSpec
	direct bool
	// vec returns the vector commands (engine, ids and deps are filled in)
	// computing out from ins; scratch are the L2 scratch buffers.
	vec func(in []*kpu.Access, out *kpu.Access, scratch []*kpu.Access) []kpu.Command
}

// pipeline is the jobs of an operator and the sizes of its staging buffers
// (every job's blocks fit them).
type pipeline struct {
	jobs    []job
	scratch []int64 // L2 scratch buffer bytes
	// shared[i]: every job reads the same block of input i (gamma, a scalar,
	// a whole bias): it gets one slot, loaded and moved once per compute tile.
	shared []bool
	// single: one slot of every buffer (no overlap of a job's transfers
	// with the previous job's work), when two do not fit.
	single bool
	// res, when set, names the L3-resident operands (no L3 staging) and
	// the L3 bytes per L3 tile the staging may use (PlanOpResident).
	res *residentOpts
}

// markShared finds the inputs whose block is the same in every job.
func (p *pipeline) markShared() {
	if len(p.jobs) == 0 || p.jobs[0].direct {
		return
	}
	n := len(p.jobs[0].ins)
	p.shared = make([]bool, n)
	for i := 0; i < n; i++ {
		a := p.jobs[0].ins[i]
		same := true
		for _, j := range p.jobs[1:] {
			b := j.ins[i]
			if b.t != a.t || b.off != a.off || b.dtype != a.dtype || !equal64(b.shape, a.shape) || !equal64(b.strides, a.strides) {
				same = false
				break
			}
		}
		p.shared[i] = same && len(p.jobs) > 1
	}
}

func equal64(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (p *pipeline) isShared(i int) bool { return i < len(p.shared) && p.shared[i] }

// slots is the number of buffer slots per buffer.
func (p *pipeline) slots() int {
	if p.single {
		return 1
	}
	return 2
}

// tileLayout is where one compute tile's slots live.
type tileLayout struct {
	l3Unit  int
	l3In    [][2]int64 // per input, per slot: offset in l3Unit
	l3Out   [2]int64
	l2In    [][2]bufAt
	l2Out   [2]bufAt
	scratch [][2]bufAt
}

type bufAt struct {
	bank int // global L2 bank
	off  int64
}

// sizes returns the per-slot bytes of every input and of the output.
func (p *pipeline) sizes() ([]int64, int64) {
	var in []int64
	var out int64
	for _, j := range p.jobs {
		for len(in) < len(j.ins) {
			in = append(in, 0)
		}
		for i, s := range j.ins {
			in[i] = max(in[i], s.bytes())
		}
		out = max(out, j.out.bytes())
	}
	return in, out
}

// layout places two slots of every staging buffer for each of the used
// compute tiles. L3: compute tile t uses L3 tile t mod L3Tiles, sharing it
// evenly with the other compute tiles mapped there. L2: each buffer lies in
// one bank of the tile, packed first-fit decreasing.
func (p *pipeline) layout(cfg *kpu.Config, used int) ([]tileLayout, int64, int64, error) {
	in, out := p.sizes()
	if cfg.L3Tiles < 1 || cfg.ComputeTiles < 1 || cfg.L2BanksPerTile() < 1 {
		return nil, 0, 0, fmt.Errorf("machine %s: needs L3 tiles, compute tiles and L2 banks", cfg.Name)
	}
	sharing := int64((used + cfg.L3Tiles - 1) / cfg.L3Tiles)
	region := cfg.L3TileBytes / sharing / opAlign * opAlign
	units := []int(nil) // L3 tiles holding the staging (nil: all, t mod L3Tiles)
	if p.res != nil {
		units, region = p.res.units(used)
		sharing = int64((used + len(units) - 1) / len(units))
	}
	// L3 slots.
	var l3 int64
	direct := len(p.jobs) > 0 && p.jobs[0].direct
	l3In := make([][2]int64, len(in))
	for i, b := range in {
		if p.resident(i) && !direct {
			continue // read from its home: slot offsets 0, no staging
		}
		for s := 0; s < 2; s++ {
			if s == 1 && (p.single || p.isShared(i)) {
				l3In[i][1] = l3In[i][0]
				continue
			}
			l3In[i][s] = l3
			l3 += alignUp(b, opAlign)
		}
	}
	var l3Out [2]int64
	if !direct && !p.residentOut() {
		for s := 0; s < p.slots(); s++ {
			l3Out[s] = l3
			l3 += alignUp(out, opAlign)
		}
		if p.single {
			l3Out[1] = l3Out[0]
		}
	}
	if direct && p.res != nil && (p.residentOut() || p.resident(0)) {
		l3 = 0 // the transfers read or write a home: no L3 staging is used
	}
	if l3 > region {
		return nil, 0, 0, &InfeasibleError{Shortfall: Shortfall{Level: "l3", What: "staging buffers of one compute tile", Need: l3, Have: region}}
	}
	// L2 buffers: inputs, output, scratch; two slots each.
	type item struct {
		size       int64
		kind, i, s int
	}
	var items []item
	if !direct {
		for i, b := range in {
			for s := 0; s < p.slots(); s++ {
				if s == 1 && p.isShared(i) {
					continue
				}
				items = append(items, item{b, 0, i, s})
			}
		}
		for s := 0; s < p.slots(); s++ {
			items = append(items, item{out, 1, 0, s})
		}
		for i, b := range p.scratch {
			for s := 0; s < p.slots(); s++ {
				items = append(items, item{b, 2, i, s})
			}
		}
	}
	sort.SliceStable(items, func(a, b int) bool { return items[a].size > items[b].size })
	banks := cfg.L2BanksPerTile()
	free := make([]int64, banks)
	pos := make([]bufAt, len(items))
	var l2 int64
	for k, it := range items {
		placed := false
		for bk := 0; bk < banks; bk++ {
			if free[bk]+it.size <= cfg.L2BankBytes {
				pos[k] = bufAt{bank: bk, off: free[bk]}
				free[bk] = alignUp(free[bk]+it.size, opAlign)
				l2 += it.size
				placed = true
				break
			}
		}
		if !placed {
			best := int64(0)
			for _, f := range free {
				best = max(best, cfg.L2BankBytes-f)
			}
			return nil, 0, 0, &InfeasibleError{Shortfall: Shortfall{Level: "l2", What: "a staging buffer (one bank must hold it)", Need: it.size, Have: best}}
		}
	}
	tl := make([]tileLayout, used)
	for t := 0; t < used; t++ {
		l := &tl[t]
		l.l3Unit = t % cfg.L3Tiles
		base := int64(t/cfg.L3Tiles) * region
		if units != nil {
			l.l3Unit = units[t%len(units)]
			base = int64(t/len(units)) * region
		}
		l.l3In = make([][2]int64, len(in))
		for i := range in {
			l.l3In[i] = [2]int64{base + l3In[i][0], base + l3In[i][1]}
		}
		l.l3Out = [2]int64{base + l3Out[0], base + l3Out[1]}
		l.l2In = make([][2]bufAt, len(in))
		l.scratch = make([][2]bufAt, len(p.scratch))
		for k, it := range items {
			at := bufAt{bank: t*banks + pos[k].bank, off: pos[k].off}
			alias := p.single && it.s == 0 // slot 1 is slot 0
			switch it.kind {
			case 0:
				l.l2In[it.i][it.s] = at
				if p.isShared(it.i) || alias {
					l.l2In[it.i][1] = at
				}
			case 1:
				l.l2Out[it.s] = at
				if alias {
					l.l2Out[1] = at
				}
			default:
				l.scratch[it.i][it.s] = at
				if alias {
					l.scratch[it.i][1] = at
				}
			}
		}
	}
	return tl, l3, l2, nil
}

func alignUp(x, a int64) int64 { return (x + a - 1) / a * a }

// emit builds the command stream of the pipeline (docs/graph-schedules.md):
// job j runs on compute tile j mod T (T = min(jobs, compute tiles)) in round
// j / T with slot round mod 2 (or always slot 0 when single); per round the
// loads and L2 moves of the next round are issued before this round's vector
// work and stores, so transfers overlap computation (single: the moves come
// after the stores, since they overwrite the L2 slot the work reads).
func (p *pipeline) emit(plan *OpPlan, cfg *kpu.Config) error {
	n := len(p.jobs)
	if n == 0 {
		return fmt.Errorf("operator %s: nothing to compute", plan.Op)
	}
	used := min(n, cfg.ComputeTiles)
	tl, l3b, l2b, err := p.layout(cfg, used)
	if err != nil {
		return fmt.Errorf("operator %s: %w", plan.Op, err)
	}
	plan.L3Bytes, plan.L2Bytes, plan.Tiles = l3b, l2b, n
	if cfg.DMAEngines < 1 || cfg.BlockMovers < 1 {
		return fmt.Errorf("machine %s: needs at least one DMA engine and block mover", cfg.Name)
	}
	rounds := (n + used - 1) / used
	type jobIDs struct {
		loads, moves []int
		lastVec      int
		moveOut      int
		store        int
	}
	ids := make([]jobIDs, n)
	for j := range ids {
		ids[j].lastVec, ids[j].moveOut, ids[j].store = -1, -1, -1
	}
	// dep appends the id of an emitted command (a previous occupant).
	dep := func(deps []int, id int) []int {
		if id >= 0 {
			deps = append(deps, id)
		}
		return deps
	}
	dmaNext := 0
	add := func(c OpCmd) int {
		c.ID = len(plan.Cmds)
		plan.Cmds = append(plan.Cmds, c)
		return c.ID
	}
	dma := func() kpu.Engine {
		e := kpu.Engine{Kind: kpu.DMA, Index: dmaNext % cfg.DMAEngines}
		dmaNext++
		return e
	}
	bm := make([][]int, used)
	for t := range bm {
		bm[t] = engineSet(cfg.BlockMovers, cfg.ComputeTiles, t)
	}
	prev := func(j int) int { // the job that used the same slots on the same tile
		if k := p.slots() * used; j-k >= 0 {
			return j - k
		}
		return -1
	}
	label := func(j int) string { return fmt.Sprintf("%s:tile%d", plan.Op, j) }
	l3Access := func(unit int, off int64, s ioSpec) *kpu.Access {
		return &kpu.Access{Level: kpu.L3, Unit: unit, Addr: off, Shape: s.shape, DType: s.dtype}
	}
	l2Access := func(at bufAt, s ioSpec) *kpu.Access {
		return &kpu.Access{Level: kpu.L2, Unit: at.bank, Addr: at.off, Shape: s.shape, DType: s.dtype}
	}
	dramAccess := func(s ioSpec) *kpu.Access {
		return &kpu.Access{Level: kpu.DRAM, Addr: s.off, Shape: s.shape, Strides: s.strides, DType: s.dtype}
	}
	loads := func(r int) {
		for j := r * used; j < min(n, (r+1)*used); j++ {
			jb, t, slot := &p.jobs[j], j%used, r%p.slots()
			ids[j].loads = make([]int, len(jb.ins))
			for i, s := range jb.ins {
				if p.isShared(i) && r > 0 {
					ids[j].loads[i] = -1 // loaded by the tile's first job
					continue
				}
				c := OpCmd{Command: kpu.Command{Label: label(j), Engine: dma(), Op: kpu.OpLoad, DType: s.dtype,
					Src: dramAccess(s), Dst: l3Access(tl[t].l3Unit, tl[t].l3In[i][slot], s)}, SrcT: s.t, Src2T: -1, DstT: -1}
				if q := prev(j); q >= 0 {
					if jb.direct {
						c.Deps = dep(nil, ids[q].store)
					} else {
						c.Deps = dep(nil, ids[q].moves[i])
					}
				}
				ids[j].loads[i] = add(c)
			}
		}
	}
	moves := func(r int) {
		for j := r * used; j < min(n, (r+1)*used); j++ {
			jb, t, slot := &p.jobs[j], j%used, r%p.slots()
			if jb.direct {
				continue
			}
			ids[j].moves = make([]int, len(jb.ins))
			for i, s := range jb.ins {
				if p.isShared(i) && r > 0 {
					// in L2 since the tile's first job, which the vector
					// engine's queue orders before this one
					ids[j].moves[i] = -1
					continue
				}
				c := OpCmd{Command: kpu.Command{Label: label(j), Engine: kpu.Engine{Kind: kpu.BlockMover, Index: bm[t][0]}, Op: kpu.OpMove, DType: s.dtype,
					Src: l3Access(tl[t].l3Unit, tl[t].l3In[i][slot], s), Dst: l2Access(tl[t].l2In[i][slot], s)}, SrcT: -1, Src2T: -1, DstT: -1}
				c.Deps = []int{ids[j].loads[i]}
				if q := prev(j); q >= 0 {
					c.Deps = dep(c.Deps, ids[q].lastVec)
				}
				ids[j].moves[i] = add(c)
			}
		}
	}
	compute := func(r int) error {
		for j := r * used; j < min(n, (r+1)*used); j++ {
			jb, t, slot := &p.jobs[j], j%used, r%p.slots()
			if jb.direct {
				continue
			}
			in := make([]*kpu.Access, len(jb.ins))
			for i, s := range jb.ins {
				in[i] = l2Access(tl[t].l2In[i][slot], s)
			}
			out := l2Access(tl[t].l2Out[slot], jb.out)
			scratch := make([]*kpu.Access, len(p.scratch))
			for i := range p.scratch {
				at := tl[t].scratch[i][slot]
				scratch[i] = &kpu.Access{Level: kpu.L2, Unit: at.bank, Addr: at.off}
			}
			vs := jb.vec(in, out, scratch)
			if len(vs) == 0 {
				return fmt.Errorf("operator %s: job %d has no vector work", plan.Op, j)
			}
			for k, v := range vs {
				v.Label = label(j)
				v.Engine = kpu.Engine{Kind: kpu.Vector, Index: t}
				if k == 0 {
					v.Deps = nil
					for _, m := range ids[j].moves {
						if m >= 0 {
							v.Deps = append(v.Deps, m)
						}
					}
					if q := prev(j); q >= 0 {
						v.Deps = dep(v.Deps, ids[q].moveOut)
					}
				}
				ids[j].lastVec = add(OpCmd{Command: v, SrcT: -1, Src2T: -1, DstT: -1})
			}
			c := OpCmd{Command: kpu.Command{Label: label(j), Engine: kpu.Engine{Kind: kpu.BlockMover, Index: bm[t][1%len(bm[t])]}, Op: kpu.OpMove, DType: jb.out.dtype,
				Src: out, Dst: l3Access(tl[t].l3Unit, tl[t].l3Out[slot], jb.out)}, SrcT: -1, Src2T: -1, DstT: -1}
			c.Deps = []int{ids[j].lastVec}
			if q := prev(j); q >= 0 {
				c.Deps = dep(c.Deps, ids[q].store)
			}
			ids[j].moveOut = add(c)
		}
		return nil
	}
	stores := func(r int) {
		for j := r * used; j < min(n, (r+1)*used); j++ {
			jb, t, slot := &p.jobs[j], j%used, r%p.slots()
			c := OpCmd{Command: kpu.Command{Label: label(j), Engine: dma(), Op: kpu.OpStore, DType: jb.out.dtype, Dst: dramAccess(jb.out)}, SrcT: -1, Src2T: -1, DstT: jb.out.t}
			if jb.direct {
				c.Src = l3Access(tl[t].l3Unit, tl[t].l3In[0][slot], jb.out)
				c.Deps = []int{ids[j].loads[0]}
			} else {
				c.Src = l3Access(tl[t].l3Unit, tl[t].l3Out[slot], jb.out)
				c.Deps = []int{ids[j].moveOut}
			}
			ids[j].store = add(c)
		}
	}
	loads(0)
	moves(0)
	for r := 0; r < rounds; r++ {
		if r+1 < rounds {
			loads(r + 1)
			if !p.single {
				moves(r + 1)
			}
		}
		if err := compute(r); err != nil {
			return err
		}
		stores(r)
		if p.single && r+1 < rounds {
			// one L2 slot: the next job's inputs replace this job's
			// only after its vector work
			moves(r + 1)
		}
	}
	return nil
}
