package graph

import (
	"math"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// Per-step lower bounds of the graph bound (docs/graph-optimization.md §4).
// Every one holds for any mapping (splits of M, N and K included), any
// residency and any fusion, under the timing rules of kpu/timing.go and the
// stream of docs/mapping.md; the operators of a schedule run one after the
// other (each starts after the previous one's last command), so the bounds
// of the steps add up.

// xferMin is the shortest transfer on an engine of kind k: its latency and
// one cycle.
func xferMin(cfg *kpu.Config, k kpu.EngineKind) int64 { return cfg.TransferLatency(k) + 1 }

// fabricGrainBound bounds the busiest fabric of GEMM p, pass by pass: with a
// split (Sm, Sn, Sk), compute tile 0 owns the first part of every L3 tile,
// so its matmuls cover at least ceil(M/(Sm R)) x ceil(N/(Sn C)) passes of
// ceil(K/Sk) cycles in all, in every one of the Batch products, and it runs
// at least one matmul per product, each paying R + C cycles of fill and
// drain (kpu.Config.FabricCycles); with Sk > 1 the reduction chain of the
// last block follows. The bound is the least over the splits.
func fabricGrainBound(p constraints.Problem, cfg *kpu.Config) int64 {
	r, c := int64(cfg.ArrayRows), int64(cfg.ArrayCols)
	t := int64(cfg.ComputeTiles)
	if r <= 0 || c <= 0 || t <= 0 || p.M <= 0 || p.N <= 0 || p.K <= 0 {
		return 0
	}
	// a K split's later parts each add a reduce_in, an add and a move out
	// after the previous part's move out of the last block (docs/mapping.md
	// §2): a chain the first part's last matmul starts
	red := 2*xferMin(cfg, kpu.BlockMover) + cfg.VectorCycles(1)
	best := int64(math.MaxInt64)
	for sm := int64(1); sm <= min(p.M, t); sm++ {
		for sn := int64(1); sn <= min(p.N, t/sm); sn++ {
			for sk := int64(1); sk <= min(p.K, t/(sm*sn)); sk++ {
				v := p.Batch*(ceilDiv(p.M, sm*r)*ceilDiv(p.N, sn*c)*ceilDiv(p.K, sk)+r+c) + (sk-1)*red
				best = min(best, v)
			}
		}
	}
	return best
}

// movedAtLeast is the least number of elements the BlockMovers move into and
// out of one compute tile's L2 for w multiply-accumulates of products whose
// outputs have at most outCap elements each: the tile's MACs (i, j, k) see
// |A| elements of A, |B| of B and |C| of C, each moved at least once (A and
// B into L2, every C block out of it), and w <= sqrt(|A| |B| |C|) (Loomis
// and Whitney), so |A| + |B| + |C| >= 2w/sqrt(|C|) + |C|, least at |C| =
// w^(2/3) when that is within outCap. The function is concave and zero at
// zero, so the bound of a sum of products is at least that of their total.
func movedAtLeast(w, outCap float64) float64 {
	if w <= 0 {
		return 0
	}
	o := math.Cbrt(w * w)
	if o <= outCap || outCap <= 0 {
		return 3 * o
	}
	return 2*w/math.Sqrt(outCap) + outCap
}

// moverBound bounds the BlockMover time of GEMM p (with out the element size
// of the C blocks it moves out): the busiest compute tile holds at least
// MACs/T of the work and its own floor(BlockMovers/T) engines move its bytes
// (with fewer BlockMovers than tiles, engine j serves every tile t with t
// mod BlockMovers = j: at least MACs/BlockMovers of work per engine).
func moverBound(p constraints.Problem, cfg *kpu.Config, out int64) int64 {
	bw := cfg.EngineBandwidth(kpu.BlockMover, p.ElemBytes())
	if bw <= 0 || cfg.BlockMovers <= 0 || cfg.ComputeTiles <= 0 {
		return 0
	}
	share := float64(min(cfg.ComputeTiles, cfg.BlockMovers))
	engines := float64(max(1, cfg.BlockMovers/cfg.ComputeTiles))
	elems := movedAtLeast(float64(p.MACs())/share, float64(p.M*p.N))
	e := float64(min(p.ElemBytes(), out))
	return int64(math.Ceil(elems*e/(engines*bw))) + cfg.TransferLatency(kpu.BlockMover)
}

// gemmChain is the shortest chain of transfers around the matmuls of a GEMM
// step: before its first matmul, a move of A and B into L2 (after a DMA
// load when an operand can only be in DRAM: a weight or a graph input) and
// a feed into L1; after its last, a move out of L2 (and a DMA store when
// the output is a graph output).
func gemmChain(cfg *kpu.Config, dramIn, dramOut bool) int64 {
	c := xferMin(cfg, kpu.BlockMover) + xferMin(cfg, kpu.Streamer) + xferMin(cfg, kpu.BlockMover)
	if dramIn {
		c += xferMin(cfg, kpu.DMA)
	}
	if dramOut {
		c += xferMin(cfg, kpu.DMA)
	}
	return c
}

// vectorChain is the same for a vector step: a move of an input into L2 (a
// DMA load first when an input can only be in DRAM), the vector command,
// and a move of the output out of L2 (then a DMA store for a graph output).
func vectorChain(cfg *kpu.Config, dramIn, dramOut bool) int64 {
	c := xferMin(cfg, kpu.BlockMover) + xferMin(cfg, kpu.BlockMover)
	if dramIn {
		c += xferMin(cfg, kpu.DMA)
	}
	if dramOut {
		c += xferMin(cfg, kpu.DMA)
	}
	return c
}

// vectorWork bounds the vector-engine time of vops element-passes spread
// over every compute tile (at least one command, kpu.Config.VectorCycles).
func vectorWork(cfg *kpu.Config, vops int64) int64 {
	if vops <= 0 {
		return 0
	}
	rate := cfg.VectorElemsPerCycle
	if rate <= 0 {
		rate = float64(max(cfg.ArrayRows, cfg.ArrayCols))
	}
	return cfg.Latency.L1 + int64(math.Ceil(float64(vops)/(rate*float64(max(cfg.ComputeTiles, 1)))))
}

// dmaWork bounds the DMA time of bytes spread over every DMA engine (the
// busiest engine runs at least one transfer).
func dmaWork(cfg *kpu.Config, bytes int64) int64 {
	if bytes <= 0 {
		return 0
	}
	return cdiv(bytes, dmaBandwidth(cfg)) + cfg.TransferLatency(kpu.DMA)
}

// vectorPassesAtLeast is the least vector-engine work (elements x passes,
// as kpu.Config.VectorCycles charges it) of step st as the lowering emits
// it (docs/graph-schedules.md §2): one pass over the output for an
// elementwise operator, a pooling (its window may lie in the padding) and a
// GEMM's bias; softmax two (kpu.VectorPasses); layernorm two and its gamma
// one; nothing for a layout change.
func vectorPassesAtLeast(g *model.Graph, st *Step) int64 {
	out := g.Tensors[st.Op.Outputs[0]].Elements()
	switch {
	case st.Kind == StepGEMM:
		if st.VectorOps > 0 {
			return out
		}
		return 0
	case st.Kind != StepVector || st.Op.Type == model.OpTranspose || st.Op.Type == model.OpReshape:
		return 0
	case st.Op.Type == model.OpSoftmax:
		return 2 * out
	case st.Op.Type == model.OpLayerNorm:
		return 3 * out
	}
	return out
}
