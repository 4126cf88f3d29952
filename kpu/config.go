package kpu

import "fmt"

// Latencies are the fixed per-transfer latencies in cycles, by the level the
// transfer reads from.
type Latencies struct {
	DRAM int64 `json:"dram" yaml:"dram"`
	L3   int64 `json:"l3" yaml:"l3"`
	L2   int64 `json:"l2" yaml:"l2"`
	L1   int64 `json:"l1" yaml:"l1"`
}

// Energy is the energy table in picojoules.
type Energy struct {
	MACFloat32 float64 `json:"mac_fp32_pj" yaml:"mac_fp32_pj"`
	MACHalf    float64 `json:"mac_fp16_pj" yaml:"mac_fp16_pj"` // float16 and bfloat16
	MACInt8    float64 `json:"mac_int8_pj" yaml:"mac_int8_pj"`
	L1Read     float64 `json:"l1_read_pj_per_byte" yaml:"l1_read_pj_per_byte"`
	L1Write    float64 `json:"l1_write_pj_per_byte" yaml:"l1_write_pj_per_byte"`
	L2         float64 `json:"l2_pj_per_byte" yaml:"l2_pj_per_byte"`
	L3         float64 `json:"l3_pj_per_byte" yaml:"l3_pj_per_byte"`
	DRAM       float64 `json:"dram_pj_per_byte" yaml:"dram_pj_per_byte"`
}

// Config describes one KPU. Sizes are in bytes, bandwidths in bytes per
// cycle unless the field name says otherwise. Every field is user-settable;
// presets and loaders fill the documented defaults (see docs/config-format.md).
type Config struct {
	Name        string  `json:"name" yaml:"name"`
	Description string  `json:"description,omitempty" yaml:"description,omitempty"`
	ClockGHz    float64 `json:"clock_ghz" yaml:"clock_ghz"`

	ComputeTiles int `json:"compute_tiles" yaml:"compute_tiles"`
	ArrayRows    int `json:"array_rows" yaml:"array_rows"`
	ArrayCols    int `json:"array_cols" yaml:"array_cols"`

	L3Tiles       int   `json:"l3_tiles" yaml:"l3_tiles"`
	L3TileBytes   int64 `json:"l3_tile_bytes" yaml:"l3_tile_bytes"`
	L2Banks       int   `json:"l2_banks" yaml:"l2_banks"` // total over all compute tiles
	L2BankBytes   int64 `json:"l2_bank_bytes" yaml:"l2_bank_bytes"`
	L1Buffers     int   `json:"l1_buffers" yaml:"l1_buffers"` // total over all compute tiles
	L1BufferBytes int64 `json:"l1_buffer_bytes" yaml:"l1_buffer_bytes"`

	DRAMChannels     int     `json:"dram_channels" yaml:"dram_channels"`
	DRAMChannelBytes int64   `json:"dram_channel_bytes" yaml:"dram_channel_bytes"`
	DRAMChannelGBps  float64 `json:"dram_channel_gbps" yaml:"dram_channel_gbps"` // per channel

	DMAEngines  int `json:"dma_engines" yaml:"dma_engines"`
	BlockMovers int `json:"block_movers" yaml:"block_movers"`
	Streamers   int `json:"streamers" yaml:"streamers"`

	DMABytesPerCycle        float64 `json:"dma_bytes_per_cycle" yaml:"dma_bytes_per_cycle"`
	BlockMoverBytesPerCycle float64 `json:"block_mover_bytes_per_cycle" yaml:"block_mover_bytes_per_cycle"`
	// StreamerBytesPerCycle of 0 means one array edge per cycle:
	// max(rows, cols) x element bytes (see StreamerBandwidth).
	StreamerBytesPerCycle float64 `json:"streamer_bytes_per_cycle,omitempty" yaml:"streamer_bytes_per_cycle,omitempty"`
	// VectorElemsPerCycle is the vector engine's throughput per compute tile;
	// 0 means one array edge (max(rows, cols)) per cycle.
	VectorElemsPerCycle float64 `json:"vector_elems_per_cycle,omitempty" yaml:"vector_elems_per_cycle,omitempty"`

	Latency Latencies `json:"latency" yaml:"latency"`
	Energy  Energy    `json:"energy" yaml:"energy"`
}

const (
	kib = int64(1) << 10
	mib = int64(1) << 20
	gib = int64(1) << 30
)

// DefaultLatencies are the per-transfer latencies assumed where a config names none.
var DefaultLatencies = Latencies{DRAM: 100, L3: 20, L2: 10, L1: 1}

// DefaultEnergy is the energy table assumed where a config names none.
var DefaultEnergy = Energy{
	MACFloat32: 0.80, MACHalf: 0.40, MACInt8: 0.25,
	L1Read: 0.2, L1Write: 0.3, L2: 0.7, L3: 1.5, DRAM: 12,
}

// Default engine bandwidths in bytes per cycle.
const (
	DefaultDMABytesPerCycle        = 64
	DefaultBlockMoverBytesPerCycle = 64
	DefaultClockGHz                = 1.0
)

func preset(name, desc string, clock float64, tiles, side, l3n int, l3kb int64, l2n int, l2kb int64,
	l1kb int64, l1n int, chans int, chanMB int64, chanGBps float64, dma, bm, st int) *Config {
	if l1n == 0 {
		l1n = 4 * (side + side) * tiles
	}
	return &Config{
		Name: name, Description: desc, ClockGHz: clock,
		ComputeTiles: tiles, ArrayRows: side, ArrayCols: side,
		L3Tiles: l3n, L3TileBytes: l3kb * kib, L2Banks: l2n, L2BankBytes: l2kb * kib,
		L1Buffers: l1n, L1BufferBytes: l1kb * kib,
		DRAMChannels: chans, DRAMChannelBytes: chanMB * mib, DRAMChannelGBps: chanGBps,
		DMAEngines: dma, BlockMovers: bm, Streamers: st,
		DMABytesPerCycle: DefaultDMABytesPerCycle, BlockMoverBytesPerCycle: DefaultBlockMoverBytesPerCycle,
		Latency: DefaultLatencies, Energy: DefaultEnergy,
	}
}

// PresetNames lists the built-in machines in a fixed order.
var PresetNames = []string{"minimal", "edge_ai", "embodied_ai", "datacenter"}

// Preset returns a fresh copy of a built-in machine, named after kpu-sim's
// configs/kpu/*.yaml, with kpu-sim's preset clocks.
func Preset(name string) (*Config, error) {
	switch name {
	case "minimal":
		return preset("minimal", "single compute tile, 8x8 array (kpu-sim configs/kpu/minimal.yaml)", 0.5,
			1, 8, 1, 64, 4, 32, 32, 0, 1, 256, 50, 1, 1, 4), nil
	case "edge_ai":
		return preset("edge_ai", "2 compute tiles, 16x16 arrays (kpu-sim configs/kpu/edge_ai.yaml)", 0.75,
			2, 16, 2, 128, 16, 64, 64, 0, 2, 512, 100, 2, 4, 16), nil
	case "embodied_ai":
		return preset("embodied_ai", "64 compute tiles, 24x24 arrays (kpu-sim configs/kpu/embodied_ai.yaml)", 1.0,
			64, 24, 64, 256, 1024, 64, 64, 12288, 8, 512, 25, 8, 64, 256), nil
	case "datacenter":
		return preset("datacenter", "256 compute tiles, 32x32 arrays (kpu-sim configs/kpu/datacenter.yaml)", 1.5,
			256, 32, 256, 512, 4096, 128, 128, 0, 6, 4096, 800, 32, 256, 1024), nil
	}
	return nil, fmt.Errorf("unknown preset %q (known: minimal, edge_ai, embodied_ai, datacenter)", name)
}

// L2BanksPerTile is the number of L2 banks each compute tile owns. Bank b
// belongs to compute tile b / L2BanksPerTile.
func (c *Config) L2BanksPerTile() int { return c.L2Banks / c.ComputeTiles }

// L1BuffersPerTile is the number of L1 stream buffers each compute tile owns.
func (c *Config) L1BuffersPerTile() int { return c.L1Buffers / c.ComputeTiles }

// L3Bytes is the total L3 capacity.
func (c *Config) L3Bytes() int64 { return int64(c.L3Tiles) * c.L3TileBytes }

// L2BytesPerTile is the L2 capacity of one compute tile.
func (c *Config) L2BytesPerTile() int64 { return int64(c.L2BanksPerTile()) * c.L2BankBytes }

// DRAMBytes is the total external memory capacity.
func (c *Config) DRAMBytes() int64 { return int64(c.DRAMChannels) * c.DRAMChannelBytes }

// DRAMBytesPerCycle is the aggregate external memory bandwidth in bytes per cycle.
func (c *Config) DRAMBytesPerCycle() float64 {
	return float64(c.DRAMChannels) * c.DRAMChannelGBps / c.ClockGHz
}
