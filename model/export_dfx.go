package model

import (
	"fmt"
	"math"
)

// DFXVersion is the version of kpu-sim's DFX program format the export
// follows (its dfx_version key).
const DFXVersion = "1.0.0"

// DFXProgram is one kernel in kpu-sim's DFX JSON form: tensors, a tiling
// configuration, the loop structure, operations (data moves and compute
// tiles) with explicit dependencies, and performance hints. Keys follow
// kpu-sim's reader; "engine" and "bytes" on operations are kpuopt's
// additions (readers that do not know them skip them).
type DFXProgram struct {
	DFXVersion  string         `json:"dfx_version"`
	Name        string         `json:"name"`
	SourceGraph string         `json:"source_graph"`
	Dataflow    string         `json:"dataflow"`
	Tiling      DFXTiling      `json:"tiling"`
	Tensors     []DFXTensor    `json:"tensors"`
	Operations  []DFXOperation `json:"operations"`
	TileLoops   []DFXTileLoop  `json:"tile_loops"`
	Hints       DFXHints       `json:"hints"`

	op     ExportOp
	mc     ExportMachine
	matmul int64
	aIn    int64
	bIn    int64
}

// DFXTiling is the tile size of the fabric-level (L2) blocks and their counts.
type DFXTiling struct {
	Ti       int64 `json:"Ti"`
	Tj       int64 `json:"Tj"`
	Tk       int64 `json:"Tk"`
	L1Ki     int64 `json:"L1_Ki"`
	NumTileM int64 `json:"num_tiles_m"`
	NumTileN int64 `json:"num_tiles_n"`
	NumTileK int64 `json:"num_tiles_k"`
}

// DFXTensor is a tensor of the kernel.
type DFXTensor struct {
	Name       string  `json:"name"`
	Shape      []int64 `json:"shape"`
	DType      string  `json:"dtype"`
	IsConstant bool    `json:"is_constant"`
	IsOutput   bool    `json:"is_output"`
}

// DFXTileSpec is a block of a tensor at a memory level. kpuopt's tiles do not
// share one grid across levels, so TileIndices are the element coordinates
// of the block's first element (batch first when the kernel is batched) and
// TileShape its extent.
type DFXTileSpec struct {
	Tensor      string  `json:"tensor"`
	Level       string  `json:"level"`
	TileIndices []int64 `json:"tile_indices"`
	TileShape   []int64 `json:"tile_shape"`
}

// DFXOperation is a DATA_MOVE or a COMPUTE operation.
type DFXOperation struct {
	OpID      int64   `json:"op_id"`
	DependsOn []int64 `json:"depends_on"`
	Label     string  `json:"label,omitempty"`
	Type      string  `json:"type"`
	// DATA_MOVE
	MoveType    string       `json:"move_type,omitempty"`
	Source      *DFXTileSpec `json:"source,omitempty"`
	Destination *DFXTileSpec `json:"destination,omitempty"`
	Transpose   bool         `json:"transpose,omitempty"`
	// COMPUTE
	ComputeType string        `json:"compute_type,omitempty"`
	Inputs      []DFXTileSpec `json:"inputs,omitempty"`
	Output      *DFXTileSpec  `json:"output,omitempty"`
	Accumulate  bool          `json:"accumulate,omitempty"`
	// kpuopt's additions: the engine that runs it and the bytes it moves.
	Engine string `json:"engine,omitempty"`
	Bytes  int64  `json:"bytes,omitempty"`
}

// DFXTileLoop is one loop of the kernel's tile loop nest (outermost first).
type DFXTileLoop struct {
	InductionVar string `json:"induction_var"`
	Start        int64  `json:"start"`
	End          int64  `json:"end"`
	Step         int64  `json:"step"`
}

// DFXHints are performance figures for a driver.
type DFXHints struct {
	EstimatedDRAMBytes     int64   `json:"estimated_dram_bytes"`
	EstimatedComputeCycles int64   `json:"estimated_compute_cycles"`
	ArithmeticIntensity    float64 `json:"arithmetic_intensity"`
	ParallelismDegree      int64   `json:"parallelism_degree"`
	ReuseFactorA           int64   `json:"reuse_factor_a"`
	ReuseFactorB           int64   `json:"reuse_factor_b"`
}

// DFXCommand is one command of the stream a mapping lowers to
// (docs/mapping.md section 5), in the terms a DFX operation needs.
type DFXCommand struct {
	ID   int
	Deps []int
	// Kind is load, store (DMA), move_in, move_out (BlockMover), feed
	// (Streamer) or matmul (fabric).
	Kind    string
	Operand string // A, B or C
	Engine  string
	// The block moved (matmul: the C block, with the reduction range K0,
	// KLen).
	Batch, Row, Col, Rows, Cols int64
	K0, KLen                    int64
	Accumulate, Transpose       bool
	Bytes                       int64
}

// dfxDType is kpu-sim's short name of a type.
func dfxDType(d DType) (string, error) {
	switch d {
	case Float32:
		return "f32", nil
	case Float16:
		return "f16", nil
	case BFloat16:
		return "bf16", nil
	case Int32:
		return "i32", nil
	case Int8:
		return "i8", nil
	}
	return "", fmt.Errorf("element type %q has no DFX name", d)
}

// dfxDataflow is DFX's name of the stationarity of an order.
func dfxDataflow(order string) string {
	switch Stationarity(order) {
	case "weight-stationary":
		return "weight_stationary"
	case "input-stationary":
		return "input_stationary"
	}
	return "output_stationary"
}

// NewDFXProgram starts the DFX program of o on mc: the header, the tensors
// (A, B and C of the GEMM view; C in the accumulator type), the tiling, the
// loop nest and the dataflow of the L2 order. Add appends the operations and
// Finish fills the hints.
func NewDFXProgram(graph string, o ExportOp, mc ExportMachine) (*DFXProgram, error) {
	if err := mc.Validate(); err != nil {
		return nil, fmt.Errorf("dfx: %w", err)
	}
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("dfx: %w", err)
	}
	in, err := dfxDType(o.DType)
	if err != nil {
		return nil, fmt.Errorf("dfx: operator %q: %w", o.Name, err)
	}
	acc, err := dfxDType(o.DType.Accumulator())
	if err != nil {
		return nil, fmt.Errorf("dfx: operator %q: accumulator: %w", o.Name, err)
	}
	m := o.Mapping
	p := &DFXProgram{DFXVersion: DFXVersion, Name: o.Name, SourceGraph: graph, Dataflow: dfxDataflow(m.L2Order), op: o, mc: mc,
		Operations: []DFXOperation{}}
	shape := func(r, c int64) []int64 {
		if o.Batch > 1 {
			return []int64{o.Batch, r, c}
		}
		return []int64{r, c}
	}
	p.Tensors = []DFXTensor{
		{Name: p.tensor("A"), Shape: shape(o.M, o.K), DType: in},
		{Name: p.tensor("B"), Shape: shape(o.K, o.N), DType: in},
		{Name: p.tensor("C"), Shape: shape(o.M, o.N), DType: acc, IsOutput: true},
	}
	p.Tiling = DFXTiling{Ti: m.L2.M, Tj: m.L2.N, Tk: m.L2.K, L1Ki: m.L2.K,
		NumTileM: l2Blocks(o.M, m.L3.M, int64(m.Split.M), m.L2.M),
		NumTileN: l2Blocks(o.N, m.L3.N, int64(m.Split.N), m.L2.N),
		NumTileK: l2Blocks(o.K, m.L3.K, 1, m.L2.K)}
	if o.Batch > 1 {
		p.TileLoops = append(p.TileLoops, DFXTileLoop{"b", 0, o.Batch, 1})
	}
	t3 := tripCounts(Tile{M: o.M, N: o.N, K: o.K}, m.L3)
	t2 := tripCounts(o.partTile(), m.L2)
	for _, lv := range []struct {
		order, suffix string
		trips         Tile
	}{{m.L3Order, "3", t3}, {m.L2Order, "2", t2}} {
		for _, d := range lv.order {
			end := map[rune]int64{'m': lv.trips.M, 'n': lv.trips.N, 'k': lv.trips.K}[d]
			p.TileLoops = append(p.TileLoops, DFXTileLoop{string(d) + lv.suffix, 0, end, 1})
		}
	}
	return p, nil
}

// l2Blocks counts the distinct L2 ranges along one dimension of extent e:
// L3 tiles of t3, each cut into s parts of ceil(t3/s), each part into tiles
// of t2 (edges partial).
func l2Blocks(e, t3, s, t2 int64) int64 {
	part := ceilDiv64(t3, s)
	var n int64
	for at := int64(0); at < e; at += t3 {
		ext := min(t3, e-at)
		full := ext / part
		n += full * ceilDiv64(part, t2)
		if rest := ext - full*part; rest > 0 {
			n += ceilDiv64(rest, t2)
		}
	}
	return n
}

func (p *DFXProgram) tensor(x string) string { return p.op.Name + "." + x }

func (p *DFXProgram) spec(x, level string, batch, row, col, rows, cols int64) *DFXTileSpec {
	s := &DFXTileSpec{Tensor: p.tensor(x), Level: level, TileIndices: []int64{row, col}, TileShape: []int64{rows, cols}}
	if p.op.Batch > 1 {
		s.TileIndices = append([]int64{batch}, s.TileIndices...)
		s.TileShape = append([]int64{1}, s.TileShape...)
	}
	return s
}

// Add appends command c as a DFX operation (op_id = c.ID, depends_on =
// c.Deps).
func (p *DFXProgram) Add(c DFXCommand) error {
	if c.Operand != "A" && c.Operand != "B" && c.Operand != "C" {
		return fmt.Errorf("dfx: command %d: operand %q: want A, B or C", c.ID, c.Operand)
	}
	op := DFXOperation{OpID: int64(c.ID), DependsOn: make([]int64, len(c.Deps)), Engine: c.Engine, Bytes: c.Bytes}
	for i, d := range c.Deps {
		op.DependsOn[i] = int64(d)
	}
	move := func(mt, from, to string) {
		op.Type, op.MoveType = "DATA_MOVE", mt
		op.Source = p.spec(c.Operand, from, c.Batch, c.Row, c.Col, c.Rows, c.Cols)
		op.Destination = p.spec(c.Operand, to, c.Batch, c.Row, c.Col, c.Rows, c.Cols)
		op.Label = fmt.Sprintf("%s %s->%s", c.Operand, from, to)
	}
	switch c.Kind {
	case "load":
		move("LOAD", "EXTERNAL", "L3")
	case "store":
		move("STORE", "L3", "EXTERNAL")
	case "move_in":
		move("LOAD", "L3", "L2")
		op.Transpose = c.Transpose
		switch c.Operand {
		case "A":
			p.aIn++
		case "B":
			p.bIn++
		}
	case "move_out":
		move("STORE", "L2", "L3")
	case "feed":
		move("LOAD", "L2", "L1")
	case "matmul":
		op.Type, op.ComputeType, op.Accumulate = "COMPUTE", "MATMUL_TILE", c.Accumulate
		op.Inputs = []DFXTileSpec{
			*p.spec("A", "L1", c.Batch, c.Row, c.K0, c.Rows, c.KLen),
			*p.spec("B", "L1", c.Batch, c.K0, c.Col, c.KLen, c.Cols),
		}
		op.Output = p.spec("C", "L2", c.Batch, c.Row, c.Col, c.Rows, c.Cols)
		op.Label = "C(L2) += A(L1) x B(L1)"
		if !c.Accumulate {
			op.Label = "C(L2) = A(L1) x B(L1)"
		}
		p.matmul++
	default:
		return fmt.Errorf("dfx: command %d: kind %q has no DFX operation", c.ID, c.Kind)
	}
	p.Operations = append(p.Operations, op)
	return nil
}

// Finish fills the hints: DRAM bytes counted from the operations, the
// estimated cycles (the schedule's predicted latency), the arithmetic
// intensity (2 x MACs per DRAM byte), the compute tiles used, and the reuse
// factors (matmuls per A and per B block moved into L2).
func (p *DFXProgram) Finish(predictedCycles int64) {
	var dram int64
	for _, op := range p.Operations {
		if op.Source != nil && (op.Source.Level == "EXTERNAL" || op.Destination.Level == "EXTERNAL") {
			dram += op.Bytes
		}
	}
	o, m := p.op, p.op.Mapping
	h := DFXHints{EstimatedDRAMBytes: dram, EstimatedComputeCycles: predictedCycles,
		ParallelismDegree: int64(m.Split.M * m.Split.N * max(m.Split.K, 1)), ReuseFactorA: 1, ReuseFactorB: 1}
	if dram > 0 {
		h.ArithmeticIntensity = math.Round(2*float64(o.Batch*o.M*o.N*o.K)/float64(dram)*1e4) / 1e4
	}
	if p.aIn > 0 {
		h.ReuseFactorA = max(1, p.matmul/p.aIn)
	}
	if p.bIn > 0 {
		h.ReuseFactorB = max(1, p.matmul/p.bIn)
	}
	p.Hints = h
}
