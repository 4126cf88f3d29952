package verify

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/lowering"
	"github.com/stillwater-sc/kpuopt/model"
)

func TestCompareOutput(t *testing.T) {
	enc := func(dt model.DType, vals ...float64) []byte { return kpu.EncodeElements(dt, vals) }
	arr := func(dt model.DType, vals ...float64) *model.Array {
		return &model.Array{Shape: []int64{int64(len(vals))}, DType: dt, Data: vals}
	}
	tests := []struct {
		name string
		dt   model.DType
		got  []byte
		ref  *model.Array
		want OutputCheck
	}{
		{"int exact", model.Int32, enc(model.Int32, 1, -2, 3), arr(model.Int32, 1, -2, 3),
			OutputCheck{Exact: true, FirstBad: -1, OK: true}},
		{"int off by one", model.Int8, enc(model.Int8, 1, -2, 4), arr(model.Int8, 1, -2, 3),
			OutputCheck{Exact: true, FirstBad: 2, Mismatches: 1, MaxAbsErr: 1, MaxRelErr: 1.0 / 3}},
		{"float within", model.Float32, enc(model.Float32, 1, 2.00001, -1), arr(model.Float32, 1, 2, -1),
			OutputCheck{Tolerance: 1e-4, FirstBad: -1, OK: true}},
		{"float outside", model.Float16, enc(model.Float16, 1, 2.5, -1), arr(model.Float16, 1, 2, -1),
			OutputCheck{Tolerance: 5e-3, FirstBad: 1, Mismatches: 1, MaxAbsErr: 0.5, MaxRelErr: 0.25}},
		{"NaN where a number is due", model.Float32, enc(model.Float32, math.NaN()), arr(model.Float32, 1),
			OutputCheck{Tolerance: 1e-4, FirstBad: 0, Mismatches: 1, MaxAbsErr: math.Inf(1), MaxRelErr: math.Inf(1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tensor := &model.Tensor{Name: "C", Shape: tt.ref.Shape, DType: tt.dt}
			got, err := compareOutput("C", tensor, tt.got, tt.ref, 0)
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Tensor, tt.want.DType, tt.want.Elements = "C", tt.dt, int64(len(tt.ref.Data))
			if tt.name == "float within" {
				tt.want.MaxAbsErr, tt.want.MaxRelErr = got.MaxAbsErr, got.MaxRelErr // float32 rounding of 2.00001
				if got.MaxRelErr > 1e-5 || got.MaxRelErr == 0 {
					t.Errorf("max rel error %g", got.MaxRelErr)
				}
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("compareOutput (-want +got):\n%s", d)
			}
		})
	}
	if _, err := compareOutput("C", &model.Tensor{Shape: []int64{1}, DType: model.Float32}, nil, arr(model.Float32, 1), 0); err == nil || !strings.Contains(err.Error(), "does not place it") {
		t.Errorf("missing output: %v", err)
	}
}

// program lowers a small GEMM whose reduction is split in two L2 steps.
func program(t *testing.T, dt, out model.DType) (*kpu.Program, *kpu.Config) {
	t.Helper()
	src := `{"op":"matmul","A":{"shape":[12,16],"dtype":"` + string(dt) + `"},"B":{"shape":[16,10],"dtype":"` + string(dt) + `"},"C":{"shape":[12,10],"dtype":"` + string(out) + `"}}`
	g, err := model.Parse([]byte(src), "t.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := kpu.Preset("minimal")
	if err != nil {
		t.Fatal(err)
	}
	m := model.Mapping{L3: model.Tile{M: 12, N: 10, K: 16}, L2: model.Tile{M: 12, N: 10, K: 8}, L3Order: "mnk", L2Order: "mnk",
		Split: model.Split{M: 1, N: 1, K: 1}, L3Buffers: model.Buffers{A: 1, B: 1, C: 1}, L2Buffers: model.Buffers{A: 2, B: 2, C: 1}}
	p, err := lowering.Lower(context.Background(), g, lowering.Schedule{g.Operators[0].Name: m}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, cfg
}

func TestProgram(t *testing.T) {
	ctx := context.Background()
	for _, dt := range []struct{ in, out model.DType }{{model.Float32, model.Float32}, {model.Int8, model.Int8}, {model.Float16, model.Float16}, {model.BFloat16, model.Float32}, {model.Int8, model.Int32}} {
		p, cfg := program(t, dt.in, dt.out)
		rep, err := Program(ctx, p, cfg, Options{Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Verified || !rep.Functional || !rep.Checks || len(rep.Outputs) != 1 || rep.MACs != 12*10*16 {
			t.Errorf("%s -> %s: %+v", dt.in, dt.out, rep)
		}
	}
	p, cfg := program(t, model.Float32, model.Float32)
	good, err := Program(ctx, p, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sim := *good.Simulated

	// a prediction off by 10% fails the fidelity bound; within 3% passes
	pred := sim
	pred.LatencyCycles = sim.LatencyCycles * 11 / 10
	rep, _ := Program(ctx, p, cfg, Options{Predicted: &pred})
	if rep.Verified || len(rep.Reasons) != 1 || !strings.Contains(rep.Reasons[0], "predicted latency") || rep.Deviation.Latency < 0.09 {
		t.Errorf("10%% off: %+v", rep)
	}
	pred.LatencyCycles = sim.LatencyCycles * 102 / 100
	if rep, _ := Program(ctx, p, cfg, Options{Predicted: &pred}); !rep.Verified {
		t.Errorf("2%% off: %v", rep.Reasons)
	}

	// above the functional limit: timing and checks only
	rep, _ = Program(ctx, p, cfg, Options{FunctionalLimitMACs: 100})
	if !rep.Verified || rep.Functional || !strings.Contains(rep.FunctionalNote, "timing and checks only") {
		t.Errorf("limit: %+v", rep)
	}

	// wrong numbers: the second reduction step overwrites instead of accumulating
	q, _ := program(t, model.Float32, model.Float32)
	n := 0
	for i := range q.Commands {
		if q.Commands[i].Op == kpu.OpMatMul && q.Commands[i].Accumulate {
			q.Commands[i].Accumulate = false
			n++
		}
	}
	rep, _ = Program(ctx, q, cfg, Options{})
	if n == 0 || rep.Verified || !rep.Checks || len(rep.Outputs) != 1 || rep.Outputs[0].OK || !strings.Contains(rep.Reasons[0], "outside relative tolerance") {
		t.Errorf("no accumulation: %+v", rep)
	}

	// a check violation: no numerics, the violations listed
	q, _ = program(t, model.Float32, model.Float32)
	q.Commands[0].Dst.Addr = cfg.L3TileBytes - 4
	rep, _ = Program(ctx, q, cfg, Options{})
	if rep.Verified || rep.Checks || len(rep.Violations) == 0 || rep.Violations[0].Kind != kpu.VCapacity {
		t.Errorf("capacity: %+v", rep)
	}

	// a cancelled context is an error, not a verdict
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Program(cctx, p, cfg, Options{}); err == nil {
		t.Error("cancelled: no error")
	}
}
