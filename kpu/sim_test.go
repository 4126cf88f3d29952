package kpu

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stillwater-sc/kpuopt/model"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

const programsDir = "../testdata/programs"

func mustPreset(tb testing.TB, name string) *Config {
	tb.Helper()
	cfg, err := Preset(name)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// golden writes p to testdata/programs/name.json under -update, otherwise
// checks that the file matches p, then returns the program read back from
// the file (exercising the JSON round trip).
func golden(t *testing.T, p *Program) *Program {
	t.Helper()
	data, err := MarshalProgram(p)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(programsDir, p.Name+".json")
	if *update {
		if err := os.MkdirAll(programsDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./kpu -run %s -update)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), string(data)); diff != "" {
		t.Fatalf("%s differs from the built program (-file +built):\n%s", path, diff)
	}
	back, err := LoadProgram(path)
	if err != nil {
		t.Fatal(err)
	}
	again, err := MarshalProgram(back)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, data) {
		t.Fatalf("%s does not round-trip through JSON", path)
	}
	return back
}

// matmulInputs returns seeded inputs for a tiled matmul program and the
// reference C.
func matmulInputs(s tiledSpec, seed uint64) (map[string][]byte, []float64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	a, ab := randomTensor(rng, s.dtype, s.M*s.K)
	b, bb := randomTensor(rng, s.dtype, s.K*s.N)
	return map[string][]byte{"A": ab, "B": bb}, naiveMatMul(a, b, s.M, s.N, s.K)
}

var matmulSpecs = []tiledSpec{
	{name: "matmul_single_tile", preset: "minimal", M: 16, N: 24, K: 32, TM: 16, TN: 24, TK: 32, dtype: model.Float32},
	{name: "matmul_tiled_double_buffered", preset: "edge_ai", M: 96, N: 64, K: 128, TM: 32, TN: 32, TK: 32, dtype: model.Float32, double: true},
	{name: "matmul_tiled_int8", preset: "edge_ai", M: 64, N: 64, K: 64, TM: 32, TN: 32, TK: 32, dtype: model.Int8, double: true},
	{name: "matmul_tiled_bf16", preset: "minimal", M: 32, N: 32, K: 64, TM: 16, TN: 16, TK: 32, dtype: model.BFloat16, double: true},
}

func TestMatmulPrograms(t *testing.T) {
	for _, s := range matmulSpecs {
		t.Run(s.name, func(t *testing.T) {
			cfg := mustPreset(t, s.preset)
			p := golden(t, buildTiledMatmul(t, cfg, s))
			inputs, want := matmulInputs(s, 1)
			res, err := Simulate(context.Background(), p, nil, SimOptions{Functional: true, Inputs: inputs})
			if err != nil {
				t.Fatal(err)
			}
			got := DecodeElements(s.dtype.Accumulator(), res.Tensors["C"])
			tol := 1e-5
			if s.dtype.IsInteger() {
				tol = 0
			}
			if err := closeTo(got, want, tol); err != nil {
				t.Fatalf("C: %v", err)
			}
			if res.LatencyCycles <= 0 || res.EnergyPJ <= 0 {
				t.Fatalf("latency %d, energy %g: want positive", res.LatencyCycles, res.EnergyPJ)
			}
			// Compulsory DRAM traffic: A and B are read once per C tile column/row.
			es := s.dtype.Size()
			wantDRAM := (s.M*s.K*(s.N/s.TN)+s.K*s.N*(s.M/s.TM))*es + s.M*s.N*4
			if res.DRAMBytes != wantDRAM {
				t.Fatalf("dram_bytes = %d, want %d", res.DRAMBytes, wantDRAM)
			}
		})
	}
}

// TestBadPrograms checks that each broken twin is rejected with the right
// kind of violation and a message naming the command, unit and range.
func TestBadPrograms(t *testing.T) {
	base := tiledSpec{preset: "edge_ai", M: 64, N: 32, K: 96, TM: 32, TN: 32, TK: 32, dtype: model.Float32, double: true}
	tests := []struct {
		name, bad string
		edit      func(*tiledSpec)
		kind, msg string
	}{
		{"matmul_bad_missing_dep", "missing_dep", nil, VRace,
			"command 20: race: fabric 0 reads L1 buffer 1 bytes [4096, 4224) that command 19 (streamer 1) writes, and no dep or queue order puts command 19 first"},
		{"matmul_bad_overlapping_slots", "overlap_slots", nil, VRace,
			"command 16: race: block_mover 0 writes L2 bank 0 bytes [0, 128) that command 4 (streamer 0) reads"},
		{"matmul_bad_wrong_address", "wrong_addr", nil, VRange,
			"command 8: dst: address 135168 is outside L3 tile 1 (capacity 131072 bytes)"},
		{"matmul_bad_uninit_read", "uninit_read", nil, VUninit,
			"command 18: streamer 0 reads L2 bank 0 bytes [8192, 8320) that no earlier command wrote"},
		{"matmul_bad_bank_overflow", "", func(s *tiledSpec) {
			s.M, s.N, s.K, s.TM, s.TN, s.TK, s.double = 160, 64, 128, 160, 32, 128, false
		}, VCapacity, "command 2: dst: L2 bank 0 bytes [0, 81920) exceeds L2 bank 0 capacity of 65536 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := base
			s.name, s.bad = tc.name, tc.bad
			if tc.edit != nil {
				tc.edit(&s)
			}
			cfg := mustPreset(t, s.preset)
			p := golden(t, buildTiledMatmul(t, cfg, s))
			inputs, _ := matmulInputs(s, 1)
			for _, functional := range []bool{false, true} {
				_, err := Simulate(context.Background(), p, nil, SimOptions{Functional: functional, Inputs: inputs})
				var ce *CheckError
				if !errors.As(err, &ce) {
					t.Fatalf("Simulate error = %v, want a *CheckError", err)
				}
				if got := ce.Violations[0].Kind; got != tc.kind {
					t.Fatalf("first violation kind %q, want %q: %v", got, tc.kind, err)
				}
				if !strings.Contains(ce.Violations[0].Message, tc.msg) {
					t.Fatalf("message %q\ndoes not contain %q", ce.Violations[0].Message, tc.msg)
				}
			}
		})
	}
}
