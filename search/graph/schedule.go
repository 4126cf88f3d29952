package graph

import (
	"math"
	"sort"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// schedule turns the chosen path into a model.GraphSchedule.
func (pr *Problem) schedule(cfg *kpu.Config, path []transition) *model.GraphSchedule {
	s := &model.GraphSchedule{Graph: pr.Graph.Name, Config: cfg.Name}
	entryOf := make([]int, len(pr.Steps))
	resident := map[int]bool{}
	for _, t := range path {
		if t.resOut {
			resident[pr.Steps[t.to-1].Out] = true
		}
	}
	for ei, t := range path {
		st := &pr.Steps[t.from]
		last := &pr.Steps[t.to-1]
		for i := t.from; i < t.to; i++ {
			entryOf[i] = ei
		}
		op := model.ScheduledOp{
			Name: st.Op.Name, Type: st.Op.Type, Output: last.Op.Outputs[0],
			WorkingSetBytes: t.ws, L3LiveBytes: t.live,
			Predicted: model.Figures{LatencyCycles: t.fig.Cycles, EnergyPJ: t.fig.Energy, DRAMBytes: t.fig.DRAM},
		}
		if t.cand != nil {
			m := t.cand.Mapping
			op.Mapping = &m
			op.ResidentA, op.ResidentB, op.ResidentC = t.pattern.Has(constraints.OpA), t.pattern.Has(constraints.OpB), t.pattern.Has(constraints.OpC)
			for i := t.from + 1; i < t.to; i++ {
				op.FusedOps = append(op.FusedOps, pr.Steps[i].Op.Name)
			}
		} else if st.Kind == StepVector {
			for j, id := range st.In {
				if id >= 0 && resident[id] {
					op.ResidentIn = append(op.ResidentIn, st.Op.Inputs[j])
				}
			}
			if t.resOut {
				op.ResidentOut = []string{st.Op.Outputs[0]}
			}
		}
		s.Ops = append(s.Ops, op)
		s.Predicted.LatencyCycles += t.fig.Cycles
		s.Predicted.EnergyPJ += t.fig.Energy
		s.Predicted.DRAMBytes += t.fig.DRAM
		s.L3Peak = max(s.L3Peak, t.live+t.ws)
	}
	ids := make([]int, 0, len(resident))
	for id := range resident {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		st := pr.Storages[id]
		s.Resident = append(s.Resident, model.ResidentTensor{
			Tensor: st.Name, Aliases: st.Aliases, Bytes: st.Bytes,
			First: entryOf[st.Producer], Last: entryOf[st.Last], L3Offset: -1,
		})
	}
	return s
}

// lowerBound bounds every schedule of the graph (any mappings, residency and
// fusion, operators one after another): per group (a GEMM with the chain that
// may fuse into it, or a lone step) the larger of its compute time and the
// DMA time of its compulsory DRAM bytes, summed over the groups. Compulsory
// bytes are counted once for the whole graph: each weight and graph input at
// its first reader, each graph output at its producer; intermediates may stay
// on chip. A GEMM's compute time is the larger of its fabric bound and the
// L2 I/O bound over the BlockMovers (Kwasniewski et al.; L2 is filled from L3
// whatever the residency); a vector step's is its vector-engine time.
func (pr *Problem) lowerBound(cfg *kpu.Config) model.Figures {
	var b model.Figures
	readSeen := map[string]bool{}
	dmaBW := dmaBandwidth(cfg)
	var compBytes int64
	var macEnergy float64
	for i := 0; i < len(pr.Steps); {
		st := &pr.Steps[i]
		n := 1
		if st.Kind == StepGEMM {
			n += st.Chain
		}
		var comp, mem int64
		var vops int64
		for j := i; j < i+n; j++ {
			sj := &pr.Steps[j]
			if sj.Kind == StepAlias {
				continue
			}
			for k, name := range sj.Op.Inputs {
				if sj.In[k] >= 0 || readSeen[name] {
					continue
				}
				if pr.Graph.Producer(name) != nil {
					continue // a view of an intermediate
				}
				readSeen[name] = true
				mem += pr.Graph.Tensors[name].Bytes()
			}
			if sj.Out >= 0 && pr.Storages[sj.Out].Output && j == i+n-1 {
				mem += pr.Graph.Tensors[sj.Op.Outputs[0]].Bytes()
			}
			vops += sj.VectorOps
			if sj.Kind == StepGEMM {
				p := sj.Problem
				comp = max(comp, gemmComputeBound(p, cfg))
				macEnergy += float64(p.MACs()) * cfg.MACEnergy(string(p.DType))
			}
		}
		if vops > 0 {
			rate := cfg.VectorElemsPerCycle
			if rate <= 0 {
				rate = float64(max(cfg.ArrayRows, cfg.ArrayCols))
			}
			comp = max(comp, int64(math.Ceil(float64(vops)/(rate*float64(cfg.ComputeTiles)))))
		}
		b.LatencyCycles += max(comp, cdiv(mem, dmaBW))
		compBytes += mem
		i += n
	}
	b.DRAMBytes = compBytes
	b.EnergyPJ = macEnergy + float64(compBytes)*(cfg.Energy.DRAM+cfg.Energy.L3)
	return b
}

// gemmComputeBound is max(MACs / (tiles x R x C), the L2 I/O bound: every
// compute tile's L2 of S elements receives at least max(MK+KN+MN,
// 2MNK/sqrt(S)+MN) elements in total, through all the BlockMovers).
func gemmComputeBound(p constraints.Problem, cfg *kpu.Config) int64 {
	pes := int64(cfg.ComputeTiles) * int64(cfg.ArrayRows) * int64(cfg.ArrayCols)
	fab := ceilDiv(p.MACs(), pes)
	e := float64(p.ElemBytes())
	M, N, K := float64(p.M), float64(p.N), float64(p.K)
	q := M*K + K*N + M*N
	if s := float64(cfg.L2BytesPerTile()) / e; s > 0 {
		q = max(q, 2*M*N*K/math.Sqrt(s)+M*N)
	}
	bw := float64(cfg.BlockMovers) * cfg.EngineBandwidth(kpu.BlockMover, p.ElemBytes())
	io := int64(0)
	if bw > 0 {
		io = int64(math.Ceil(float64(p.Batch) * q * e / bw))
	}
	return max(fab, io)
}
