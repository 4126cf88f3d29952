package constraints

import (
	"context"
	"fmt"
	"math"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// Objective is what the search minimizes.
type Objective string

// Objectives.
const (
	Latency Objective = "latency" // cycles
	Energy  Objective = "energy"  // picojoules
	EDP     Objective = "edp"     // cycles x picojoules
	Traffic Objective = "traffic" // DRAM bytes
)

// Objectives lists every objective in a fixed order.
var Objectives = []Objective{Latency, Energy, EDP, Traffic}

// ParseObjective accepts an objective name.
func ParseObjective(s string) (Objective, error) {
	for _, o := range Objectives {
		if string(o) == s {
			return o, nil
		}
	}
	return "", fmt.Errorf("unknown objective %q (want latency, energy, edp or traffic)", s)
}

// Cost is the judgement of one mapping. Every figure derives from the timing
// and energy primitives of package kpu (docs/mapping.md section 6).
type Cost struct {
	LatencyCycles int64        `json:"latency_cycles"`
	EnergyPJ      float64      `json:"energy_pj"`
	DRAMBytes     int64        `json:"dram_bytes"`
	Bytes         LevelBytes   `json:"-"`
	Busy          []EngineBusy `json:"-"`
	Commands      int          `json:"commands"`
}

// Value is the cost under objective o.
func (c *Cost) Value(o Objective) float64 {
	switch o {
	case Energy:
		return c.EnergyPJ
	case EDP:
		return float64(c.LatencyCycles) * c.EnergyPJ
	case Traffic:
		return float64(c.DRAMBytes)
	}
	return float64(c.LatencyCycles)
}

// EnergyOf is the energy of MACs multiply-accumulates and the given traffic.
func EnergyOf(p Problem, b LevelBytes, macs int64, cfg *kpu.Config) float64 {
	en := cfg.Energy
	return float64(macs)*cfg.MACEnergy(string(p.DType)) +
		float64(b.DRAMRead+b.DRAMWrite)*en.DRAM +
		float64(b.L3Read+b.L3Write)*en.L3 +
		float64(b.L2Read+b.L2Write)*en.L2 +
		float64(b.L1Write)*en.L1Write + float64(b.L1Read)*en.L1Read
}

// Evaluate judges mapping m exactly: it replays the command stream the
// mapping lowers to and prices its traffic.
func Evaluate(ctx context.Context, p Problem, m model.Mapping, cfg *kpu.Config) (*Cost, error) {
	return EvaluateWithin(ctx, p, m, cfg, 0)
}

// EvaluateWithin is Evaluate with the latency cutoff of ReplayWithin: it
// returns ErrExceeds when the latency reaches limit (> 0).
func EvaluateWithin(ctx context.Context, p Problem, m model.Mapping, cfg *kpu.Config, limit int64) (*Cost, error) {
	// a search judges many mappings whose replay the cutoff ends at once:
	// checking here bounds its overrun past the time limit to one judgement
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tr, err := ReplayWithin(ctx, p, m, cfg, limit)
	if err != nil {
		return nil, err
	}
	return &Cost{
		LatencyCycles: tr.Cycles,
		EnergyPJ:      EnergyOf(p, tr.Bytes, tr.MACs, cfg),
		DRAMBytes:     tr.Bytes.DRAM(),
		Bytes:         tr.Bytes,
		Busy:          tr.Busy,
		Commands:      tr.Commands,
	}, nil
}

// Quick is the closed-form judgement of mapping m (no replay): exact bytes
// and energy, engine busy times and a lower bound of the latency. It does
// not check capacity (see Check).
func Quick(p Problem, m model.Mapping, cfg *kpu.Config) (Estimate, error) {
	_, est, err := quickGeom(p, m, cfg)
	return est, err
}

// quickGeom is Quick that also returns the mapping's geometry.
func quickGeom(p Problem, m model.Mapping, cfg *kpu.Config) (*geom, Estimate, error) {
	g, err := newGeom(p, m, cfg)
	if err != nil {
		return nil, Estimate{}, err
	}
	if g.sk > 1 {
		return g, g.estimateKSplit(), nil // ksplit.go
	}
	return g, g.estimate(), nil
}

// Bound is a lower bound for every mapping of a problem.
type Bound struct {
	LatencyCycles int64   `json:"latency_cycles"`
	DRAMBytes     int64   `json:"dram_bytes"`
	EnergyPJ      float64 `json:"energy_pj"`
	// Which bound set the latency: "compute", "dram", "l3-io", "l2-io".
	LatencyBy string `json:"latency_by"`
}

// Value is the bound under objective o.
func (b Bound) Value(o Objective) float64 {
	switch o {
	case Energy:
		return b.EnergyPJ
	case EDP:
		return float64(b.LatencyCycles) * b.EnergyPJ
	case Traffic:
		return float64(b.DRAMBytes)
	}
	return float64(b.LatencyCycles)
}

// LowerBound bounds every mapping of p on cfg: the compute bound
// MACs/(tiles x R x C) plus the shortest chain of transfers before the first
// and after the last matmul, the compulsory DRAM bytes over the aggregate DMA
// bandwidth, and the I/O bound Q >= max(MK+KN+MN, 2MNK/sqrt(S)+MN) of each
// on-chip level (S its capacity in elements) over the bandwidth that feeds
// it (docs/mapping.md section 6; DESIGN.md section 4).
func LowerBound(p Problem, cfg *kpu.Config) Bound {
	e := float64(p.ElemBytes())
	bat := float64(p.Batch)
	M, N, K := float64(p.M), float64(p.N), float64(p.K)
	// the busiest fabric works at least MACs/(tiles x R x C) cycles, after
	// one DMA load, one move and one feed, and before one move_out and one
	// DMA store (each at least its latency plus a cycle)
	chain := cfg.TransferLatency(kpu.DMA) + cfg.TransferLatency(kpu.BlockMover) + cfg.TransferLatency(kpu.Streamer) + 3 +
		cfg.TransferLatency(kpu.BlockMover) + cfg.TransferLatency(kpu.DMA) + 2
	if p.Narrow() {
		chain += cfg.VectorCycles(1) // the conversion of the last C2 block
	}
	b := Bound{DRAMBytes: p.CompulsoryBytes(), LatencyCycles: fabricBound(p, cfg) + chain, LatencyBy: "compute"}
	up := func(v float64, by string) {
		if c := int64(math.Ceil(v)); c > b.LatencyCycles {
			b.LatencyCycles, b.LatencyBy = c, by
		}
	}
	dmaBW := float64(cfg.DMAEngines) * cfg.EngineBandwidth(kpu.DMA, p.ElemBytes())
	if dmaBW > 0 {
		up(float64(b.DRAMBytes)/dmaBW, "dram")
	}
	// C's share of the I/O is written at least once in the output type
	// (never counted wider than an input element)
	ec := math.Min(e, float64(p.OutBytes()))
	io := func(capBytes float64) float64 { // bytes moved into a memory of capBytes
		s := capBytes / e
		q := (M*K + K*N) * e
		if s > 0 {
			q = max(q, 2*M*N*K/math.Sqrt(s)*e)
		}
		return bat * (q + M*N*ec)
	}
	// L3 is filled by the DMA engines.
	if dmaBW > 0 {
		up(io(float64(cfg.L3Bytes()))/dmaBW, "l3-io")
	}
	// L2 of all compute tiles is filled by the block movers.
	bmBW := float64(cfg.BlockMovers) * cfg.EngineBandwidth(kpu.BlockMover, p.ElemBytes())
	if bmBW > 0 {
		// each tile's L2 is a separate fast memory of S elements: the bound
		// holds per tile for its share of the MACs, and the shares sum to MNK.
		up(io(float64(cfg.L2BytesPerTile()))/bmBW, "l2-io")
	}
	// energy: MACs, compulsory DRAM traffic through L3 and L2, the fabric's L1 reads
	be := LevelBytes{DRAMRead: p.Batch * (p.M*p.K + p.K*p.N) * p.ElemBytes(), DRAMWrite: p.Batch * p.M * p.N * p.OutBytes()}
	be.L3Write, be.L3Read = be.DRAMRead, be.DRAMWrite
	if p.Narrow() { // every element of C is converted once in L2
		be.L2Read += p.Batch * p.M * p.N * p.AccBytes()
		be.L2Write += p.Batch * p.M * p.N * p.OutBytes()
	}
	b.EnergyPJ = EnergyOf(p, be, p.MACs(), cfg)
	return b
}
