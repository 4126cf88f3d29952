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
// side only on the L2 order). The on-chip bytes and the capacity check are
// computed on first use, so a search can drop a shape by its latency bound
// (LowerCycles) before paying for them.
type ShapeEval struct {
	g         *geom
	l3        [3][]span
	dma       [6]Estimate
	tile      [6][2]Estimate // by L2 order, and whether C2 persists (see persistC)
	persist   [6]bool        // by L3 order
	stall     [6]int64       // by L3 order (stall.go)
	anyPers   bool           // some L3 order keeps C2 resident
	bytesDone bool
	dmaDone   [6]bool
	tileDone  [6][2]bool
	fabDone   bool
	fabric    int64
	head      int64 // edgeFigures
	finalMove int64
	tail      int64
	fitDone   bool
	fitErr    error     // the capacity shortfall with single buffers, if any
	chain     *chainTab // BufferBound's parts (chains.go), on first use
}

var single = model.Buffers{A: 1, B: 1, C: 1}

// NewShapeEval checks the structure of shape s and its capacity with single
// buffers (see FitsSingle); when it fits, it prepares the partial evaluations.
func NewShapeEval(p Problem, s Shape, cfg *kpu.Config) (*ShapeEval, error) {
	se, err := PrepareShape(p, s, cfg)
	if err != nil {
		return nil, err
	}
	se.FitsSingle()
	return se, nil
}

// PrepareShape checks the structure of shape s and prepares its evaluation
// without checking capacities (FitsSingle does, on demand); the partial
// evaluations are computed on first use.
func PrepareShape(p Problem, s Shape, cfg *kpu.Config) (*ShapeEval, error) {
	g, err := newGeom(p, s.Mapping(0, 0, single, single), cfg)
	if err != nil {
		return nil, err
	}
	se := &ShapeEval{g: g, l3: g.l3Spans()}
	se.head, se.finalMove, se.tail = g.edgeFigures()
	st := g.stallTable()
	for o := 0; o < 6; o++ {
		ord, _ := parseOrder(model.Orders[o])
		g.ord3 = ord
		se.persist[o] = g.persistC()
		se.anyPers = se.anyPers || se.persist[o]
		se.stall[o] = st.l3Stall(ord, p.Batch)
	}
	return se, nil
}

// MinLowerCycles bounds the latency of every order pair and buffer choice of
// the shape: the prologue, tile 0's fabric time (it does not depend on the
// orders), the least L3 boundary stall over the L3 orders and the epilogue.
func (se *ShapeEval) MinLowerCycles() int64 {
	if !se.fabDone {
		se.fabDone = true
		g := se.g
		g.ord2, g.persist = [3]int{0, 1, 2}, false
		var est Estimate
		g.tilePart(&est, se.l3)
		se.fabric = est.FabricBusy
	}
	est := Estimate{FabricBusy: se.fabric, Stall: min(se.stall[0], se.stall[1], se.stall[2], se.stall[3], se.stall[4], se.stall[5]), FinalMove: se.finalMove, Tail: se.tail}
	se.g.lowerCycles(&est)
	return est.LowerCycles
}

// dmaOf returns the DMA-side partial evaluation of L3 order o3, computing
// it on first use.
func (se *ShapeEval) dmaOf(o3 int) *Estimate {
	if !se.dmaDone[o3] {
		se.dmaDone[o3] = true
		g := se.g
		g.ord3, _ = parseOrder(model.Orders[o3])
		g.dmaPart(&se.dma[o3], se.l3)
	}
	return &se.dma[o3]
}

// tileOf returns the tile-side partial evaluation of L2 order o2 (C2
// resident across L3 k steps when k == 1), computing it on first use.
func (se *ShapeEval) tileOf(o2, k int) *Estimate {
	if !se.tileDone[o2][k] {
		se.tileDone[o2][k] = true
		g := se.g
		g.ord2, _ = parseOrder(model.Orders[o2])
		g.persist = k == 1
		g.tilePart(&se.tile[o2][k], se.l3)
	}
	return &se.tile[o2][k]
}

// FitsSingle checks every capacity with single buffers everywhere (the
// smallest footprint of the shape).
func (se *ShapeEval) FitsSingle() error {
	if !se.fitDone {
		se.fitDone = true
		se.fitErr = se.g.fits()
	}
	return se.fitErr
}

func (se *ShapeEval) levelBytes() {
	if se.bytesDone {
		return
	}
	se.bytesDone = true
	g := se.g
	for o := 0; o < 6; o++ {
		se.dmaOf(o)
		for k, p := range []bool{false, true} {
			if p && !se.anyPers {
				continue
			}
			se.tileOf(o, k)
			g.ord2, _ = parseOrder(model.Orders[o])
			g.persist = p
			g.levelBytes(&se.tile[o][k].Bytes, se.l3)
		}
	}
}

func (se *ShapeEval) parts(o3, o2 int) Estimate {
	k := 0
	if se.persist[o3] {
		k = 1
	}
	d, t := se.dmaOf(o3), se.tileOf(o2, k)
	return Estimate{
		Bytes:      t.Bytes,
		DMABusy:    d.DMABusy,
		BMBusy:     t.BMBusy,
		FeedBusy:   t.FeedBusy,
		FabricBusy: t.FabricBusy,
		Stall:      se.stall[o3],
		Head:       se.head,
		FinalMove:  se.finalMove,
		Tail:       se.tail,
	}
}

// OrderCanBeat reports whether some L2 order, with L3 order o3, may have a
// latency bound below v: false when the prologue, fabric, stalls and
// epilogue, or the DMA engines' share of the traffic, already reach v.
func (se *ShapeEval) OrderCanBeat(o3 int, v float64) bool {
	se.MinLowerCycles()
	est := Estimate{FabricBusy: se.fabric, Stall: se.stall[o3], FinalMove: se.finalMove, Tail: se.tail}
	se.g.lowerCycles(&est)
	if float64(est.LowerCycles) >= v {
		return false
	}
	return float64(ceilDiv(se.dmaOf(o3).DMABusy, int64(se.g.cfg.DMAEngines))) < v
}

// LowerCycles is Estimate(o3, o2).LowerCycles without the byte counts.
func (se *ShapeEval) LowerCycles(o3, o2 int) int64 {
	est := se.parts(o3, o2)
	se.g.lowerCycles(&est)
	return est.LowerCycles
}

// Estimate is the closed-form judgement of the shape under L3 order o3 and
// L2 order o2 (indices into model.Orders); it equals Quick of that mapping.
func (se *ShapeEval) Estimate(o3, o2 int) Estimate {
	se.levelBytes()
	est := se.parts(o3, o2)
	d := &se.dma[o3]
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
