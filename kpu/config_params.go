package kpu

import (
	"fmt"
	"strconv"
)

// Parameter is one row of a config's description for people: the kpuopt key,
// its value as text, its unit, and what it means or how it was derived.
type Parameter struct {
	Key   string
	Value string
	Unit  string
	Note  string
}

// Parameters lists every field of c, then the figures derived from them, in
// a fixed order.
func (c *Config) Parameters() []Parameter {
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	streamer := f(c.StreamerBytesPerCycle)
	streamerNote := "per streamer"
	if c.StreamerBytesPerCycle == 0 {
		streamer = "0"
		streamerNote = fmt.Sprintf("0 = one array edge per cycle (%g B/cycle for fp32)", c.StreamerBandwidth(fp32Bytes))
	}
	vector := f(c.VectorElemsPerCycle)
	vectorNote := "per compute tile"
	if c.VectorElemsPerCycle == 0 {
		vectorNote = fmt.Sprintf("0 = one array edge per cycle (%d elements)", max(c.ArrayRows, c.ArrayCols))
	}
	return []Parameter{
		{"name", c.Name, "", ""},
		{"description", c.Description, "", ""},
		{"clock_ghz", f(c.ClockGHz), "GHz", ""},
		{"compute_tiles", i(int64(c.ComputeTiles)), "", "one systolic array each"},
		{"array_rows", i(int64(c.ArrayRows)), "PEs", ""},
		{"array_cols", i(int64(c.ArrayCols)), "PEs", ""},
		{"l3_tiles", i(int64(c.L3Tiles)), "", "global, shared by all compute tiles"},
		{"l3_tile_bytes", i(c.L3TileBytes), "bytes", FormatBytes(c.L3TileBytes)},
		{"l2_banks", i(int64(c.L2Banks)), "", "total over all compute tiles"},
		{"l2_bank_bytes", i(c.L2BankBytes), "bytes", FormatBytes(c.L2BankBytes)},
		{"l1_buffers", i(int64(c.L1Buffers)), "", "total over all compute tiles"},
		{"l1_buffer_bytes", i(c.L1BufferBytes), "bytes", FormatBytes(c.L1BufferBytes)},
		{"dram_channels", i(int64(c.DRAMChannels)), "", ""},
		{"dram_channel_bytes", i(c.DRAMChannelBytes), "bytes", FormatBytes(c.DRAMChannelBytes)},
		{"dram_channel_gbps", f(c.DRAMChannelGBps), "GB/s", "per channel"},
		{"dma_engines", i(int64(c.DMAEngines)), "", "DRAM <-> L3"},
		{"block_movers", i(int64(c.BlockMovers)), "", "L3 <-> L2"},
		{"streamers", i(int64(c.Streamers)), "", "L2 <-> L1 / fabric"},
		{"dma_bytes_per_cycle", f(c.DMABytesPerCycle), "B/cycle", "per engine, capped by the DRAM share"},
		{"block_mover_bytes_per_cycle", f(c.BlockMoverBytesPerCycle), "B/cycle", "per engine"},
		{"streamer_bytes_per_cycle", streamer, "B/cycle", streamerNote},
		{"vector_elems_per_cycle", vector, "elements/cycle", vectorNote},
		{"latency.dram", i(c.Latency.DRAM), "cycles", "per transfer reading DRAM"},
		{"latency.l3", i(c.Latency.L3), "cycles", "per transfer reading L3"},
		{"latency.l2", i(c.Latency.L2), "cycles", "per transfer reading L2"},
		{"latency.l1", i(c.Latency.L1), "cycles", "per transfer reading L1"},
		{"energy.mac_fp32_pj", f(c.Energy.MACFloat32), "pJ/MAC", "float32, int32"},
		{"energy.mac_fp16_pj", f(c.Energy.MACHalf), "pJ/MAC", "float16, bfloat16"},
		{"energy.mac_int8_pj", f(c.Energy.MACInt8), "pJ/MAC", "int8"},
		{"energy.l1_read_pj_per_byte", f(c.Energy.L1Read), "pJ/B", ""},
		{"energy.l1_write_pj_per_byte", f(c.Energy.L1Write), "pJ/B", ""},
		{"energy.l2_pj_per_byte", f(c.Energy.L2), "pJ/B", ""},
		{"energy.l3_pj_per_byte", f(c.Energy.L3), "pJ/B", ""},
		{"energy.dram_pj_per_byte", f(c.Energy.DRAM), "pJ/B", ""},
		{"(derived) l2_banks_per_tile", i(int64(c.L2BanksPerTile())), "", ""},
		{"(derived) l1_buffers_per_tile", i(int64(c.L1BuffersPerTile())), "", ""},
		{"(derived) l3_total", i(c.L3Bytes()), "bytes", FormatBytes(c.L3Bytes())},
		{"(derived) l2_per_tile", i(c.L2BytesPerTile()), "bytes", FormatBytes(c.L2BytesPerTile())},
		{"(derived) dram_total", i(c.DRAMBytes()), "bytes", FormatBytes(c.DRAMBytes())},
		{"(derived) dram_bytes_per_cycle", strconv.FormatFloat(c.DRAMBytesPerCycle(), 'g', 6, 64), "B/cycle", "all channels at the clock"},
		{"(derived) peak_macs_per_cycle", i(c.PeakMACsPerCycle()), "MACs/cycle", "tiles x rows x cols"},
	}
}

// PeakMACsPerCycle is the MAC throughput of all arrays together.
func (c *Config) PeakMACsPerCycle() int64 {
	return int64(c.ComputeTiles) * int64(c.ArrayRows) * int64(c.ArrayCols)
}

// Summary is a one-line description of the machine.
func (c *Config) Summary() string {
	return fmt.Sprintf("%d x %dx%d arrays, L3 %s, L2 %s/tile (%d banks), DRAM %g GB/s, %g GHz",
		c.ComputeTiles, c.ArrayRows, c.ArrayCols, FormatBytes(c.L3Bytes()), FormatBytes(c.L2BytesPerTile()),
		c.L2BanksPerTile(), float64(c.DRAMChannels)*c.DRAMChannelGBps, c.ClockGHz)
}

// FormatBytes renders a byte count with a binary unit (B, KiB, MiB, GiB,
// TiB, PiB), exact when it divides evenly and to two decimals otherwise.
func FormatBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	u, v := 0, n
	for u+1 < len(units) && v != 0 && v%1024 == 0 {
		v /= 1024
		u++
	}
	if v < 1024 || u+1 == len(units) {
		return fmt.Sprintf("%d %s", v, units[u])
	}
	x := float64(v)
	for u+1 < len(units) && x >= 1024 {
		x /= 1024
		u++
	}
	return fmt.Sprintf("%.2f %s", x, units[u])
}
