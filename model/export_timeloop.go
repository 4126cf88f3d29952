package model

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Timeloop level names, outermost first (docs/export.md): DRAM, the L3 tiles,
// the L2 banks of a compute tile, and the PE of the systolic array.
const (
	TimeloopDRAM = "DRAM"
	TimeloopL3   = "L3"
	TimeloopL2   = "L2"
	TimeloopPE   = "PE"
)

// TimeloopDirective is one directive of a Timeloop mapping: the sub-nest of
// loops at one hardware level. Factors is "M=.. N=.. K=.."; Permutation
// lists the dimensions inner to outer, as Timeloop reads it.
type TimeloopDirective struct {
	Target      string `yaml:"target"`
	Type        string `yaml:"type"`
	Factors     string `yaml:"factors"`
	Permutation string `yaml:"permutation"`
}

// TimeloopMapping is a Timeloop-style mapping of one GEMM (a 3-loop problem
// over M, N, K).
type TimeloopMapping struct {
	Mapping []TimeloopDirective `yaml:"mapping"`
}

// timeloopPerm turns an order (outermost first, lower case) into Timeloop's
// permutation (inner to outer, upper case).
func timeloopPerm(order string) string {
	b := []byte(strings.ToUpper(order))
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

func factors(m, n, k int64) string { return fmt.Sprintf("M=%d N=%d K=%d", m, n, k) }

// TimeloopOf is the Timeloop-style mapping of o on mc:
//
//	DRAM temporal: the L3 tile loops (trip counts), in the L3 order
//	L3 spatial:    the split over compute tiles (M and N parts)
//	L3 temporal:   the L2 tile loops of one part, in the L2 order
//	L2 temporal:   the array passes over an L2 tile (M/rows, N/cols)
//	L2 spatial:    the array, rows over M and columns over N
//	PE temporal:   the reduction of an L2 tile, K2 steps (output-stationary)
//
// Factors are trip counts rounded up (edge tiles are partial), so their
// product covers each dimension rounded up to whole tiles.
func TimeloopOf(o ExportOp, mc ExportMachine) (*TimeloopMapping, error) {
	if err := mc.Validate(); err != nil {
		return nil, fmt.Errorf("timeloop: %w", err)
	}
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("timeloop: %w", err)
	}
	m := o.Mapping
	t3 := tripCounts(Tile{M: o.M, N: o.N, K: o.K}, m.L3)
	t2 := tripCounts(o.partTile(), m.L2)
	r, c := int64(mc.ArrayRows), int64(mc.ArrayCols)
	return &TimeloopMapping{Mapping: []TimeloopDirective{
		{TimeloopDRAM, "temporal", factors(t3.M, t3.N, t3.K), timeloopPerm(m.L3Order)},
		{TimeloopL3, "spatial", factors(int64(m.Split.M), int64(m.Split.N), int64(max(m.Split.K, 1))), "NMK"},
		{TimeloopL3, "temporal", factors(t2.M, t2.N, t2.K), timeloopPerm(m.L2Order)},
		{TimeloopL2, "temporal", factors(ceilDiv64(m.L2.M, r), ceilDiv64(m.L2.N, c), 1), "KNM"},
		{TimeloopL2, "spatial", factors(r, c, 1), "NMK"},
		{TimeloopPE, "temporal", factors(1, 1, m.L2.K), "KNM"},
	}}, nil
}

// ExportTimeloop writes the Timeloop-style mappings of ops as a YAML stream,
// one document per operator, each headed by a comment naming the operator,
// its dims and the machine.
func ExportTimeloop(mc ExportMachine, ops []ExportOp) ([]byte, error) {
	var buf bytes.Buffer
	for i, o := range ops {
		tm, err := TimeloopOf(o, mc)
		if err != nil {
			return nil, err
		}
		var doc bytes.Buffer
		enc := yaml.NewEncoder(&doc)
		enc.SetIndent(2)
		if err := enc.Encode(tm); err != nil {
			return nil, fmt.Errorf("timeloop: operator %q: %w", o.Name, err)
		}
		if err := enc.Close(); err != nil {
			return nil, fmt.Errorf("timeloop: operator %q: %w", o.Name, err)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		fmt.Fprintf(&buf, "# kpuopt mapping of %s (%s): batch %d, M=%d N=%d K=%d %s on %s (array %dx%d, %d compute tiles)\n",
			o.Name, o.Type, o.Batch, o.M, o.N, o.K, o.DType, mc.Name, mc.ArrayRows, mc.ArrayCols, mc.ComputeTiles)
		fmt.Fprintf(&buf, "# levels: DRAM > L3 > L2 > PE; factors are trip counts rounded up (edge tiles are partial)\n")
		buf.Write(doc.Bytes())
	}
	return buf.Bytes(), nil
}
