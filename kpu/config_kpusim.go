package kpu

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// This file reads the configs/kpu/*.yaml (and .json) files of
// stillwater-sc/kpu-sim as they are. Their keys and units: capacities in KB
// or MB (binary), external memory bandwidth in GB/s per bank, counts as
// integers. They carry no clock, engine bandwidth, latency or energy; those
// take kpuopt's defaults (docs/config-format.md).

// Leaf kinds of the kpu-sim schema.
const (
	simInt     = "int"     // an integer count or size
	simNumber  = "number"  // an integer or a real
	simString  = "string"  // text
	simBool    = "bool"    // true or false
	simAddress = "address" // an address (read, checked to be a number, not used)
)

// kpuSimSchema lists every key kpu-sim's loader reads. Nested maps are
// sections; strings are leaf kinds.
var kpuSimSchema = map[string]any{
	"name":        simString,
	"description": simString,
	"host_memory": map[string]any{
		"region_count": simInt, "region_capacity_mb": simInt, "bandwidth_gbps": simNumber,
	},
	"external_memory": map[string]any{
		"bank_count": simInt, "bank_capacity_mb": simInt, "bandwidth_gbps": simNumber,
	},
	"memory_controller": map[string]any{
		"controller_count": simInt, "page_buffer_count": simInt, "page_buffer_capacity_kb": simInt,
	},
	"on_chip_memory": map[string]any{
		"l3": map[string]any{"tile_count": simInt, "tile_capacity_kb": simInt},
		"l2": map[string]any{"bank_count": simInt, "bank_capacity_kb": simInt},
		"l1": map[string]any{"buffer_capacity_kb": simInt, "buffer_count": simInt},
	},
	"data_movement": map[string]any{
		"dma_engine_count": simInt, "block_mover_count": simInt, "streamer_count": simInt,
	},
	"compute": map[string]any{
		"tile_count": simInt,
		"processor_array": map[string]any{
			"rows": simInt, "cols": simInt, "topology": simString,
		},
		"systolic_mode": simBool,
	},
	"address_map": map[string]any{
		"host_memory_base": simAddress, "external_memory_base": simAddress, "l3_tile_base": simAddress,
		"l2_bank_base": simAddress, "l1_buffer_base": simAddress, "page_buffer_base": simAddress,
	},
}

// kpuSimFieldNames maps Config keys to the kpu-sim keys they come from, so
// that validation messages on a kpu-sim file name the key the user wrote.
var kpuSimFieldNames = map[string]string{
	"compute_tiles":      "compute.tile_count",
	"array_rows":         "compute.processor_array.rows",
	"array_cols":         "compute.processor_array.cols",
	"l3_tiles":           "on_chip_memory.l3.tile_count",
	"l3_tile_bytes":      "on_chip_memory.l3.tile_capacity_kb",
	"l2_banks":           "on_chip_memory.l2.bank_count",
	"l2_bank_bytes":      "on_chip_memory.l2.bank_capacity_kb",
	"l1_buffers":         "on_chip_memory.l1.buffer_count",
	"l1_buffer_bytes":    "on_chip_memory.l1.buffer_capacity_kb",
	"dram_channels":      "external_memory.bank_count",
	"dram_channel_bytes": "external_memory.bank_capacity_mb",
	"dram_channel_gbps":  "external_memory.bandwidth_gbps",
	"dma_engines":        "data_movement.dma_engine_count",
	"block_movers":       "data_movement.block_mover_count",
	"streamers":          "data_movement.streamer_count",
}

// kpuSimRequired are the kpu-sim keys kpuopt needs (kpu-sim itself reads a
// missing key as 0, which no machine survives).
var kpuSimRequired = []string{
	"external_memory.bank_count", "external_memory.bank_capacity_mb", "external_memory.bandwidth_gbps",
	"on_chip_memory.l3.tile_count", "on_chip_memory.l3.tile_capacity_kb",
	"on_chip_memory.l2.bank_count", "on_chip_memory.l2.bank_capacity_kb",
	"on_chip_memory.l1.buffer_capacity_kb",
	"data_movement.dma_engine_count", "data_movement.block_mover_count", "data_movement.streamer_count",
	"compute.tile_count", "compute.processor_array.rows", "compute.processor_array.cols",
}

// walkKPUSim checks doc against schema, storing converted leaves in out by
// dotted key (int64, float64, string or bool).
func walkKPUSim(doc map[string]any, schema map[string]any, prefix string, out map[string]any, warns *[]string) []error {
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		path := joinKey(prefix, k)
		spec, ok := schema[k]
		if !ok {
			*warns = append(*warns, fmt.Sprintf("unknown key %q ignored", path))
			continue
		}
		raw := doc[k]
		var (
			val any
			err error
		)
		switch s := spec.(type) {
		case map[string]any:
			var m map[string]any
			if m, err = asMap(raw); err == nil {
				errs = append(errs, walkKPUSim(m, s, path, out, warns)...)
				continue
			}
		case string:
			switch s {
			case simInt:
				val, err = asInt(raw)
			case simNumber:
				val, err = asFloat(raw)
			case simString:
				val, err = asString(raw)
			case simBool:
				val, err = asBool(raw)
			case simAddress:
				val, err = asFloat(raw)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			out[path] = nil // seen: not reported missing as well
			continue
		}
		out[path] = val
	}
	return errs
}

// seenKey reports whether the dotted key k, or a section holding it, was in
// the document.
func seenKey(vals map[string]any, k string) bool {
	for p := k; ; {
		if _, ok := vals[p]; ok {
			return true
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			return false
		}
		p = p[:i]
	}
}

// decodeKPUSim builds a Config from a kpu-sim machine file.
func decodeKPUSim(doc map[string]any, base string) (*Config, []string, bool, error) {
	vals := map[string]any{}
	var warns []string
	errs := walkKPUSim(doc, kpuSimSchema, "", vals, &warns)
	var missing []string
	for _, k := range kpuSimRequired {
		if !seenKey(vals, k) {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		errs = append(errs, missingKeys(missing))
	}
	if len(errs) > 0 {
		return nil, nil, false, errors.Join(errs...)
	}
	str := func(k string) string { s, _ := vals[k].(string); return s }
	num := func(k string) int64 { n, _ := vals[k].(int64); return n }
	count := func(k string) (int, error) {
		n := num(k)
		if n > MaxCount {
			return 0, &FieldError{Field: k, Msg: fmt.Sprintf("%d exceeds the limit of %d", n, MaxCount)}
		}
		return int(n), nil
	}
	scaled := func(k string, unit int64, unitName string) (int64, error) {
		n := num(k)
		if n > math.MaxInt64/unit || n < math.MinInt64/unit {
			return 0, &FieldError{Field: k, Msg: fmt.Sprintf("%d %s overflows a 64-bit byte count", n, unitName)}
		}
		return n * unit, nil
	}

	c := &Config{
		Name:                    str("name"),
		Description:             str("description"),
		DMABytesPerCycle:        DefaultDMABytesPerCycle,
		BlockMoverBytesPerCycle: DefaultBlockMoverBytesPerCycle,
		Latency:                 DefaultLatencies,
		Energy:                  DefaultEnergy,
	}
	if c.Name == "" {
		c.Name = base
	}
	c.ClockGHz = defaultClock(c.Name, base)
	if bw, ok := vals["external_memory.bandwidth_gbps"].(float64); ok {
		c.DRAMChannelGBps = bw
	}

	counts := []struct {
		key string
		dst *int
	}{
		{"compute.tile_count", &c.ComputeTiles},
		{"compute.processor_array.rows", &c.ArrayRows},
		{"compute.processor_array.cols", &c.ArrayCols},
		{"on_chip_memory.l3.tile_count", &c.L3Tiles},
		{"on_chip_memory.l2.bank_count", &c.L2Banks},
		{"external_memory.bank_count", &c.DRAMChannels},
		{"data_movement.dma_engine_count", &c.DMAEngines},
		{"data_movement.block_mover_count", &c.BlockMovers},
		{"data_movement.streamer_count", &c.Streamers},
	}
	for _, e := range counts {
		n, err := count(e.key)
		if err != nil {
			errs = append(errs, err)
		}
		*e.dst = n
	}
	sizes := []struct {
		key  string
		unit int64
		name string
		dst  *int64
	}{
		{"on_chip_memory.l3.tile_capacity_kb", kib, "KB", &c.L3TileBytes},
		{"on_chip_memory.l2.bank_capacity_kb", kib, "KB", &c.L2BankBytes},
		{"on_chip_memory.l1.buffer_capacity_kb", kib, "KB", &c.L1BufferBytes},
		{"external_memory.bank_capacity_mb", mib, "MB", &c.DRAMChannelBytes},
	}
	for _, e := range sizes {
		n, err := scaled(e.key, e.unit, e.name)
		if err != nil {
			errs = append(errs, err)
		}
		*e.dst = n
	}
	_, l1Given := vals["on_chip_memory.l1.buffer_count"]
	if l1Given {
		n, err := count("on_chip_memory.l1.buffer_count")
		if err != nil {
			errs = append(errs, err)
		}
		c.L1Buffers = n
	} else {
		c.L1Buffers = derivedL1Buffers(c.ArrayRows, c.ArrayCols, c.ComputeTiles)
	}
	if topo, ok := vals["compute.processor_array.topology"].(string); ok && topo != "rectangular" && topo != "rect" {
		errs = append(errs, &FieldError{Field: "compute.processor_array.topology",
			Msg: fmt.Sprintf("%q is not supported: kpuopt models rectangular systolic arrays only", topo)})
	}
	if sys, ok := vals["compute.systolic_mode"].(bool); ok && !sys {
		warns = append(warns, "compute.systolic_mode is false: kpuopt models the array as a systolic array regardless")
	}
	if len(errs) > 0 {
		return nil, nil, false, errors.Join(errs...)
	}
	return c, warns, !l1Given, nil
}
