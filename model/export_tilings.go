package model

import "fmt"

// TilingsFormat names the plain per-operator tiling export (docs/export.md).
const TilingsFormat = "kpuopt-tilings/1"

// Tilings is the plain per-operator tiling export: one entry per GEMM-like
// operator, every level's tile and loop order, the spatial split and the
// buffering, for toolchains that want the decision without kpuopt's figures.
type Tilings struct {
	Format  string      `json:"format"`
	Graph   string      `json:"graph,omitempty"`
	Machine string      `json:"machine"`
	Array   ArrayShape  `json:"array"`
	Ops     []OpTilings `json:"ops"`
}

// ArrayShape is a systolic array: rows x cols processing elements.
type ArrayShape struct {
	Rows int `json:"rows"`
	Cols int `json:"cols"`
}

// OpTilings is one operator's tiling.
type OpTilings struct {
	Op   string `json:"op"`
	Type OpType `json:"type"`
	// Dims is the GEMM view: Batch x (M x N x K), element type.
	Dims GEMMDims `json:"dims"`
	// L3 and L2 tiles; edge tiles are partial (min(tile, remaining)).
	L3 LevelTiling `json:"l3"`
	L2 LevelTiling `json:"l2"`
	// Fabric is one pass of the systolic array over an L2 tile.
	Fabric FabricTiling `json:"fabric"`
	Split  Split        `json:"split"`
	// Part is the extent of one compute tile's part of a full L3 tile.
	Part      Tile      `json:"part"`
	Buffering Buffering `json:"buffering"`
}

// GEMMDims is the GEMM view of an operator.
type GEMMDims struct {
	Batch int64 `json:"batch"`
	M     int64 `json:"m"`
	N     int64 `json:"n"`
	K     int64 `json:"k"`
	DType DType `json:"dtype"`
}

// LevelTiling is the tile and loop order at one memory level.
type LevelTiling struct {
	Tile Tile `json:"tile"`
	// Trips counts the tiles over the level's extent (the operator at L3,
	// one part of a full L3 tile at L2), edge tiles included.
	Trips        Tile   `json:"trips"`
	Order        string `json:"order"` // outermost first
	Stationarity string `json:"stationarity"`
}

// FabricTiling is the array pass: Tile.M x Tile.N outputs (the array's rows
// x cols) reduced over Tile.K (the L2 tile's K), Passes per full L2 tile.
type FabricTiling struct {
	Array  ArrayShape `json:"array"`
	Tile   Tile       `json:"tile"`
	Passes int64      `json:"passes"`
}

// Buffering is the number of buffers per operand at L3 and L2.
type Buffering struct {
	L3 Buffers `json:"l3"`
	L2 Buffers `json:"l2"`
}

// ExportTilings builds the tiling export of ops on machine mc.
func ExportTilings(graph string, mc ExportMachine, ops []ExportOp) (*Tilings, error) {
	if err := mc.Validate(); err != nil {
		return nil, fmt.Errorf("tilings: %w", err)
	}
	arr := ArrayShape{Rows: mc.ArrayRows, Cols: mc.ArrayCols}
	out := &Tilings{Format: TilingsFormat, Graph: graph, Machine: mc.Name, Array: arr, Ops: []OpTilings{}}
	for _, o := range ops {
		if err := o.Validate(); err != nil {
			return nil, fmt.Errorf("tilings: %w", err)
		}
		m := o.Mapping
		part := o.partTile()
		ft := Tile{M: int64(mc.ArrayRows), N: int64(mc.ArrayCols), K: m.L2.K}
		out.Ops = append(out.Ops, OpTilings{
			Op: o.Name, Type: o.Type,
			Dims: GEMMDims{Batch: o.Batch, M: o.M, N: o.N, K: o.K, DType: o.DType},
			L3: LevelTiling{Tile: m.L3, Trips: tripCounts(Tile{M: o.M, N: o.N, K: o.K}, m.L3),
				Order: m.L3Order, Stationarity: Stationarity(m.L3Order)},
			L2: LevelTiling{Tile: m.L2, Trips: tripCounts(part, m.L2),
				Order: m.L2Order, Stationarity: Stationarity(m.L2Order)},
			Fabric:    FabricTiling{Array: arr, Tile: ft, Passes: ceilDiv64(m.L2.M, ft.M) * ceilDiv64(m.L2.N, ft.N)},
			Split:     m.Split,
			Part:      part,
			Buffering: Buffering{L3: m.L3Buffers, L2: m.L2Buffers},
		})
	}
	return out, nil
}
