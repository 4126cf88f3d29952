package kpu

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stillwater-sc/kpuopt/model"
)

// buildTranspose moves A (16 x 24) DRAM -> L3, transposes it L3 -> L2 with a
// BlockMover, and writes it back as AT (24 x 16).
func buildTranspose() *Program {
	f := model.Float32
	p := &Program{Name: "transpose_block_mover", Config: ConfigRef{Name: "minimal"}, Tensors: map[string]TensorPlacement{
		"A":  {Addr: 0, DType: f, Shape: []int64{16, 24}, Input: true},
		"AT": {Addr: 16 * 24 * 4, DType: f, Shape: []int64{24, 16}},
	}}
	b := &builder{p: p}
	ld := b.add(Command{Engine: Engine{DMA, 0}, Op: OpLoad, DType: f, Label: "A",
		Src: p.Tensors["A"].Access(), Dst: at(L3, 0, 0, []int64{16, 24}, nil)})
	tr := b.add(Command{Engine: Engine{BlockMover, 0}, Op: OpTranspose, DType: f, Label: "A^T", Deps: deps(ld),
		Src: at(L3, 0, 0, []int64{16, 24}, nil), Dst: at(L2, 1, 256, []int64{24, 16}, nil)})
	mv := b.add(Command{Engine: Engine{BlockMover, 0}, Op: OpMove, DType: f, Label: "A^T", Deps: deps(tr),
		Src: at(L2, 1, 256, []int64{24, 16}, nil), Dst: at(L3, 0, 4096, []int64{24, 16}, nil)})
	b.add(Command{Engine: Engine{DMA, 0}, Op: OpStore, DType: f, Label: "AT", Deps: deps(mv),
		Src: at(L3, 0, 4096, []int64{24, 16}, nil), Dst: p.Tensors["AT"].Access()})
	for i := range p.Commands {
		if a := p.Commands[i].Src; a.Level == DRAM {
			a.DType = ""
		}
		if a := p.Commands[i].Dst; a.Level == DRAM {
			a.DType = ""
		}
	}
	return p
}

func TestTransposeProgram(t *testing.T) {
	p := golden(t, buildTranspose())
	rng := rand.New(rand.NewPCG(3, 3))
	a, ab := randomTensor(rng, model.Float32, 16*24)
	res, err := Simulate(context.Background(), p, nil, SimOptions{Functional: true, Inputs: map[string][]byte{"A": ab}})
	if err != nil {
		t.Fatal(err)
	}
	got := DecodeElements(model.Float32, res.Tensors["AT"])
	want := make([]float64, len(a))
	for i := 0; i < 16; i++ {
		for j := 0; j < 24; j++ {
			want[j*16+i] = a[i*24+j]
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("AT (-want +got):\n%s", diff)
	}
	// A chain of four transfers of 1536 bytes each.
	cfg := mustPreset(t, "minimal")
	dma, bm := cfg.TransferCycles(DMA, 1536, 4), cfg.TransferCycles(BlockMover, 1536, 4)
	if want := 2*dma + 2*bm; res.LatencyCycles != want {
		t.Fatalf("latency %d, want %d", res.LatencyCycles, want)
	}
}

// buildEpilogue computes Y = softmax(relu(X x W + bias)) with the bias and
// relu fused onto the drain (converting float32 to float16) and softmax on
// the vector engine.
func buildEpilogue() *Program {
	f, h := model.Float32, model.Float16
	p := &Program{Name: "vector_epilogue", Config: ConfigRef{Name: "minimal"}, Tensors: map[string]TensorPlacement{
		"X":    {Addr: 0, DType: f, Shape: []int64{8, 16}, Input: true},
		"W":    {Addr: 512, DType: f, Shape: []int64{16, 12}, Input: true},
		"bias": {Addr: 1280, DType: f, Shape: []int64{12}, Input: true},
		"Y":    {Addr: 4096, DType: h, Shape: []int64{8, 12}},
	}}
	b := &builder{p: p}
	dma, bm := Engine{DMA, 0}, Engine{BlockMover, 0}
	xs, ws, bs, ys := []int64{8, 16}, []int64{16, 12}, []int64{1, 12}, []int64{8, 12}
	lx := b.add(Command{Engine: dma, Op: OpLoad, DType: f, Label: "X", Src: at(DRAM, 0, 0, xs, nil), Dst: at(L3, 0, 0, xs, nil)})
	lw := b.add(Command{Engine: dma, Op: OpLoad, DType: f, Label: "W", Src: at(DRAM, 0, 512, ws, nil), Dst: at(L3, 0, 512, ws, nil)})
	lb := b.add(Command{Engine: dma, Op: OpLoad, DType: f, Label: "bias", Src: at(DRAM, 0, 1280, bs, nil), Dst: at(L3, 0, 1280, bs, nil)})
	mx := b.add(Command{Engine: bm, Op: OpMove, DType: f, Label: "X", Deps: deps(lx), Src: at(L3, 0, 0, xs, nil), Dst: at(L2, 0, 0, xs, nil)})
	mw := b.add(Command{Engine: bm, Op: OpMove, DType: f, Label: "W", Deps: deps(lw), Src: at(L3, 0, 512, ws, nil), Dst: at(L2, 1, 0, ws, nil)})
	mb := b.add(Command{Engine: bm, Op: OpMove, DType: f, Label: "bias", Deps: deps(lb), Src: at(L3, 0, 1280, bs, nil), Dst: at(L2, 2, 0, bs, nil)})
	fx := b.add(Command{Engine: Engine{Streamer, 0}, Op: OpFeedRows, DType: f, Label: "X", Deps: deps(mx), Src: at(L2, 0, 0, xs, nil), Dst: at(L1, 0, 0, xs, nil)})
	fw := b.add(Command{Engine: Engine{Streamer, 1}, Op: OpFeedCols, DType: f, Label: "W", Deps: deps(mw), Src: at(L2, 1, 0, ws, nil), Dst: at(L1, 1, 0, ws, nil)})
	mm := b.add(Command{Engine: Engine{Fabric, 0}, Op: OpMatMul, DType: f, AccDType: f, Label: "XW", Deps: deps(fx, fw),
		Src: at(L1, 0, 0, xs, nil), Src2: at(L1, 1, 0, ws, nil), Dst: at(L1, 2, 0, ys, nil)})
	bias := at(L2, 2, 0, bs, nil)
	bias.DType = f
	dr := b.add(Command{Engine: Engine{Streamer, 2}, Op: OpDrain, DType: h, AccDType: f, Label: "relu(XW+bias)", Deps: deps(mm, mb),
		Src: at(L1, 2, 0, ys, nil), Dst: at(L2, 3, 0, ys, nil), Epilogue: &Epilogue{Op: "relu", Bias: bias}})
	sm := b.add(Command{Engine: Engine{Vector, 0}, Op: OpVector, VectorOp: "softmax", DType: h, Label: "softmax", Deps: deps(dr),
		Src: at(L2, 3, 0, ys, nil), Dst: at(L2, 3, 512, ys, nil)})
	my := b.add(Command{Engine: bm, Op: OpMove, DType: h, Label: "Y", Deps: deps(sm), Src: at(L2, 3, 512, ys, nil), Dst: at(L3, 0, 2048, ys, nil)})
	b.add(Command{Engine: dma, Op: OpStore, DType: h, Label: "Y", Deps: deps(my), Src: at(L3, 0, 2048, ys, nil), Dst: at(DRAM, 0, 4096, ys, nil)})
	return p
}

func roundF16(v float64) float64 { return float64(Float16ToFloat32(Float32ToFloat16(float32(v)))) }

func TestEpilogueProgram(t *testing.T) {
	p := golden(t, buildEpilogue())
	rng := rand.New(rand.NewPCG(5, 5))
	x, xb := randomTensor(rng, model.Float32, 8*16)
	w, wb := randomTensor(rng, model.Float32, 16*12)
	bias, bb := randomTensor(rng, model.Float32, 12)
	res, err := Simulate(context.Background(), p, nil, SimOptions{Functional: true,
		Inputs: map[string][]byte{"X": xb, "W": wb, "bias": bb}})
	if err != nil {
		t.Fatal(err)
	}
	y := naiveMatMul(x, w, 8, 12, 16)
	want := make([]float64, len(y))
	for r := 0; r < 8; r++ {
		row := y[r*12 : (r+1)*12]
		var s float64
		mx := math.Inf(-1)
		for j := range row {
			row[j] = roundF16(math.Max(row[j]+bias[j], 0))
			mx = math.Max(mx, row[j])
		}
		for j := range row {
			s += math.Exp(row[j] - mx)
		}
		for j := range row {
			want[r*12+j] = roundF16(math.Exp(row[j]-mx) / s)
		}
	}
	got := DecodeElements(model.Float16, res.Tensors["Y"])
	if err := closeTo(got, want, 2e-3); err != nil {
		t.Fatalf("Y: %v", err)
	}
	// The vector engine's softmax costs 2 passes over 96 elements.
	cfg := mustPreset(t, "minimal")
	if got, want := res.End[10]-res.Start[10], cfg.VectorCycles(2*96); got != want {
		t.Fatalf("softmax duration %d, want %d", got, want)
	}
}

// TestTiming checks start/end cycles against the timing primitives on the
// single-tile program: a chain whose every step waits for the previous.
func TestTiming(t *testing.T) {
	cfg := mustPreset(t, "minimal")
	p := buildTiledMatmul(t, cfg, matmulSpecs[0])
	res, err := Simulate(context.Background(), p, cfg, SimOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ldA := cfg.TransferCycles(DMA, 16*32*4, 4)
	ldB := cfg.TransferCycles(DMA, 32*24*4, 4)
	mvA := cfg.TransferCycles(BlockMover, 16*32*4, 4)
	mvB := cfg.TransferCycles(BlockMover, 32*24*4, 4)
	fdB := cfg.TransferCycles(Streamer, 32*24*4, 4)
	fdA := cfg.TransferCycles(Streamer, 16*32*4, 4)
	mm := cfg.FabricCycles(16, 24, 32)
	mvC := cfg.TransferCycles(BlockMover, 16*24*4, 4)
	stC := cfg.TransferCycles(DMA, 16*24*4, 4)
	// Queue: DMA ldA, ldB; BM mvA (after ldA), mvB (after ldB and mvA).
	endMvA := ldA + mvA
	endMvB := max(ldA+ldB, endMvA) + mvB
	endFd := max(endMvA+fdA, endMvB+fdB)
	endMM := endFd + mm
	want := endMM + mvC + stC
	if res.LatencyCycles != want {
		t.Fatalf("latency %d, want %d", res.LatencyCycles, want)
	}
	var busy int64
	for _, e := range res.Engines {
		busy += e.BusyCycles
	}
	if wantBusy := ldA + ldB + mvA + mvB + fdA + fdB + mm + mvC + stC; busy != wantBusy {
		t.Fatalf("busy %d, want %d", busy, wantBusy)
	}
	e := cfg.Energy
	wantE := float64(16*24*32)*e.MACFloat32 +
		float64(16*32*4+32*24*4)*(e.DRAM+e.L3+e.L3+e.L2+e.L2+e.L1Write) + // A, B: DRAM->L3->L2->L1
		float64(16*32*4*3+32*24*4*2)*e.L1Read + // A re-streamed ceil(24/8)=3x, B ceil(16/8)=2x
		float64(16*24*4)*(e.L2+e.L2+e.L3+e.L3+e.DRAM) // C written to L2, L2->L3->DRAM
	if math.Abs(res.EnergyPJ-wantE) > 1e-6*wantE {
		t.Fatalf("energy %g pJ, want %g", res.EnergyPJ, wantE)
	}
}

// TestOutOfOrderProgram lists the fabric commands first (queues unchanged):
// the simulator must find the topological order and get the same timing.
func TestOutOfOrderProgram(t *testing.T) {
	cfg := mustPreset(t, "edge_ai")
	p := buildTiledMatmul(t, cfg, matmulSpecs[1])
	want, err := Simulate(context.Background(), p, cfg, SimOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q := *p
	q.Commands = slices.Clone(p.Commands)
	slices.SortStableFunc(q.Commands, func(a, b Command) int {
		fa, fb := a.Engine.Kind == Fabric, b.Engine.Kind == Fabric
		switch {
		case fa && !fb:
			return -1
		case fb && !fa:
			return 1
		}
		return 0
	})
	got, err := Simulate(context.Background(), &q, cfg, SimOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.LatencyCycles != want.LatencyCycles {
		t.Fatalf("latency %d, want %d", got.LatencyCycles, want.LatencyCycles)
	}
}

// TestChecks covers the structural checks on edited copies of a program.
func TestChecks(t *testing.T) {
	tests := []struct {
		name string
		edit func(p *Program)
		kind string
		msg  string
	}{
		{"unknown engine", func(p *Program) { p.Commands[1].Engine.Index = 5 },
			VEngine, "command 1: engine dma 5 does not exist (config \"edge_ai\" has 2 dma engines)"},
		{"unknown kind", func(p *Program) { p.Commands[1].Engine.Kind = "gpu" },
			VEngine, "command 1: unknown engine kind \"gpu\""},
		{"missing dep", func(p *Program) { p.Commands[2].Deps = []int{999} },
			VDep, "command 2: dep 999 names no command"},
		{"duplicate id", func(p *Program) { p.Commands[3].ID = 2 },
			VDep, "command 2: duplicate id"},
		{"cycle", func(p *Program) { p.Commands[0].Deps = []int{4} },
			VCycle, "dependency cycle"},
		{"wrong engine for op", func(p *Program) { p.Commands[0].Op = OpMove },
			VOp, "command 0: op \"move\" runs on block_mover engines, not dma 0"},
		{"wrong level", func(p *Program) { p.Commands[0].Dst.Level = L2 },
			VOp, "command 0: op \"load\" moves [dram] -> [l3], not dram -> l2"},
		{"unknown unit", func(p *Program) { p.Commands[0].Dst.Unit = 7 },
			VUnit, "command 0: dst: L3 tile 7 does not exist (config has 2)"},
		{"cross tile", func(p *Program) { p.Commands[6].Dst.Unit = 8 },
			VCrossTile, "command 6: fabric 0 on compute tile 0 touches L2 bank 8 bytes [0, 4096) of compute tile 1"},
		{"shape mismatch", func(p *Program) { p.Commands[2].Dst.Shape = []int64{32, 16} },
			VOp, "command 2: move: dst shape [32 16] differs from src shape [32 32]"},
		{"write-after-write race", func(p *Program) {
			// Both DMA engines load into the same L3 bytes, unordered.
			p.Commands[7].Dst = p.Commands[0].Dst
			p.Commands[7].Dst.Unit = 0
		}, VRace, "writes L3 tile 0 bytes"},
	}
	cfg := mustPreset(t, "edge_ai")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := buildTiledMatmul(t, cfg, matmulSpecs[1])
			tc.edit(p)
			_, err := Simulate(context.Background(), p, cfg, SimOptions{})
			var ce *CheckError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v, want *CheckError", err)
			}
			v := ce.Violations[0]
			if v.Kind != tc.kind || !strings.Contains(v.Message, tc.msg) {
				t.Fatalf("violation %s: %q\nwant %s containing %q", v.Kind, v.Message, tc.kind, tc.msg)
			}
		})
	}
}

func TestFloat16Conversions(t *testing.T) {
	tests := []struct {
		in   float32
		bits uint16
	}{
		{0, 0}, {1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff}, {65520, 0x7c00}, // rounds up to +inf
		{5.960464477539063e-08, 0x0001}, {6.103515625e-05, 0x0400},
		{float32(math.Inf(-1)), 0xfc00}, {1.0009765625, 0x3c01}, {1.00048828125, 0x3c00}, // tie to even
	}
	for _, tc := range tests {
		if got := Float32ToFloat16(tc.in); got != tc.bits {
			t.Errorf("Float32ToFloat16(%g) = %#04x, want %#04x", tc.in, got, tc.bits)
		}
	}
	for h := 0; h < 0x7c00; h++ { // every finite positive half round-trips
		if got := Float32ToFloat16(Float16ToFloat32(uint16(h))); got != uint16(h) {
			t.Fatalf("half %#04x round-trips to %#04x", h, got)
		}
	}
	if got := BFloat16ToFloat32(Float32ToBFloat16(1.00390625)); got != 1 { // tie to even
		t.Fatalf("bfloat16(1.00390625) = %g, want 1", got)
	}
}

// TestProgramWithGraph embeds a graph and checks it survives the round trip.
func TestProgramWithGraph(t *testing.T) {
	g, err := model.Parse([]byte(`{"op": "matmul", "A": {"shape": [16, 24], "dtype": "float32"},
		"B": {"shape": [24, 16], "dtype": "float32"}}`), "inline")
	if err != nil {
		t.Fatal(err)
	}
	p := buildTranspose()
	p.Graph = g
	data, err := MarshalProgram(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseProgram(data, "mem")
	if err != nil {
		t.Fatal(err)
	}
	if back.Graph == nil || len(back.Graph.Operators) != len(g.Operators) || len(back.Graph.Tensors) != len(g.Tensors) {
		t.Fatalf("graph lost in the round trip: %+v", back.Graph)
	}
	if _, err := Simulate(context.Background(), back, nil, SimOptions{}); err != nil {
		t.Fatal(err)
	}
	back.Graph.Tensors["A"].Shape = []int64{16, 8}
	_, err = Simulate(context.Background(), back, nil, SimOptions{})
	var ce *CheckError
	if !errors.As(err, &ce) || ce.Violations[0].Kind != VTensor ||
		ce.Violations[0].Message != `tensor "A": placed as float32 [16 24] but the graph has float32 [16 8]` {
		t.Fatalf("graph/placement mismatch: err = %v", err)
	}
	if _, err := ParseProgram([]byte(`{"commands": [], "bogus": 1}`), "mem"); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("unknown key: err = %v", err)
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Simulate(ctx, buildTranspose(), nil, SimOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// buildVectorOps exercises broadcasting binary ops, layernorm and a row
// reduction: S = X + y (row), R = rowmax(layernorm(S)), Z = S * R (column).
func buildVectorOps() *Program {
	f := model.Float32
	p := &Program{Name: "vector_ops", Config: ConfigRef{Name: "minimal"}, Tensors: map[string]TensorPlacement{
		"X": {Addr: 0, DType: f, Shape: []int64{4, 8}, Input: true},
		"y": {Addr: 128, DType: f, Shape: []int64{1, 8}, Input: true},
		"R": {Addr: 256, DType: f, Shape: []int64{4, 1}},
		"Z": {Addr: 512, DType: f, Shape: []int64{4, 8}},
	}}
	b := &builder{p: p}
	dma, bm, vec := Engine{DMA, 0}, Engine{BlockMover, 0}, Engine{Vector, 0}
	xs, ys, rs := []int64{4, 8}, []int64{1, 8}, []int64{4, 1}
	lx := b.add(Command{Engine: dma, Op: OpLoad, DType: f, Src: at(DRAM, 0, 0, xs, nil), Dst: at(L3, 0, 0, xs, nil)})
	ly := b.add(Command{Engine: dma, Op: OpLoad, DType: f, Src: at(DRAM, 0, 128, ys, nil), Dst: at(L3, 0, 128, ys, nil)})
	mx := b.add(Command{Engine: bm, Op: OpMove, DType: f, Deps: deps(lx), Src: at(L3, 0, 0, xs, nil), Dst: at(L2, 0, 0, xs, nil)})
	my := b.add(Command{Engine: bm, Op: OpMove, DType: f, Deps: deps(ly), Src: at(L3, 0, 128, ys, nil), Dst: at(L2, 1, 0, ys, nil)})
	add := b.add(Command{Engine: vec, Op: OpVector, VectorOp: "add", DType: f, Deps: deps(mx, my),
		Src: at(L2, 0, 0, xs, nil), Src2: at(L2, 1, 0, ys, nil), Dst: at(L2, 2, 0, xs, nil)})
	ln := b.add(Command{Engine: vec, Op: OpVector, VectorOp: "layernorm", DType: f, Deps: deps(add),
		Src: at(L2, 2, 0, xs, nil), Dst: at(L2, 2, 128, xs, nil)})
	rm := b.add(Command{Engine: vec, Op: OpVector, VectorOp: "reduce_max", DType: f, Deps: deps(ln),
		Src: at(L2, 2, 128, xs, nil), Dst: at(L2, 3, 0, rs, nil)})
	mul := b.add(Command{Engine: vec, Op: OpVector, VectorOp: "mul", DType: f, Deps: deps(rm),
		Src: at(L2, 2, 0, xs, nil), Src2: at(L2, 3, 0, rs, nil), Dst: at(L2, 2, 256, xs, nil)})
	mr := b.add(Command{Engine: bm, Op: OpMove, DType: f, Deps: deps(rm), Src: at(L2, 3, 0, rs, nil), Dst: at(L3, 0, 256, rs, nil)})
	mz := b.add(Command{Engine: bm, Op: OpMove, DType: f, Deps: deps(mul), Src: at(L2, 2, 256, xs, nil), Dst: at(L3, 0, 512, xs, nil)})
	b.add(Command{Engine: dma, Op: OpStore, DType: f, Deps: deps(mr), Src: at(L3, 0, 256, rs, nil), Dst: at(DRAM, 0, 256, rs, nil)})
	b.add(Command{Engine: dma, Op: OpStore, DType: f, Deps: deps(mz), Src: at(L3, 0, 512, xs, nil), Dst: at(DRAM, 0, 512, xs, nil)})
	return p
}

func TestVectorOpsProgram(t *testing.T) {
	p := golden(t, buildVectorOps())
	rng := rand.New(rand.NewPCG(9, 9))
	x, xb := randomTensor(rng, model.Float32, 32)
	y, yb := randomTensor(rng, model.Float32, 8)
	res, err := Simulate(context.Background(), p, nil, SimOptions{Functional: true, Inputs: map[string][]byte{"X": xb, "y": yb}})
	if err != nil {
		t.Fatal(err)
	}
	wantR := make([]float64, 4)
	wantZ := make([]float64, 32)
	for r := 0; r < 4; r++ {
		s := make([]float64, 8)
		var mean, sq float64
		for j := range s {
			s[j] = float64(float32(x[r*8+j] + y[j]))
			mean += s[j] / 8
		}
		for _, v := range s {
			sq += (v - mean) * (v - mean) / 8
		}
		wantR[r] = math.Inf(-1)
		for _, v := range s {
			wantR[r] = math.Max(wantR[r], float64(float32((v-mean)/math.Sqrt(sq+1e-5))))
		}
		for j, v := range s {
			wantZ[r*8+j] = v * wantR[r]
		}
	}
	if err := closeTo(DecodeElements(model.Float32, res.Tensors["R"]), wantR, 1e-6); err != nil {
		t.Fatalf("R: %v", err)
	}
	if err := closeTo(DecodeElements(model.Float32, res.Tensors["Z"]), wantZ, 1e-6); err != nil {
		t.Fatalf("Z: %v", err)
	}
}

// TestEmbeddedConfig embeds a modified machine in the program: it must
// survive the round trip and drive the timing.
func TestEmbeddedConfig(t *testing.T) {
	cfg := mustPreset(t, "minimal")
	cfg.Name = "minimal_slow_dma"
	cfg.DMABytesPerCycle = 8
	p := buildTranspose()
	p.Config = ConfigRef{Spec: cfg}
	data, err := MarshalProgram(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseProgram(data, "mem")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cfg, back.Config.Spec); diff != "" {
		t.Fatalf("embedded config changed (-want +got):\n%s", diff)
	}
	res, err := Simulate(context.Background(), back, nil, SimOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.End[0], cfg.TransferCycles(DMA, 16*24*4, 4); got != want {
		t.Fatalf("load ends at %d, want %d with 8 B/cycle DMA", got, want)
	}
}

// TestDurations re-derives every command's duration in the good testdata
// programs from its fields and the timing primitives.
func TestDurations(t *testing.T) {
	names := []string{"matmul_single_tile", "matmul_tiled_double_buffered", "matmul_tiled_int8",
		"matmul_tiled_bf16", "transpose_block_mover", "vector_epilogue", "vector_ops"}
	elems := func(a *Access) int64 {
		n := int64(1)
		for _, d := range a.Shape {
			n *= d
		}
		return n
	}
	for _, name := range names {
		p, err := LoadProgram(programsDir + "/" + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		cfg, _, err := ConfigFor(p)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Simulate(context.Background(), p, cfg, SimOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i, c := range p.Commands {
			var want int64
			switch c.Engine.Kind {
			case Fabric:
				a, b := c.Src.Shape, c.Src2.Shape
				want = cfg.FabricCycles(a[0], b[1], a[1])
			case Vector:
				passes := int64(1)
				if c.VectorOp == "softmax" || c.VectorOp == "layernorm" {
					passes = 2
				}
				want = cfg.VectorCycles(passes * elems(c.Src))
			default:
				dt := c.DType
				if c.Src.DType != "" {
					dt = c.Src.DType
				} else if c.Op == OpDrain && c.AccDType != "" {
					dt = c.AccDType
				}
				want = cfg.TransferCycles(c.Engine.Kind, elems(c.Src)*dt.Size(), dt.Size())
			}
			if got := res.End[i] - res.Start[i]; got != want || got <= 0 {
				t.Errorf("%s: command %d (%s %s): duration %d, want %d (> 0)", name, c.ID, c.Engine, c.Op, got, want)
			}
		}
	}
}

// TestRaceAtScale removes one dep deep inside a 30k-command program: the
// race must be found, naming both commands.
func TestRaceAtScale(t *testing.T) {
	cfg := mustPreset(t, "edge_ai")
	s := tiledSpec{name: "scale", M: 1024, N: 1024, K: 1024, TM: 64, TN: 64, TK: 64, dtype: model.Float32, double: true}
	p := buildTiledMatmul(t, cfg, s)
	if _, err := Simulate(context.Background(), p, cfg, SimOptions{}); err != nil {
		t.Fatalf("intact program: %v", err)
	}
	// The matmul nearest the middle loses its dep on the B feed.
	mid := len(p.Commands) / 2
	for p.Commands[mid].Op != OpMatMul {
		mid++
	}
	mm := &p.Commands[mid]
	feedB := mm.Deps[1]
	mm.Deps = []int{mm.Deps[0]}
	_, err := Simulate(context.Background(), p, cfg, SimOptions{})
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a race", err)
	}
	v := ce.Violations[0]
	want := fmt.Sprintf("command %d: race: fabric %d reads L1 buffer", mm.ID, mm.Engine.Index)
	if v.Kind != VRace || !strings.HasPrefix(v.Message, want) || !strings.Contains(v.Message, fmt.Sprintf("that command %d (streamer", feedB)) {
		t.Fatalf("violation %s %q, want a race of command %d with feed %d", v.Kind, v.Message, mm.ID, feedB)
	}
}

// TestFill zero-fills an L3 block (no DRAM read) and stores it.
func TestFill(t *testing.T) {
	f := model.Float32
	cfg := mustPreset(t, "minimal")
	p := &Program{Name: "fill", Config: ConfigRef{Name: "minimal"}, Tensors: map[string]TensorPlacement{
		"Z": {Addr: 0, DType: f, Shape: []int64{4, 8}},
	}}
	b := &builder{p: p}
	zs := []int64{4, 8}
	fl := b.add(Command{Engine: Engine{DMA, 0}, Op: OpFill, DType: f, Dst: at(L3, 0, 512, zs, nil)})
	b.add(Command{Engine: Engine{DMA, 0}, Op: OpStore, DType: f, Deps: deps(fl), Src: at(L3, 0, 512, zs, nil), Dst: at(DRAM, 0, 0, zs, nil)})
	res, err := Simulate(context.Background(), p, cfg, SimOptions{Functional: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(make([]byte, 128), res.Tensors["Z"]); diff != "" {
		t.Fatalf("Z not zero (-want +got):\n%s", diff)
	}
	if got, want := res.End[0], cfg.TransferCycles(DMA, 128, 4); got != want {
		t.Fatalf("fill lasts %d, want %d", got, want)
	}
	if res.DRAMBytes != 128 {
		t.Fatalf("dram_bytes %d, want 128 (the fill reads no DRAM)", res.DRAMBytes)
	}
	p.Commands[0].Src = at(DRAM, 0, 0, zs, nil)
	_, err = Simulate(context.Background(), p, cfg, SimOptions{})
	var ce *CheckError
	if !errors.As(err, &ce) || ce.Violations[0].Message != "command 0: fill takes a dst and nothing else" {
		t.Fatalf("fill with a src: err = %v", err)
	}
}
