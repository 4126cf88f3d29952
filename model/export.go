package model

import (
	"fmt"
	"strings"
)

// ExportOp is one scheduled GEMM-like operator as the exporters see it: the
// GEMM view (Batch independent C[M,N] = A[M,K] x B[K,N]) and its mapping.
type ExportOp struct {
	Name    string
	Type    OpType
	Batch   int64
	M, N, K int64
	DType   DType
	Mapping Mapping
}

// ExportMachine is what the exporters need to know of the machine: its name
// and the systolic array of each compute tile.
type ExportMachine struct {
	Name         string
	ArrayRows    int
	ArrayCols    int
	ComputeTiles int
}

// Validate checks the operator's dimensions and that its mapping is well
// formed (tile sizes within the dims, orders that are permutations of "mnk",
// split and buffer counts in range), naming the field that is wrong. It does
// not check capacities: that is the machine's business (constraints).
func (o ExportOp) Validate() error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("operator %q: %s", o.Name, fmt.Sprintf(format, a...))
	}
	if o.Batch < 1 || o.M < 1 || o.N < 1 || o.K < 1 {
		return fail("shape batch=%d m=%d n=%d k=%d: want every dimension >= 1", o.Batch, o.M, o.N, o.K)
	}
	if o.DType.Size() == 0 {
		return fail("shape dtype %q: unknown element type", o.DType)
	}
	m := o.Mapping
	for _, t := range []struct {
		field string
		v, lo int64
		hi    int64
	}{
		{"mapping.l3.m", m.L3.M, 1, o.M}, {"mapping.l3.n", m.L3.N, 1, o.N}, {"mapping.l3.k", m.L3.K, 1, o.K},
		{"mapping.l2.m", m.L2.M, 1, m.L3.M}, {"mapping.l2.n", m.L2.N, 1, m.L3.N}, {"mapping.l2.k", m.L2.K, 1, m.L3.K},
	} {
		if t.v < t.lo || t.v > t.hi {
			return fail("%s = %d: want %d to %d", t.field, t.v, t.lo, t.hi)
		}
	}
	for _, ord := range []struct{ field, v string }{{"mapping.l3_order", m.L3Order}, {"mapping.l2_order", m.L2Order}} {
		if !isOrder(ord.v) {
			return fail("%s %q: want a permutation of \"mnk\" (outermost first)", ord.field, ord.v)
		}
	}
	if m.Split.M < 1 || m.Split.N < 1 || m.Split.K < 1 {
		return fail("mapping.split m=%d n=%d k=%d: want m, n, k >= 1", m.Split.M, m.Split.N, m.Split.K)
	}
	if int64(m.Split.M) > m.L3.M || int64(m.Split.N) > m.L3.N || int64(m.Split.K) > m.L3.K {
		return fail("mapping.split m=%d n=%d k=%d: more parts than the L3 tile %dx%dx%d has", m.Split.M, m.Split.N, m.Split.K, m.L3.M, m.L3.N, m.L3.K)
	}
	if kp := ceilDiv64(m.L3.K, int64(m.Split.K)); m.L2.K > kp {
		return fail("mapping.l2.k = %d: want 1 to %d (the K part of a compute tile)", m.L2.K, kp)
	}
	for _, b := range []struct {
		field string
		v     int
	}{{"mapping.l3_buffers.a", m.L3Buffers.A}, {"mapping.l3_buffers.b", m.L3Buffers.B}, {"mapping.l3_buffers.c", m.L3Buffers.C},
		{"mapping.l2_buffers.a", m.L2Buffers.A}, {"mapping.l2_buffers.b", m.L2Buffers.B}, {"mapping.l2_buffers.c", m.L2Buffers.C}} {
		if b.v != 1 && b.v != 2 {
			return fail("%s = %d: want 1 (single) or 2 (double buffered)", b.field, b.v)
		}
	}
	return nil
}

// Validate checks the machine fields the exporters use.
func (mc ExportMachine) Validate() error {
	if mc.ArrayRows < 1 || mc.ArrayCols < 1 || mc.ComputeTiles < 1 {
		return fmt.Errorf("machine %q: array %dx%d, %d compute tiles: want all >= 1", mc.Name, mc.ArrayRows, mc.ArrayCols, mc.ComputeTiles)
	}
	return nil
}

func isOrder(s string) bool {
	return len(s) == 3 && strings.Count(s, "m") == 1 && strings.Count(s, "n") == 1 && strings.Count(s, "k") == 1
}

func ceilDiv64(a, b int64) int64 { return (a + b - 1) / b }

// tripCounts of one level: the number of tiles of size t over the extents e.
func tripCounts(e, t Tile) Tile {
	return Tile{M: ceilDiv64(e.M, t.M), N: ceilDiv64(e.N, t.N), K: ceilDiv64(e.K, t.K)}
}

// partTile is the extent of one compute tile's part of a full L3 tile.
func (o ExportOp) partTile() Tile {
	m := o.Mapping
	return Tile{M: ceilDiv64(m.L3.M, int64(m.Split.M)), N: ceilDiv64(m.L3.N, int64(m.Split.N)), K: ceilDiv64(m.L3.K, int64(max(m.Split.K, 1)))}
}
