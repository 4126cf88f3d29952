package model

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// exportMapping is a legal two-level mapping of a 100x70x50 GEMM split over
// two compute tiles along N.
var exportMapping = Mapping{
	L3: Tile{M: 48, N: 40, K: 32}, L2: Tile{M: 16, N: 20, K: 8},
	L3Order: "nmk", L2Order: "kmn", Split: Split{M: 1, N: 2, K: 1},
	L3Buffers: Buffers{A: 2, B: 2, C: 1}, L2Buffers: Buffers{A: 2, B: 1, C: 2},
}

var exportOp = ExportOp{Name: "mm", Type: OpMatMul, Batch: 1, M: 100, N: 70, K: 50, DType: Float32, Mapping: exportMapping}
var exportMachine = ExportMachine{Name: "test", ArrayRows: 8, ArrayCols: 16, ComputeTiles: 2}

func TestExportTilings(t *testing.T) {
	got, err := ExportTilings("g", exportMachine, []ExportOp{exportOp})
	if err != nil {
		t.Fatal(err)
	}
	arr := ArrayShape{Rows: 8, Cols: 16}
	want := &Tilings{Format: TilingsFormat, Graph: "g", Machine: "test", Array: arr, Ops: []OpTilings{{
		Op: "mm", Type: OpMatMul, Dims: GEMMDims{Batch: 1, M: 100, N: 70, K: 50, DType: Float32},
		// L3: ceil(100/48)=3, ceil(70/40)=2, ceil(50/32)=2
		L3: LevelTiling{Tile: exportMapping.L3, Trips: Tile{M: 3, N: 2, K: 2}, Order: "nmk", Stationarity: "output-stationary"},
		// a part is 48 x 20 x 32: ceil(48/16)=3, ceil(20/20)=1, ceil(32/8)=4
		L2:     LevelTiling{Tile: exportMapping.L2, Trips: Tile{M: 3, N: 1, K: 4}, Order: "kmn", Stationarity: "input-stationary"},
		Fabric: FabricTiling{Array: arr, Tile: Tile{M: 8, N: 16, K: 8}, Passes: 2 * 2},
		Split:  exportMapping.Split, Part: Tile{M: 48, N: 20, K: 32},
		Buffering: Buffering{L3: exportMapping.L3Buffers, L2: exportMapping.L2Buffers},
	}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("tilings (-want +got):\n%s", d)
	}
}

func TestExportTimeloop(t *testing.T) {
	tm, err := TimeloopOf(exportOp, exportMachine)
	if err != nil {
		t.Fatal(err)
	}
	want := []TimeloopDirective{
		{"DRAM", "temporal", "M=3 N=2 K=2", "KMN"},
		{"L3", "spatial", "M=1 N=2 K=1", "NMK"},
		{"L3", "temporal", "M=3 N=1 K=4", "NMK"},
		{"L2", "temporal", "M=2 N=2 K=1", "KNM"},
		{"L2", "spatial", "M=8 N=16 K=1", "NMK"},
		{"PE", "temporal", "M=1 N=1 K=8", "KNM"},
	}
	if d := cmp.Diff(want, tm.Mapping); d != "" {
		t.Errorf("directives (-want +got):\n%s", d)
	}
	data, err := ExportTimeloop(exportMachine, []ExportOp{exportOp, exportOp})
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	for i := 0; i < 2; i++ {
		var back TimeloopMapping
		if err := dec.Decode(&back); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		if d := cmp.Diff(want, back.Mapping); d != "" {
			t.Errorf("document %d read back (-want +got):\n%s", i, d)
		}
	}
}

// TestTimeloopCoversDims checks on random legal mappings that the factors of
// every dimension multiply to at least the dimension and less than one
// extra tile of each level beyond it (trip counts are rounded up, never
// more).
func TestTimeloopCoversDims(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(hi int64) int64 { return 1 + rng.Int64N(hi) }
	for it := 0; it < 500; it++ {
		o := ExportOp{Name: "r", Batch: 1, M: pick(300), N: pick(300), K: pick(300), DType: Float32}
		m := &o.Mapping
		m.L3 = Tile{M: pick(o.M), N: pick(o.N), K: pick(o.K)}
		m.Split = Split{M: int(pick(min(m.L3.M, 4))), N: int(pick(min(m.L3.N, 4))), K: int(pick(min(m.L3.K, 3)))}
		part := o.partTile()
		m.L2 = Tile{M: pick(part.M), N: pick(part.N), K: pick(part.K)}
		m.L3Order, m.L2Order = Orders[rng.IntN(6)], Orders[rng.IntN(6)]
		m.L3Buffers, m.L2Buffers = Buffers{A: 1, B: 1, C: 1}, Buffers{A: 2, B: 2, C: 2}
		mc := ExportMachine{Name: "r", ArrayRows: int(pick(32)), ArrayCols: int(pick(32)), ComputeTiles: 16}
		tm, err := TimeloopOf(o, mc)
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		prod := map[string]int64{"M": 1, "N": 1, "K": 1}
		for _, d := range tm.Mapping {
			for _, f := range strings.Fields(d.Factors) {
				name, val, _ := strings.Cut(f, "=")
				v, err := strconv.ParseInt(val, 10, 64)
				if err != nil || v < 1 {
					t.Fatalf("%+v: factor %q", o, f)
				}
				prod[name] *= v
			}
		}
		// the product covers the dim; padding is below one L3 tile, one
		// part's L2 tile and one array pass per level
		for _, c := range []struct {
			name     string
			dim, max int64
		}{
			{"M", o.M, (o.M + m.L3.M) * (part.M + m.L2.M) / part.M * (m.L2.M + int64(mc.ArrayRows)) / m.L2.M},
			{"N", o.N, (o.N + m.L3.N) * (part.N + m.L2.N) / part.N * (m.L2.N + int64(mc.ArrayCols)) / m.L2.N},
			{"K", o.K, (o.K + m.L3.K) * (part.K + m.L2.K) / part.K * int64(m.Split.K)},
		} {
			if prod[c.name] < c.dim || prod[c.name] > 4*c.max {
				t.Fatalf("%+v on %+v: %s factors multiply to %d, dim %d", o, mc, c.name, prod[c.name], c.dim)
			}
		}
	}
}

func TestL2Blocks(t *testing.T) {
	tests := []struct {
		e, t3, s, t2, want int64
	}{
		{100, 100, 1, 100, 1},
		{100, 48, 1, 16, 3 + 3 + 1}, // L3 tiles 48, 48, 4
		{70, 40, 2, 20, 2 + 2},      // parts 20, 20 | 20, 10
		{70, 40, 2, 8, 3 + 3 + 3 + 2},
		{10, 7, 3, 2, 2 + 2 + 1 + 2}, // L3 tiles 7, 3; parts of 3: 3,3,1 | 3
		{1, 1, 1, 1, 1},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.e, tc.t3, tc.s, tc.t2), func(t *testing.T) {
			if got := l2Blocks(tc.e, tc.t3, tc.s, tc.t2); got != tc.want {
				t.Errorf("l2Blocks = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestExportValidate(t *testing.T) {
	mod := func(f func(o *ExportOp)) ExportOp {
		o := exportOp
		f(&o)
		return o
	}
	tests := []struct {
		name string
		op   ExportOp
		msg  string
	}{
		{"zero dim", mod(func(o *ExportOp) { o.K = 0 }), "want every dimension >= 1"},
		{"dtype", mod(func(o *ExportOp) { o.DType = "float64" }), `dtype "float64"`},
		{"l3 over dim", mod(func(o *ExportOp) { o.Mapping.L3.M = 101 }), "mapping.l3.m = 101: want 1 to 100"},
		{"l2 over l3", mod(func(o *ExportOp) { o.Mapping.L2.K = 33 }), "mapping.l2.k = 33: want 1 to 32"},
		{"order", mod(func(o *ExportOp) { o.Mapping.L2Order = "mn" }), `mapping.l2_order "mn"`},
		{"k split zero", mod(func(o *ExportOp) { o.Mapping.Split.K = 0 }), "want m, n, k >= 1"},
		{"k split over l3", mod(func(o *ExportOp) { o.Mapping.Split.K = 33 }), "more parts than the L3 tile"},
		{"too many parts", mod(func(o *ExportOp) { o.Mapping.Split.N = 41 }), "more parts than the L3 tile"},
		{"buffers", mod(func(o *ExportOp) { o.Mapping.L2Buffers.C = 3 }), "mapping.l2_buffers.c = 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), `operator "mm"`) {
				t.Errorf("Validate() = %v, want an error naming the operator and containing %q", err, tc.msg)
			}
		})
	}
	if err := exportOp.Validate(); err != nil {
		t.Errorf("valid op: %v", err)
	}
	if err := (ExportMachine{Name: "x", ArrayRows: 0, ArrayCols: 4, ComputeTiles: 1}).Validate(); err == nil {
		t.Error("machine with a 0-row array validated")
	}
}

func TestDFXProgramAdd(t *testing.T) {
	p, err := NewDFXProgram("g", exportOp, exportMachine)
	if err != nil {
		t.Fatal(err)
	}
	cmds := []DFXCommand{
		{ID: 0, Kind: "load", Operand: "A", Engine: "dma 0", Rows: 16, Cols: 32, Bytes: 2048},
		{ID: 1, Kind: "move_in", Operand: "A", Deps: []int{0}, Rows: 16, Cols: 8, Transpose: true},
		{ID: 2, Kind: "matmul", Operand: "C", Deps: []int{1}, Row: 16, Col: 20, Rows: 16, Cols: 20, K0: 8, KLen: 8, Accumulate: true},
		{ID: 3, Kind: "store", Operand: "C", Deps: []int{2}, Rows: 16, Cols: 20, Bytes: 1280},
	}
	for _, c := range cmds {
		if err := p.Add(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Add(DFXCommand{ID: 4, Kind: "convert", Operand: "C"}); err == nil || !strings.Contains(err.Error(), `kind "convert"`) {
		t.Errorf("convert: %v, want an error naming the kind", err)
	}
	if err := p.Add(DFXCommand{ID: 4, Kind: "load", Operand: "D"}); err == nil {
		t.Error("operand D accepted")
	}
	p.Finish(1234)
	want := DFXHints{EstimatedDRAMBytes: 2048 + 1280, EstimatedComputeCycles: 1234,
		ArithmeticIntensity: 2 * 100 * 70 * 50 / 3328.0, ParallelismDegree: 2, ReuseFactorA: 1, ReuseFactorB: 1}
	want.ArithmeticIntensity = float64(int64(want.ArithmeticIntensity*1e4+0.5)) / 1e4
	if d := cmp.Diff(want, p.Hints); d != "" {
		t.Errorf("hints (-want +got):\n%s", d)
	}
	mm := p.Operations[2]
	wantMM := DFXOperation{OpID: 2, DependsOn: []int64{1}, Label: "C(L2) += A(L1) x B(L1)", Type: "COMPUTE", ComputeType: "MATMUL_TILE",
		Inputs: []DFXTileSpec{
			{Tensor: "mm.A", Level: "L1", TileIndices: []int64{16, 8}, TileShape: []int64{16, 8}},
			{Tensor: "mm.B", Level: "L1", TileIndices: []int64{8, 20}, TileShape: []int64{8, 20}},
		},
		Output:     &DFXTileSpec{Tensor: "mm.C", Level: "L2", TileIndices: []int64{16, 20}, TileShape: []int64{16, 20}},
		Accumulate: true}
	if d := cmp.Diff(wantMM, mm); d != "" {
		t.Errorf("matmul operation (-want +got):\n%s", d)
	}
	if !p.Operations[1].Transpose || p.Operations[1].Source.Level != "L3" || p.Operations[1].Destination.Level != "L2" {
		t.Errorf("move_in operation %+v: want a transposing L3 -> L2 move", p.Operations[1])
	}
	if p.Dataflow != "input_stationary" || p.Tiling.NumTileM != 7 || p.Tiling.NumTileN != 4 || p.Tiling.NumTileK != 7 {
		t.Errorf("dataflow %s, tiling %+v", p.Dataflow, p.Tiling)
	}
}
