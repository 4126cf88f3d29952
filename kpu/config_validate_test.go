package kpu

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Validate on configs built in code: every rule, with the field and the limit
// it reports.
func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []string // "field: message" of every problem, in order
	}{
		{"preset is valid", func(c *Config) {}, nil},
		{"zero clock", func(c *Config) { c.ClockGHz = 0 }, []string{"clock_ghz: 0 GHz is outside (0, 1000]"}},
		{"NaN clock", func(c *Config) { c.ClockGHz = math.NaN() }, []string{"clock_ghz: NaN GHz is outside (0, 1000]"}},
		{"infinite clock", func(c *Config) { c.ClockGHz = math.Inf(1) }, []string{"clock_ghz: +Inf GHz is outside (0, 1000]"}},
		{"zero tiles", func(c *Config) { c.ComputeTiles = 0 }, []string{"compute_tiles: must be positive, got 0"}},
		{"negative rows", func(c *Config) { c.ArrayRows = -16 }, []string{"array_rows: must be positive, got -16"}},
		{"huge array", func(c *Config) { c.ArrayCols = MaxArraySide + 1 }, []string{"array_cols: 4097 exceeds the limit of 4096"}},
		{"too many tiles", func(c *Config) { c.ComputeTiles = MaxCount + 2 }, []string{"compute_tiles: 16777218 exceeds the limit of 16777216"}},
		{"zero L3", func(c *Config) { c.L3TileBytes = 0 }, []string{"l3_tile_bytes: must be positive, got 0 bytes"}},
		{"L3 beyond limit", func(c *Config) { c.L3TileBytes = MaxBytes + 1 }, []string{"l3_tile_bytes: 72057594037927937 bytes exceeds the limit of 2^56 bytes"}},
		{"L3 total beyond limit", func(c *Config) { c.L3TileBytes = MaxBytes/2 + 1 }, []string{"l3_tile_bytes: 2 L3 tiles of 36028797018963969 bytes total more than the limit of 2^56 bytes"}},
		{"int64 overflow of the product", func(c *Config) { c.DRAMChannels = MaxCount; c.DRAMChannelBytes = MaxBytes },
			[]string{"dram_channel_bytes: 16777216 DRAM channels of 72057594037927936 bytes total more than the limit of 2^56 bytes"}},
		{"banks not dividing", func(c *Config) { c.L2Banks = 15 }, []string{"l2_banks: 15 banks do not divide evenly among the 2 compute tiles"}},
		{"buffers not dividing", func(c *Config) { c.L1Buffers = 255 }, []string{"l1_buffers: 255 buffers do not divide evenly among the 2 compute tiles"}},
		{"bank below an array edge", func(c *Config) { c.L2BankBytes = 63 },
			[]string{"l2_bank_bytes: 63 bytes is smaller than one array edge of fp32 operands (16 x 4 = 64 bytes)"}},
		{"too few streamers", func(c *Config) { c.Streamers = 1 }, []string{"streamers: 1 streamers cannot feed 2 compute tiles (need at least one per tile)"}},
		{"zero dram bandwidth", func(c *Config) { c.DRAMChannelGBps = 0 }, []string{"dram_channel_gbps: 0 GB/s is outside (0, 1e+06]"}},
		{"zero dma engines", func(c *Config) { c.DMAEngines = 0 }, []string{"dma_engines: must be positive, got 0"}},
		{"zero mover bandwidth", func(c *Config) { c.BlockMoverBytesPerCycle = 0 }, []string{"block_mover_bytes_per_cycle: 0 is outside (0, 1.073741824e+09]"}},
		{"negative streamer bandwidth", func(c *Config) { c.StreamerBytesPerCycle = -1 }, []string{"streamer_bytes_per_cycle: -1 is outside [0, 1.073741824e+09]"}},
		{"negative latency", func(c *Config) { c.Latency.L2 = -1 }, []string{"latency.l2: -1 cycles is outside [0, 2^32]"}},
		{"negative energy", func(c *Config) { c.Energy.MACInt8 = -0.1 }, []string{"energy.mac_int8_pj: -0.1 is outside [0, 1e+06]"}},
		{"several problems at once", func(c *Config) { c.ComputeTiles = 3; c.Latency.DRAM = -5 },
			[]string{"l2_banks: 16 banks do not divide evenly among the 3 compute tiles",
				"l1_buffers: 256 buffers do not divide evenly among the 3 compute tiles",
				"latency.dram: -5 cycles is outside [0, 2^32]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Preset("edge_ai")
			if err != nil {
				t.Fatal(err)
			}
			tt.mutate(c)
			var got []string
			if err := c.Validate(); err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var fe *FieldError
					if !errors.As(e, &fe) {
						t.Errorf("%v is not a *FieldError", e)
					}
					got = append(got, e.Error())
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1000, "1000 B"}, {1024, "1 KiB"}, {1536, "1.50 KiB"}, {64 << 10, "64 KiB"},
		{3 << 20, "3 MiB"}, {(1 << 30) + 1, "1.00 GiB"}, {6 << 32, "24 GiB"}, {1 << 56, "64 PiB"},
		{math.MaxInt64, "8.00 EiB"},
	}
	for _, tt := range tests {
		if got := FormatBytes(tt.n); got != tt.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// Parameters covers every settable key of Config (so `configs show` never
// hides one) and the rows are unique.
func TestParametersCoverConfig(t *testing.T) {
	c, err := Preset("datacenter")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range c.Parameters() {
		if seen[p.Key] {
			t.Errorf("duplicate parameter %s", p.Key)
		}
		seen[p.Key] = true
	}
	for k := range nativeKeys() {
		if k == "latency" || k == "energy" {
			continue
		}
		if !seen[k] {
			t.Errorf("Parameters lacks %s", k)
		}
	}
	for _, k := range []string{"latency.dram", "latency.l3", "latency.l2", "latency.l1", "energy.mac_fp32_pj", "energy.dram_pj_per_byte"} {
		if !seen[k] {
			t.Errorf("Parameters lacks %s", k)
		}
	}
	if s := c.Summary(); !strings.Contains(s, "256 x 32x32 arrays") || !strings.Contains(s, "4800 GB/s") {
		t.Errorf("Summary = %q", s)
	}
}
