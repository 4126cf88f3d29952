package kpu

import "math"

// EngineKind names a class of engine.
type EngineKind string

// Engine kinds.
const (
	DMA        EngineKind = "dma"         // DRAM <-> L3
	BlockMover EngineKind = "block_mover" // L3 <-> L2
	Streamer   EngineKind = "streamer"    // L2 <-> L1 / fabric
	Fabric     EngineKind = "fabric"      // the systolic array of a compute tile
	Vector     EngineKind = "vector"      // the vector engine of a compute tile
)

// EngineCount is the number of engines of a kind.
func (c *Config) EngineCount(k EngineKind) int {
	switch k {
	case DMA:
		return c.DMAEngines
	case BlockMover:
		return c.BlockMovers
	case Streamer:
		return c.Streamers
	case Fabric, Vector:
		return c.ComputeTiles
	}
	return 0
}

// EngineBandwidth is the bytes per cycle one engine of kind k moves. For DMA,
// the aggregate external memory bandwidth is shared statically: each engine
// gets at most DRAMBytesPerCycle / DMAEngines, so all DMA traffic together
// never exceeds the external memory bandwidth.
func (c *Config) EngineBandwidth(k EngineKind, elemBytes int64) float64 {
	switch k {
	case DMA:
		bw := c.DMABytesPerCycle
		if share := c.DRAMBytesPerCycle() / float64(c.DMAEngines); share < bw {
			bw = share
		}
		return bw
	case BlockMover:
		return c.BlockMoverBytesPerCycle
	case Streamer:
		return c.StreamerBandwidth(elemBytes)
	}
	return 0
}

// StreamerBandwidth is one streamer's bytes per cycle for elements of
// elemBytes bytes: the configured value, or one array edge per cycle.
func (c *Config) StreamerBandwidth(elemBytes int64) float64 {
	if c.StreamerBytesPerCycle > 0 {
		return c.StreamerBytesPerCycle
	}
	side := c.ArrayRows
	if c.ArrayCols > side {
		side = c.ArrayCols
	}
	return float64(int64(side) * elemBytes)
}

// TransferLatency is the fixed latency of one transfer by an engine of kind
// k: the latency of the level it reads from (DMA loads read DRAM, BlockMover
// loads read L3, Streamer feeds read L2). Stores use the same figure.
func (c *Config) TransferLatency(k EngineKind) int64 {
	switch k {
	case DMA:
		return c.Latency.DRAM
	case BlockMover:
		return c.Latency.L3
	case Streamer:
		return c.Latency.L2
	}
	return 0
}

// TransferCycles is the duration of one transfer of bytes by one engine of
// kind k: latency + ceil(bytes / bandwidth).
func (c *Config) TransferCycles(k EngineKind, bytes, elemBytes int64) int64 {
	bw := c.EngineBandwidth(k, elemBytes)
	if bw <= 0 {
		return c.TransferLatency(k)
	}
	return c.TransferLatency(k) + int64(math.Ceil(float64(bytes)/bw))
}

// FabricCycles is the duration of an m x n x k matmul tile on one compute
// tile's R x C array: ceil(m/R) * ceil(n/C) passes of k cycles each, pipelined
// back to back, plus R + C cycles of fill and drain for the chain.
func (c *Config) FabricCycles(m, n, k int64) int64 {
	if m <= 0 || n <= 0 || k <= 0 {
		return 0
	}
	r, cc := int64(c.ArrayRows), int64(c.ArrayCols)
	passes := ceilDiv(m, r) * ceilDiv(n, cc)
	return passes*k + r + cc
}

// VectorCycles is the duration of vector-engine work over elems elements on
// one compute tile (elementwise ops; row reductions count each element once
// per pass): L1 latency + ceil(elems / throughput).
func (c *Config) VectorCycles(elems int64) int64 {
	rate := c.VectorElemsPerCycle
	if rate <= 0 {
		rate = float64(max(c.ArrayRows, c.ArrayCols))
	}
	return c.Latency.L1 + int64(math.Ceil(float64(elems)/rate))
}

// MACEnergy is the energy of one multiply-accumulate on elements of the
// named dtype ("float32", "float16", "bfloat16", "int8", "int32").
func (c *Config) MACEnergy(dtype string) float64 {
	switch dtype {
	case "float16", "bfloat16":
		return c.Energy.MACHalf
	case "int8":
		return c.Energy.MACInt8
	}
	return c.Energy.MACFloat32
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
