package model

// Tile is a block of a GEMM-like iteration space: M rows of the output, N
// columns of the output, K steps of the reduction. Tiles need not divide the
// operator's dimensions; edge tiles are partial.
type Tile struct {
	M int64 `json:"m"`
	N int64 `json:"n"`
	K int64 `json:"k"`
}

// Split is the spatial partition of an L3 tile across compute tiles: the L3
// tile's M range is cut into M parts, its N range into N parts and its K range
// into K parts (K > 1 means partial sums reduced across compute tiles).
// M*N*K compute tiles are used.
type Split struct {
	M int `json:"m"`
	N int `json:"n"`
	K int `json:"k"`
}

// Buffers gives the number of buffers (1 = single, 2 = double buffered) of
// each operand at one memory level: A (rows x reduction), B (reduction x
// columns), C (the output block).
type Buffers struct {
	A int `json:"a"`
	B int `json:"b"`
	C int `json:"c"`
}

// Mapping is the schedule of one GEMM-like operator (MATMUL, LINEAR, CONV2D as
// an implicit GEMM) on the KPU. Semantics:
//
//	for each batch index b:
//	  for L3 tiles (M3,N3,K3) over (M,N,K) in L3Order      // DMA: DRAM <-> L3
//	    split the L3 tile over Split.M x Split.N x Split.K compute tiles
//	    on each compute tile, in parallel:
//	      for L2 tiles (M2,N2,K2) over its part in L2Order // BlockMover: L3 <-> L2
//	        fabric passes of R x C over the L2 tile       // Streamer: L2 -> L1 feeds; C accumulates in L2
//
// An order is a permutation of "mnk" from outermost to innermost loop: k
// innermost is output-stationary, m innermost weight-stationary (B reused),
// n innermost input-stationary (A reused).
//
// docs/mapping.md states the exact command stream a mapping lowers to (split
// into parts, L2-aligned groups in L3, engines, program order, dependencies).
// Placement, when present, records where the buffers went; it is derived from
// the rest of the mapping and the machine (constraints.Place) and is ignored
// on input.
type Mapping struct {
	L3        Tile       `json:"l3"`
	L2        Tile       `json:"l2"`
	L3Order   string     `json:"l3_order"`
	L2Order   string     `json:"l2_order"`
	Split     Split      `json:"split"`
	L3Buffers Buffers    `json:"l3_buffers"`
	L2Buffers Buffers    `json:"l2_buffers"`
	Placement *Placement `json:"placement,omitempty"`
}

// BufferPlace is where one buffer slot lives. For L2 the unit is a bank of
// each compute tile (local index; the layout is the same on every tile) and
// the buffer lies wholly in it. For L3 a buffer is a list of groups placed
// next-fit over consecutive L3 tiles: Unit..LastUnit are the tiles its groups
// occupy and Offset is the byte offset of its first group in Unit.
type BufferPlace struct {
	Buffer   string `json:"buffer"` // e.g. "A2[0]": operand, level, slot
	Unit     int    `json:"unit"`
	LastUnit int    `json:"last_unit"`
	Offset   int64  `json:"offset"`
	Bytes    int64  `json:"bytes"`
}

// Placement lists the buffers of a mapping at L2 (per compute tile) and L3.
type Placement struct {
	L2 []BufferPlace `json:"l2"`
	L3 []BufferPlace `json:"l3"`
}

// Orders lists the six loop orders, outermost first.
var Orders = []string{"mnk", "nmk", "mkn", "kmn", "nkm", "knm"}

// Stationarity names the operand an order keeps in place at its level.
func Stationarity(order string) string {
	if len(order) != 3 {
		return "unknown"
	}
	switch order[2] {
	case 'k':
		return "output-stationary"
	case 'm':
		return "weight-stationary"
	case 'n':
		return "input-stationary"
	}
	return "unknown"
}
