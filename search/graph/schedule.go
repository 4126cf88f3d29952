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
// fusion, operators one after another): the sum of groupBounds. Compulsory
// bytes are counted once for the whole graph: each weight and graph input at
// its first reader, each graph output at its producer; intermediates may stay
// on chip.
func (pr *Problem) lowerBound(cfg *kpu.Config) model.Figures {
	var b model.Figures
	for _, g := range pr.groupBounds(cfg) {
		b.LatencyCycles += g.Cycles
		b.DRAMBytes += g.DRAM
		b.EnergyPJ += g.Energy
	}
	return b
}

// groupBound is the bound of steps [From, To): a GEMM with the chain that
// may fuse into it, or a lone step.
type groupBound struct {
	From, To int
	Figures
}

// groupBounds bounds each group of steps: the largest of
//   - its DMA time: its compulsory DRAM bytes over every DMA engine, and
//     that of its compulsory loads followed by the shortest use of the
//     last loaded data (a move into L2, a command, a move out, and a store
//     for a graph output);
//   - for a GEMM: the pass-by-pass fabric bound of its busiest tile with
//     the shortest transfer chain before the first matmul and after the
//     last (fabricGrainBound, gemmChain); its fabric bound MACs/(T R C)
//     and the L2 I/O bound over all BlockMovers (gemmComputeBound); the
//     BlockMover time of its busiest tile (moverBound);
//   - for vector work: its vector-engine time over every tile, with the
//     chain of a lone vector step (vectorChain), and its bytes through the
//     BlockMovers.
//
// Its DRAM bound is its compulsory bytes, its energy bound the MAC energy
// plus those bytes at DRAM and L3 prices.
func (pr *Problem) groupBounds(cfg *kpu.Config) []groupBound {
	var out []groupBound
	readSeen := map[string]bool{}
	bmBW := cfg.EngineBandwidth(kpu.BlockMover, 1) * float64(min(cfg.BlockMovers, 2*cfg.ComputeTiles))
	for i := 0; i < len(pr.Steps); {
		st := &pr.Steps[i]
		n := 1
		if st.Kind == StepGEMM {
			n += st.Chain
		}
		var comp, mem, loads, vops, moved int64
		var macEnergy float64
		dramIn, vecDRAMIn := false, false
		outBytes := int64(8)
		for j := i; j < i+n; j++ {
			sj := &pr.Steps[j]
			if sj.Kind == StepAlias {
				continue
			}
			for k, name := range sj.Op.Inputs {
				if sj.In[k] < 0 && (sj.Kind != StepGEMM || k < 2) {
					if sj.Kind == StepGEMM {
						dramIn = true
					} else {
						vecDRAMIn = true
					}
				}
				if sj.Kind == StepVector {
					moved += pr.Graph.Tensors[name].Bytes()
				}
				if sj.In[k] >= 0 || readSeen[name] {
					continue
				}
				if pr.Graph.Producer(name) != nil {
					continue // a view of an intermediate
				}
				readSeen[name] = true
				mem += pr.Graph.Tensors[name].Bytes()
				loads += pr.Graph.Tensors[name].Bytes()
			}
			outT := pr.Graph.Tensors[sj.Op.Outputs[0]]
			outBytes = min(outBytes, outT.DType.Size())
			if sj.Kind == StepVector {
				moved += outT.Bytes()
			}
			if sj.Out >= 0 && pr.Storages[sj.Out].Output && j == i+n-1 {
				mem += outT.Bytes()
			}
			vops += vectorPassesAtLeast(pr.Graph, sj)
		}
		last := &pr.Steps[i+n-1]
		dramOut := last.Out < 0 || pr.Storages[last.Out].Output
		if st.Kind == StepGEMM {
			p := st.Problem
			comp = max(gemmComputeBound(p, cfg),
				fabricGrainBound(p, cfg)+gemmChain(cfg, dramIn, dramOut),
				moverBound(p, cfg, outBytes))
			macEnergy = float64(p.MACs()) * cfg.MACEnergy(string(p.DType))
		}
		if vops > 0 {
			v := vectorWork(cfg, vops)
			if st.Kind == StepVector {
				v += vectorChain(cfg, vecDRAMIn, dramOut)
				if bmBW > 0 {
					comp = max(comp, cdiv(moved, bmBW)+cfg.TransferLatency(kpu.BlockMover))
				}
			}
			comp = max(comp, v)
		}
		if loads > 0 {
			// the data of the last load is then moved into L2, used and
			// the result moved out (and stored, for a graph output)
			tail := 2*xferMin(cfg, kpu.BlockMover) + 1
			if dramOut {
				tail += xferMin(cfg, kpu.DMA)
			}
			comp = max(comp, dmaWork(cfg, loads)+tail)
		}
		out = append(out, groupBound{From: i, To: i + n, Figures: Figures{
			Cycles: max(comp, dmaWork(cfg, mem)),
			DRAM:   mem,
			Energy: macEnergy + float64(mem)*(cfg.Energy.DRAM+cfg.Energy.L3),
		}})
		i += n
	}
	return out
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
