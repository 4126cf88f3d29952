package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stillwater-sc/kpuopt/kpu"
)

// runConfigs runs kpuopt with args in-process and returns stdout, stderr and
// the exit code.
func runConfigs(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return out.String(), errb.String(), code
}

func TestConfigsGolden(t *testing.T) {
	tests := []struct {
		golden string
		args   []string
	}{
		{"configs_list.txt", []string{"configs", "list"}},
		{"configs_list.json", []string{"configs", "list", "--format", "json"}},
		{"configs_show_edge_ai.txt", []string{"configs", "show", "edge_ai"}},
		{"configs_show_datacenter.json", []string{"configs", "show", "datacenter", "--format", "json"}},
		{"configs_show_kpusim_minimal.txt", []string{"configs", "show", "../../testdata/configs/kpusim/minimal.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			out, errs, code := runConfigs(t, tt.args...)
			if code != exitOK || errs != "" {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			checkGolden(t, tt.golden, []byte(out))
		})
	}
}

// The JSON that `configs show --format json` prints is a config file that
// loads back to the same machine, for presets and for kpu-sim files.
func TestConfigsShowJSONRoundTrip(t *testing.T) {
	machines := append([]string{}, kpu.PresetNames...)
	sims, err := filepath.Glob("../../testdata/configs/kpusim/*")
	if err != nil || len(sims) == 0 {
		t.Fatalf("kpu-sim configs: %v (%d files)", err, len(sims))
	}
	machines = append(machines, sims...)
	dir := t.TempDir()
	for i, m := range machines {
		first, errs, code := runConfigs(t, "configs", "show", m, "--format", "json")
		if code != exitOK || errs != "" {
			t.Fatalf("%s: exit %d, stderr %q", m, code, errs)
		}
		path := filepath.Join(dir, filepath.Base(m)+"_"+string(rune('a'+i))+".json")
		if err := os.WriteFile(path, []byte(first), 0o644); err != nil {
			t.Fatal(err)
		}
		second, errs, code := runConfigs(t, "configs", "show", path, "--format", "json")
		if code != exitOK || errs != "" {
			t.Fatalf("%s reloaded: exit %d, stderr %q", m, code, errs)
		}
		if diff := cmp.Diff(first, second); diff != "" {
			t.Errorf("%s: round trip differs (-first +second):\n%s", m, diff)
		}
		want, _, err := kpu.Resolve(m)
		if err != nil {
			t.Fatal(err)
		}
		var got kpu.Config
		if err := json.Unmarshal([]byte(second), &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(*want, got); diff != "" {
			t.Errorf("%s: reloaded config differs (-want +got):\n%s", m, diff)
		}
	}
}

func TestConfigsErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badBanks := write("bad_banks.yaml", "compute: {tile_count: 2, processor_array: {rows: 16, cols: 16}}\n"+
		"on_chip_memory: {l3: {tile_count: 2, tile_capacity_kb: 128}, l2: {bank_count: 15, bank_capacity_kb: 64}, l1: {buffer_capacity_kb: 64}}\n"+
		"external_memory: {bank_count: 2, bank_capacity_mb: 512, bandwidth_gbps: 100}\n"+
		"data_movement: {dma_engine_count: 2, block_mover_count: 4, streamer_count: 16}\n")
	broken := write("broken.json", `{"compute_tiles": `)
	tests := []struct {
		name string
		args []string
		code int
		want string // substring of the single stderr line
	}{
		{"unknown machine", []string{"configs", "show", "nope"}, exitBadInput, `config "nope": not a preset`},
		{"non-dividing banks", []string{"configs", "show", badBanks}, exitBadInput, "on_chip_memory.l2.bank_count: 15 banks do not divide evenly among the 2 compute tiles"},
		{"truncated json", []string{"configs", "show", broken}, exitBadInput, "broken.json: invalid JSON: truncated"},
		{"bad format", []string{"configs", "show", "edge_ai", "--format", "xml"}, exitBadInput, `--format "xml"`},
		{"bad list format", []string{"configs", "list", "--format", "yaml"}, exitBadInput, `--format "yaml"`},
		{"missing argument", []string{"configs", "show"}, exitBadInput, "accepts 1 arg"},
		{"extra argument", []string{"configs", "list", "x"}, exitBadInput, "unknown command"},
		{"unknown flag", []string{"configs", "show", "edge_ai", "--colour"}, exitBadInput, "unknown flag: --colour"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := runConfigs(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errs)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if strings.Count(errs, "\n") != 1 || !strings.Contains(errs, tt.want) {
				t.Errorf("stderr %q, want one line holding %q", errs, tt.want)
			}
		})
	}
}

func TestConfigsWarnings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.yaml")
	body := "compute_tiles: 1\narray_rows: 8\narray_cols: 8\nl3_tiles: 1\nl3_tile_bytes: 65536\nl2_banks: 4\n" +
		"l2_bank_bytes: 32768\nl1_buffer_bytes: 32768\ndram_channels: 1\ndram_channel_bytes: 268435456\n" +
		"dram_channel_gbps: 50\ndma_engines: 1\nblock_movers: 1\nstreamers: 4\nturbo_mode: on\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := runConfigs(t, "configs", "show", path, "--format", "json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	want := "kpuopt: warning: config " + path + `: unknown key "turbo_mode" ignored` + "\n"
	if errs != want {
		t.Errorf("stderr %q, want %q", errs, want)
	}
	if !strings.Contains(out, `"name": "m"`) {
		t.Errorf("stdout lacks the file-derived name: %s", out)
	}
}
