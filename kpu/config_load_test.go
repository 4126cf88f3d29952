package kpu

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// Each of kpu-sim's machine files loads and equals the preset named after it
// (the presets restate those files plus kpu-sim's preset clocks).
func TestResolveKPUSimFiles(t *testing.T) {
	tests := []struct {
		file   string
		preset string
		name   string
	}{
		{"minimal.yaml", "minimal", "Minimal KPU"},
		{"minimal.json", "minimal", "Minimal KPU"},
		{"edge_ai.yaml", "edge_ai", "Edge AI KPU"},
		{"embodied_ai.yaml", "embodied_ai", "embodied_ai"},
		{"datacenter.yaml", "datacenter", "Datacenter KPU"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("..", "testdata", "configs", "kpusim", tt.file)
			got, warns, err := Resolve(path)
			if err != nil {
				t.Fatalf("Resolve(%s): %v", path, err)
			}
			if len(warns) != 0 {
				t.Errorf("warnings: %q", warns)
			}
			if got.Name != tt.name {
				t.Errorf("name = %q, want %q", got.Name, tt.name)
			}
			want, err := Preset(tt.preset)
			if err != nil {
				t.Fatal(err)
			}
			want.Name, want.Description = got.Name, got.Description
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s differs from preset %s (-want +got):\n%s", tt.file, tt.preset, diff)
			}
		})
	}
}

// Every shipped config under testdata/configs loads cleanly.
func TestShippedConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "configs", "*.*"))
	if err != nil || len(files) < 3 {
		t.Fatalf("shipped configs: %v, %d files", err, len(files))
	}
	for _, f := range files {
		c, warns, err := Resolve(f)
		if err != nil || len(warns) != 0 {
			t.Errorf("%s: warnings %q, error %v", f, warns, err)
			continue
		}
		if c.Name != strings.TrimSuffix(filepath.Base(f), filepath.Ext(f)) {
			t.Errorf("%s: name %q does not match the file name", f, c.Name)
		}
	}
}

func TestResolvePresets(t *testing.T) {
	for _, name := range PresetNames {
		c, warns, err := Resolve(name)
		if err != nil || len(warns) != 0 {
			t.Fatalf("Resolve(%q) = %v, %v", name, warns, err)
		}
		if c.Name != name {
			t.Errorf("Resolve(%q).Name = %q", name, c.Name)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("preset %s invalid: %v", name, err)
		}
	}
	c, _, err := Resolve("Edge-AI")
	if err != nil || c.Name != "edge_ai" {
		t.Errorf(`Resolve("Edge-AI") = %v, %v; want the edge_ai preset`, c, err)
	}
	for _, bad := range []string{"", "  ", "no_such_machine", filepath.Join(t.TempDir(), "absent.yaml")} {
		if _, _, err := Resolve(bad); err == nil {
			t.Errorf("Resolve(%q) succeeded, want an error", bad)
		}
	}
}

// A preset written as JSON or YAML with kpuopt's keys reads back equal.
func TestNativeRoundTrip(t *testing.T) {
	for _, name := range PresetNames {
		want, err := Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		js, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		ym, err := yaml.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range []struct {
			src  string
			data []byte
		}{{name + ".json", js}, {name + ".yaml", ym}, {"noext", js}} {
			got, warns, format, err := ParseConfigFormat(doc.data, doc.src)
			if err != nil {
				t.Fatalf("%s: %v", doc.src, err)
			}
			if format != FormatNative || len(warns) != 0 {
				t.Errorf("%s: format %s, warnings %q", doc.src, format, warns)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s round trip (-want +got):\n%s", doc.src, diff)
			}
		}
	}
}

// minimalNative is the smallest kpuopt-format file: only the required keys.
const minimalNative = `
compute_tiles: 2
array_rows: 16
array_cols: 8
l3_tiles: 2
l3_tile_bytes: 131072
l2_banks: 16
l2_bank_bytes: 65536
l1_buffer_bytes: 65536
dram_channels: 2
dram_channel_bytes: 536870912
dram_channel_gbps: 100
dma_engines: 2
block_movers: 4
streamers: 16
`

func TestNativeDefaults(t *testing.T) {
	got, warns, err := ParseConfig([]byte(minimalNative), "dir/my_machine.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Name: "my_machine", ClockGHz: DefaultClockGHz,
		ComputeTiles: 2, ArrayRows: 16, ArrayCols: 8,
		L3Tiles: 2, L3TileBytes: 128 * kib, L2Banks: 16, L2BankBytes: 64 * kib,
		L1Buffers: 4 * (16 + 8) * 2, L1BufferBytes: 64 * kib,
		DRAMChannels: 2, DRAMChannelBytes: 512 * mib, DRAMChannelGBps: 100,
		DMAEngines: 2, BlockMovers: 4, Streamers: 16,
		DMABytesPerCycle: DefaultDMABytesPerCycle, BlockMoverBytesPerCycle: DefaultBlockMoverBytesPerCycle,
		Latency: DefaultLatencies, Energy: DefaultEnergy,
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %q", warns)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}

	// A name that matches a preset takes kpu-sim's clock for it; explicit
	// values, zero latencies included, are kept; partial sections are filled.
	doc := minimalNative + "name: Edge AI KPU\nlatency: {dram: 250, l1: 0}\nenergy: {dram_pj_per_byte: 20}\n"
	got, _, err = ParseConfig([]byte(doc), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	wantLat := Latencies{DRAM: 250, L3: DefaultLatencies.L3, L2: DefaultLatencies.L2, L1: 0}
	wantEnergy := DefaultEnergy
	wantEnergy.DRAM = 20
	if got.ClockGHz != 0.75 || got.Latency != wantLat || got.Energy != wantEnergy {
		t.Errorf("clock %v latency %+v energy %+v; want 0.75, %+v, %+v", got.ClockGHz, got.Latency, got.Energy, wantLat, wantEnergy)
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		src  string
		doc  string
		want []string
	}{
		{"native unknown keys", "m.yaml", minimalNative + "turbo: true\nlatency: {l4: 3}\n",
			[]string{`config m.yaml: unknown key "latency.l4" ignored`, `config m.yaml: unknown key "turbo" ignored`}},
		{"kpu-sim unknown keys and systolic off", "s.yaml", strings.Replace(readKPUSim(t, "edge_ai.yaml"),
			"systolic_mode: true", "systolic_mode: false\n  clock_mhz: 900", 1),
			[]string{`config s.yaml: unknown key "compute.clock_mhz" ignored`,
				"config s.yaml: compute.systolic_mode is false: kpuopt models the array as a systolic array regardless"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, warns, err := ParseConfig([]byte(tt.doc), tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, warns); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func readKPUSim(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "configs", "kpusim", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Malformed configs: each must fail with a message naming the file, the key
// and the limit or the problem.
func TestMalformed(t *testing.T) {
	edge := readKPUSim(t, "edge_ai.yaml")
	sub := func(old, new string) string {
		if !strings.Contains(edge, old) {
			t.Fatalf("edge_ai.yaml lacks %q", old)
		}
		return strings.Replace(edge, old, new, 1)
	}
	native := func(old, new string) string {
		if !strings.Contains(minimalNative, old) {
			t.Fatalf("minimalNative lacks %q", old)
		}
		return strings.Replace(minimalNative, old, new, 1)
	}
	tests := []struct {
		name string
		src  string
		doc  string
		want []string // substrings of the error
	}{
		{"empty", "e.yaml", "", []string{"e.yaml", "empty"}},
		{"comments only", "c.yaml", "# nothing\n", []string{"c.yaml", "empty document"}},
		{"bad yaml", "b.yaml", "compute:\n  tile_count: [1\n", []string{"b.yaml", "invalid YAML"}},
		{"bad yaml indentation", "b.yaml", "a: 1\n b: 2\n", []string{"invalid YAML"}},
		{"duplicate yaml key", "d.yaml", minimalNative + "streamers: 4\n", []string{"d.yaml", "invalid YAML", "streamers"}},
		{"truncated json", "t.json", `{"compute_tiles": 2, "array_rows": `, []string{"t.json", "invalid JSON", "truncated"}},
		{"json syntax", "s.json", "{\n  \"compute_tiles\": 2,,\n}", []string{"s.json", "line 2"}},
		{"json trailing data", "t.json", `{"compute_tiles": 2} {}`, []string{"data after the top-level value"}},
		{"top level list", "l.yaml", "- 1\n- 2\n", []string{"top level", "want a mapping"}},
		{"no machine keys", "n.yaml", "foo: 1\n", []string{"n.yaml", "no machine parameters"}},
		{"mixed formats", "m.yaml", minimalNative + "compute: {tile_count: 2}\n", []string{"mixes kpu-sim keys (compute)", "compute_tiles"}},
		{"native missing key", "m.yaml", native("streamers: 16\n", ""), []string{"m.yaml", "streamers: required key missing"}},
		{"native wrong type", "w.yaml", native("compute_tiles: 2", "compute_tiles: two"), []string{"compute_tiles", `want an integer, got string "two"`}},
		{"native fraction", "f.yaml", native("compute_tiles: 2", "compute_tiles: 2.5"), []string{"compute_tiles", "want an integer, got 2.5"}},
		{"native negative", "n.yaml", native("l2_banks: 16", "l2_banks: -16"), []string{"l2_banks: must be positive, got -16"}},
		{"native zero clock", "z.yaml", minimalNative + "clock_ghz: 0\n", []string{"clock_ghz", "outside (0, 1000]"}},
		{"native section wrong type", "s.yaml", minimalNative + "latency: 5\n", []string{"latency: want a mapping"}},
		{"native negative latency", "s.yaml", minimalNative + "latency: {l3: -1}\n", []string{"latency.l3", "outside [0, 2^32]"}},
		{"native NaN energy", "s.yaml", minimalNative + "energy: {l2_pj_per_byte: .nan}\n", []string{"energy.l2_pj_per_byte", "NaN"}},
		{"native huge int", "h.json", `{"compute_tiles": 99999999999999999999999}`, []string{"compute_tiles: 1e+23 overflows int64", "required keys missing: array_rows, array_cols"}},
		{"native overflow total", "o.yaml", native("l3_tile_bytes: 131072", "l3_tile_bytes: 72057594037927936"), []string{"l3_tile_bytes", "limit of 2^56"}},
		{"native absurd array", "a.yaml", native("array_rows: 16", "array_rows: 100000"), []string{"array_rows", "limit of 4096"}},
		{"native l1 not dividing", "d.yaml", minimalNative + "l1_buffers: 7\n", []string{"l1_buffers", "do not divide evenly among the 2 compute tiles"}},
		{"native few streamers", "f.yaml", native("streamers: 16", "streamers: 1"), []string{"streamers", "cannot feed 2 compute tiles"}},
		{"native negative bandwidth", "b.yaml", minimalNative + "dma_bytes_per_cycle: -4\n", []string{"dma_bytes_per_cycle", "outside (0"}},
		{"sim zero tiles", "z.yaml", sub("tile_count: 2\n  processor_array", "tile_count: 0\n  processor_array"), []string{"z.yaml", "compute.tile_count: must be positive, got 0"}},
		{"sim banks not dividing", "n.yaml", sub("bank_count: 16", "bank_count: 15"), []string{"on_chip_memory.l2.bank_count", "15 banks do not divide evenly among the 2 compute tiles"}},
		{"sim bank smaller than edge", "s.yaml", sub("bank_capacity_kb: 64", "bank_capacity_kb: 0"), []string{"on_chip_memory.l2.bank_capacity_kb"}},
		{"sim missing section", "m.yaml", sub("data_movement:", "data_moving:"), []string{"required keys missing: data_movement.dma_engine_count, data_movement.block_mover_count, data_movement.streamer_count"}},
		{"sim wrong type", "w.yaml", sub("rows: 16", "rows: sixteen"), []string{"compute.processor_array.rows", `want an integer, got string "sixteen"`}},
		{"sim derived l1 above limit", "l.yaml", sub("tile_count: 2\n  processor_array", "tile_count: 2000000\n  processor_array"),
			[]string{"on_chip_memory.l1.buffer_count", "(derived as 4 x (rows + cols) x compute tiles)"}},
		{"sim section is scalar", "s.yaml", sub("l3:\n    tile_count: 2\n    tile_capacity_kb: 128", "l3: 5"), []string{"on_chip_memory.l3: want a mapping"}},
		{"sim negative bandwidth", "b.yaml", sub("bandwidth_gbps: 100", "bandwidth_gbps: -100"), []string{"external_memory.bandwidth_gbps", "outside (0, 1e+06]"}},
		{"sim kb overflow", "o.yaml", sub("tile_capacity_kb: 128", "tile_capacity_kb: 9007199254740993"), []string{"on_chip_memory.l3.tile_capacity_kb", "overflows a 64-bit byte count"}},
		{"sim capacity above limit", "o.yaml", sub("bank_capacity_mb: 512", "bank_capacity_mb: 137438953472"), []string{"external_memory.bank_capacity_mb", "limit of 2^56"}},
		{"sim count above limit", "o.yaml", sub("streamer_count: 16", "streamer_count: 4294967296"), []string{"data_movement.streamer_count", "exceeds the limit of 16777216"}},
		{"sim hexagonal", "h.yaml", sub("topology: rectangular", "topology: hexagonal"), []string{"compute.processor_array.topology", "rectangular systolic arrays only"}},
		{"sim bool wrong type", "b.yaml", sub("systolic_mode: true", "systolic_mode: 3"), []string{"compute.systolic_mode", "want true or false"}},
		{"sim name wrong type", "n.yaml", sub(`name: "Edge AI KPU"`, "name: [a, b]"), []string{"name: want a string, got a list"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := ParseConfig([]byte(tt.doc), tt.src)
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "config "+tt.src+": ") {
				t.Errorf("error %q does not start with the source", err)
			}
		})
	}
}

// One mistake gives one message: no echo about keys derived from, or
// sections holding, the faulty key.
func TestMalformedSingleMessage(t *testing.T) {
	edge := readKPUSim(t, "edge_ai.yaml")
	tests := []struct{ old, new, want string }{
		{"rows: 16", "rows: sixteen", `compute.processor_array.rows: want an integer, got string "sixteen"`},
		{"rows: 16", "rows: -3", "compute.processor_array.rows: must be positive, got -3"},
		{"l3:\n    tile_count: 2\n    tile_capacity_kb: 128", "l3: 5", "on_chip_memory.l3: want a mapping, got number 5"},
	}
	for _, tt := range tests {
		_, _, err := ParseConfig([]byte(strings.Replace(edge, tt.old, tt.new, 1)), "e.yaml")
		if want := "config e.yaml: " + tt.want; err == nil || err.Error() != want {
			t.Errorf("%s -> %s: error %v, want %q", tt.old, tt.new, err, want)
		}
	}
}

func TestLoadConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte(strings.Repeat("#", MaxConfigFileBytes+10)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadConfig(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("LoadConfig(big) = %v, want a size error", err)
	}
	if _, _, err := LoadConfig(dir); err == nil {
		t.Errorf("LoadConfig(directory) succeeded")
	}
}
