package graph

import (
	"math"

	"github.com/stillwater-sc/kpuopt/kpu"
)

// Figures are the predicted costs of a step.
type Figures struct {
	Cycles int64
	Energy float64
	DRAM   int64
}

func (f Figures) add(o Figures) Figures {
	return Figures{f.Cycles + o.Cycles, f.Energy + o.Energy, f.DRAM + o.DRAM}
}

// weights scalarize Figures for the dynamic program: value = Lat*cycles +
// En*energy + Traffic*bytes.
type weights struct{ Lat, En, Traffic float64 }

func (w weights) of(f Figures) float64 {
	return w.Lat*float64(f.Cycles) + w.En*f.Energy + w.Traffic*float64(f.DRAM)
}

func dmaBandwidth(cfg *kpu.Config) float64 {
	return float64(cfg.DMAEngines) * cfg.EngineBandwidth(kpu.DMA, 1)
}

func cdiv(a int64, bw float64) int64 {
	if a <= 0 || bw <= 0 {
		return 0
	}
	return int64(math.Ceil(float64(a) / bw))
}

// operandIO is one operand of a vector step: its bytes and whether it lives
// in L3 (no DMA traffic).
type operandIO struct {
	bytes    int64
	resident bool
}

// vectorCost is the documented estimate of a vector-engine pass (elementwise,
// softmax, layernorm, pooling, a TRANSPOSE as a BlockMover layout change):
// operands stream DRAM -> L3 (DMA, non-resident only) -> L2 (BlockMovers) ->
// vector engines (split evenly over the compute tiles) and back, pipelined in
// chunks: latency = the busiest of DMA, BlockMovers and vector engines plus
// one DRAM, L3 and L2 latency of pipeline fill. The L3 working set is two
// chunks per non-resident operand, a chunk being min(operand, L3/16).
func vectorCost(cfg *kpu.Config, ins []operandIO, out operandIO, vops int64) (Figures, int64) {
	var dram, moved, ws int64
	chunk := cfg.L3Bytes() / 16
	for _, o := range append(append([]operandIO(nil), ins...), out) {
		moved += o.bytes
		if !o.resident {
			dram += o.bytes
			ws += 2 * min(o.bytes, chunk)
		}
	}
	dma := cdiv(dram, dmaBandwidth(cfg))
	bm := cdiv(moved, float64(cfg.BlockMovers)*cfg.EngineBandwidth(kpu.BlockMover, 1))
	var vec int64
	if vops > 0 {
		vec = cfg.VectorCycles(ceilDiv(vops, int64(cfg.ComputeTiles)))
	}
	fill := int64(0)
	if dram > 0 {
		fill += cfg.TransferLatency(kpu.DMA)
	}
	if moved > 0 {
		fill += cfg.TransferLatency(kpu.BlockMover) + cfg.TransferLatency(kpu.Streamer)
	}
	en := cfg.Energy
	energy := float64(dram)*en.DRAM + float64(dram+moved)*en.L3 + float64(2*moved)*en.L2
	return Figures{Cycles: max(dma, bm, vec) + fill, Energy: energy, DRAM: dram}, ws
}
