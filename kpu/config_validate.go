package kpu

import (
	"errors"
	"fmt"
	"math"
)

// Limits beyond which a config is rejected as absurd. They keep every derived
// figure (totals, addresses, cycle counts) far from int64 overflow.
const (
	MaxCount            = 1 << 24 // tiles, banks, buffers, channels, engines
	MaxArraySide        = 1 << 12 // systolic array rows or columns
	MaxBytes            = 1 << 56 // any capacity, alone or in total (64 PiB)
	MaxClockGHz         = 1000.0
	MaxBytesPerCycle    = 1 << 30 // any engine bandwidth
	MaxChannelGBps      = 1e6     // external memory bandwidth per channel
	MaxLatencyCycles    = 1 << 32
	MaxEnergyPJ         = 1e6 // per byte or per MAC
	fp32Bytes           = 4
	maxVectorElemsCycle = 1 << 30
)

// FieldError is one validation failure: the config key (as written in the
// file's format) and what is wrong with it, including the limit.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Validate checks every parameter and the combinations the machine needs;
// it returns all problems found, joined, each a *FieldError naming the key
// (kpuopt's name) and the limit.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if !(c.ClockGHz > 0) || c.ClockGHz > MaxClockGHz || math.IsInf(c.ClockGHz, 0) {
		bad("clock_ghz", "%v GHz is outside (0, %v]", c.ClockGHz, MaxClockGHz)
	}
	countOK := func(field string, n, limit int) bool {
		if n <= 0 {
			bad(field, "must be positive, got %d", n)
			return false
		}
		if n > limit {
			bad(field, "%d exceeds the limit of %d", n, limit)
			return false
		}
		return true
	}
	bytesOK := func(field string, n int64) bool {
		if n <= 0 {
			bad(field, "must be positive, got %d bytes", n)
			return false
		}
		if n > MaxBytes {
			bad(field, "%d bytes exceeds the limit of 2^56 bytes", n)
			return false
		}
		return true
	}
	tiles := countOK("compute_tiles", c.ComputeTiles, MaxCount)
	rows := countOK("array_rows", c.ArrayRows, MaxArraySide)
	cols := countOK("array_cols", c.ArrayCols, MaxArraySide)
	l3n := countOK("l3_tiles", c.L3Tiles, MaxCount)
	l3b := bytesOK("l3_tile_bytes", c.L3TileBytes)
	l2n := countOK("l2_banks", c.L2Banks, MaxCount)
	l2b := bytesOK("l2_bank_bytes", c.L2BankBytes)
	l1n := countOK("l1_buffers", c.L1Buffers, MaxCount)
	l1b := bytesOK("l1_buffer_bytes", c.L1BufferBytes)
	chn := countOK("dram_channels", c.DRAMChannels, MaxCount)
	chb := bytesOK("dram_channel_bytes", c.DRAMChannelBytes)
	if !(c.DRAMChannelGBps > 0) || c.DRAMChannelGBps > MaxChannelGBps {
		bad("dram_channel_gbps", "%v GB/s is outside (0, %v]", c.DRAMChannelGBps, MaxChannelGBps)
	}
	countOK("dma_engines", c.DMAEngines, MaxCount)
	countOK("block_movers", c.BlockMovers, MaxCount)
	st := countOK("streamers", c.Streamers, MaxCount)

	total := func(field string, n int, each int64, what string) {
		if each > MaxBytes/int64(n) {
			bad(field, "%d %s of %d bytes total more than the limit of 2^56 bytes", n, what, each)
		}
	}
	if l3n && l3b {
		total("l3_tile_bytes", c.L3Tiles, c.L3TileBytes, "L3 tiles")
	}
	if l2n && l2b {
		total("l2_bank_bytes", c.L2Banks, c.L2BankBytes, "L2 banks")
	}
	if l1n && l1b {
		total("l1_buffer_bytes", c.L1Buffers, c.L1BufferBytes, "L1 buffers")
	}
	if chn && chb {
		total("dram_channel_bytes", c.DRAMChannels, c.DRAMChannelBytes, "DRAM channels")
	}
	if tiles && l2n && c.L2Banks%c.ComputeTiles != 0 {
		bad("l2_banks", "%d banks do not divide evenly among the %d compute tiles", c.L2Banks, c.ComputeTiles)
	}
	if tiles && l1n && c.L1Buffers%c.ComputeTiles != 0 {
		bad("l1_buffers", "%d buffers do not divide evenly among the %d compute tiles", c.L1Buffers, c.ComputeTiles)
	}
	if rows && cols && l2b {
		if edge := int64(max(c.ArrayRows, c.ArrayCols)) * fp32Bytes; c.L2BankBytes < edge {
			bad("l2_bank_bytes", "%d bytes is smaller than one array edge of fp32 operands (%d x %d = %d bytes)",
				c.L2BankBytes, max(c.ArrayRows, c.ArrayCols), fp32Bytes, edge)
		}
	}
	if tiles && st && c.Streamers < c.ComputeTiles {
		bad("streamers", "%d streamers cannot feed %d compute tiles (need at least one per tile)", c.Streamers, c.ComputeTiles)
	}

	rate := func(field string, v float64, zeroOK bool, limit float64) {
		lo := "(0"
		if zeroOK {
			lo = "[0"
		}
		if math.IsNaN(v) || v < 0 || (!zeroOK && v == 0) || v > limit {
			bad(field, "%v is outside %s, %v]", v, lo, limit)
		}
	}
	rate("dma_bytes_per_cycle", c.DMABytesPerCycle, false, MaxBytesPerCycle)
	rate("block_mover_bytes_per_cycle", c.BlockMoverBytesPerCycle, false, MaxBytesPerCycle)
	rate("streamer_bytes_per_cycle", c.StreamerBytesPerCycle, true, MaxBytesPerCycle)
	rate("vector_elems_per_cycle", c.VectorElemsPerCycle, true, maxVectorElemsCycle)

	for _, l := range []struct {
		field string
		v     int64
	}{
		{"latency.dram", c.Latency.DRAM}, {"latency.l3", c.Latency.L3},
		{"latency.l2", c.Latency.L2}, {"latency.l1", c.Latency.L1},
	} {
		if l.v < 0 || l.v > MaxLatencyCycles {
			bad(l.field, "%d cycles is outside [0, 2^32]", l.v)
		}
	}
	for _, e := range []struct {
		field string
		v     float64
	}{
		{"energy.mac_fp32_pj", c.Energy.MACFloat32}, {"energy.mac_fp16_pj", c.Energy.MACHalf},
		{"energy.mac_int8_pj", c.Energy.MACInt8}, {"energy.l1_read_pj_per_byte", c.Energy.L1Read},
		{"energy.l1_write_pj_per_byte", c.Energy.L1Write}, {"energy.l2_pj_per_byte", c.Energy.L2},
		{"energy.l3_pj_per_byte", c.Energy.L3}, {"energy.dram_pj_per_byte", c.Energy.DRAM},
	} {
		rate(e.field, e.v, true, MaxEnergyPJ)
	}
	return errors.Join(errs...)
}
