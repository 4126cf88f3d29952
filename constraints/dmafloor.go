package constraints

import (
	"context"
	"errors"
	"fmt"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// DMAFloor is a lower bound of the replayed latency of mapping m from its
// DMA commands alone (docs/search.md, "DMA floor"). The DMA engines take
// their commands round-robin in program order and run them in order, so the
// j-th command on an engine ends no sooner than the sum of the durations of
// that engine's commands up to it. That gives two bounds:
//
//   - every engine's total busy time (the closed form only has the average
//     over the engines; the round robin can be uneven);
//   - for each load of an A or B group, its earliest end plus what must
//     follow it: the compute tile that reads the group moves every L2 block
//     of it at least once, one after the other on its BlockMover, and the
//     last of those moves is followed by a feed, a matmul, a move_out and a
//     DMA store.
//
// It walks only the DMA commands (no L2 loops), so it costs a small part of
// a replay. With a K split (the tiles read parts of a group) only the first
// bound is used.
func DMAFloor(ctx context.Context, p Problem, m model.Mapping, cfg *kpu.Config) (int64, error) {
	return DMAFloorAbove(ctx, p, m, cfg, 0)
}

// errFloorAbove stops a DMA walk once its floor passes the limit.
var errFloorAbove = errors.New("DMA floor above the limit")

// DMAFloorAbove is DMAFloor that stops as soon as the floor exceeds limit
// (when limit > 0) and then returns a value above limit, not the whole
// floor.
func DMAFloorAbove(ctx context.Context, p Problem, m model.Mapping, cfg *kpu.Config, limit int64) (int64, error) {
	busy := make([]int64, cfg.DMAEngines)
	var floor int64
	var g *geom
	var epi int64
	visit := func(c *Cmd) error {
		e := c.Engine.Index
		busy[e] += c.Cycles
		end := busy[e]
		floor = max(floor, end)
		if limit > 0 && floor > limit {
			return errFloorAbove
		}
		if c.Kind != CmdLoad || c.Operand == OpC || g.sk > 1 {
			return nil
		}
		rows, kext := c.Block.Rows, c.Block.Cols // A: rows x K extent
		if c.Operand == OpB {
			rows, kext = c.Block.Cols, c.Block.Rows
		}
		post := epi
		for _, k := range cut(kext, g.tile2[2]) {
			post += k.count * xfer(cfg, kpu.BlockMover, rows*k.size*g.e, g.e)
		}
		floor = max(floor, end+post)
		if limit > 0 && floor > limit {
			return errFloorAbove
		}
		return nil
	}
	w, err := newWalker(ctx, p, m, cfg, nil, nil, visit)
	if err != nil {
		return 0, err
	}
	g, w.dmaOnly = w.g, true
	epi = g.chainEpi()
	if err := w.run(); errors.Is(err, errFloorAbove) {
		return floor, nil
	} else if err != nil {
		return 0, fmt.Errorf("DMA floor: %w", err)
	}
	return floor, nil
}
