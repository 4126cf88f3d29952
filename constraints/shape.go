package constraints

import (
	"math"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// Shape is the part of a mapping the orders and buffer counts do not change:
// the tiles and the split.
type Shape struct {
	L3, L2 model.Tile
	Split  model.Split
}

// Mapping completes a shape with orders (indices into model.Orders) and
// buffer counts.
func (s Shape) Mapping(o3, o2 int, b3, b2 model.Buffers) model.Mapping {
	return model.Mapping{L3: s.L3, L2: s.L2, Split: s.Split, L3Order: model.Orders[o3], L2Order: model.Orders[o2], L3Buffers: b3, L2Buffers: b2}
}

// ShapeEval judges the 36 order pairs of one shape from 6 + 6 partial
// evaluations (the DMA side depends only on the L3 order, the compute-tile
// side only on the L2 order).
type ShapeEval struct {
	g       *geom
	dma     [6]Estimate
	tile    [6][2]Estimate // by L2 order, and whether C2 persists (see persistC)
	persist [6]bool        // by L3 order
	fitErr  error          // the capacity shortfall with single buffers, if any
}

var single = model.Buffers{A: 1, B: 1, C: 1}

// NewShapeEval checks the structure of shape s and its capacity with single
// buffers (see FitsSingle); when it fits, it prepares the partial evaluations.
func NewShapeEval(p Problem, s Shape, cfg *kpu.Config) (*ShapeEval, error) {
	g, err := newGeom(p, s.Mapping(0, 0, single, single), cfg)
	if err != nil {
		return nil, err
	}
	se := &ShapeEval{g: g}
	if err := g.fits(); err != nil {
		se.fitErr = err
		return se, nil
	}
	l3 := g.l3Spans()
	for o := 0; o < 6; o++ {
		ord, _ := parseOrder(model.Orders[o])
		g.ord3, g.ord2 = ord, ord
		g.dmaPart(&se.dma[o], l3)
		se.persist[o] = g.persistC()
		for k, p := range []bool{false, true} {
			g.persist = p
			g.tilePart(&se.tile[o][k], l3)
			g.levelBytes(&se.tile[o][k].Bytes, l3)
		}
	}
	return se, nil
}

// FitsSingle checks every capacity with single buffers everywhere (the
// smallest footprint of the shape).
func (se *ShapeEval) FitsSingle() error { return se.fitErr }

// Estimate is the closed-form judgement of the shape under L3 order o3 and
// L2 order o2 (indices into model.Orders); it equals Quick of that mapping.
func (se *ShapeEval) Estimate(o3, o2 int) Estimate {
	k := 0
	if se.persist[o3] {
		k = 1
	}
	d, t := &se.dma[o3], &se.tile[o2][k]
	est := Estimate{
		Bytes:      t.Bytes,
		DMABusy:    d.DMABusy,
		BMBusy:     t.BMBusy,
		FeedBusy:   t.FeedBusy,
		FabricBusy: t.FabricBusy,
	}
	est.Bytes.DRAMRead, est.Bytes.DRAMWrite = d.Bytes.DRAMRead, d.Bytes.DRAMWrite
	est.Bytes.L3Write += d.Bytes.L3Write
	est.Bytes.L3Read += d.Bytes.L3Read
	se.g.lowerCycles(&est)
	return est
}

// ShapeBound bounds every mapping with the L3 tile and split of s, whatever
// its L2 tile, orders and buffer counts (s.L2 is ignored): it evaluates the
// shape with one L2 step per L3 step (the L2 tile equal to the part), which
// moves the fewest bytes in the fewest commands and wastes the least fabric
// time, and takes the best L3 order for each figure. The latency bound leaves
// out the pipeline prologue (it depends on the L2 tile).
func ShapeBound(p Problem, s Shape, cfg *kpu.Config) (cycles, dram int64, energy float64, err error) {
	s.L2 = model.Tile{M: 1, N: 1, K: 1}
	g, err := newGeom(p, s.Mapping(0, 0, single, single), cfg)
	if err != nil {
		return 0, 0, 0, err
	}
	g.tile2 = [3]int64{g.mp, g.np, g.tile3[2]}
	g.ga, g.gb = 1, 1
	l3 := g.l3Spans()
	var tiles [2]Estimate
	for k, p := range []bool{false, true} {
		g.persist = p
		g.tilePart(&tiles[k], l3)
		g.levelBytes(&tiles[k].Bytes, l3)
	}
	cycles, dram, energy = math.MaxInt64, math.MaxInt64, math.Inf(1)
	for o := 0; o < 6; o++ {
		g.ord3, _ = parseOrder(model.Orders[o])
		var d Estimate
		g.dmaPart(&d, l3)
		est := tiles[0]
		if g.persistC() {
			est = tiles[1]
		}
		est.DMABusy = d.DMABusy
		est.Bytes.DRAMRead, est.Bytes.DRAMWrite = d.Bytes.DRAMRead, d.Bytes.DRAMWrite
		est.Bytes.L3Write += d.Bytes.L3Write
		est.Bytes.L3Read += d.Bytes.L3Read
		c := g.busyBound(&est)
		cycles = min(cycles, c)
		dram = min(dram, est.Bytes.DRAM())
		energy = math.Min(energy, EnergyOf(p, est.Bytes, p.MACs(), cfg))
	}
	return cycles, dram, energy, nil
}
