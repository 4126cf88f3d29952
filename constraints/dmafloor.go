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
// their commands round-robin in program order and run them in order; the
// floor times that stream with two of the dependencies the real one has,
// each no later than in the replay:
//
//   - a load of an A or B group into an L3 slot waits for the readers of
//     the slot's previous occupant: the compute tile that reads a group
//     moves every L2 block of it at least once in the first L3 step of the
//     visit, one move after the other on its BlockMover, after the load;
//   - the same moves, then a feed, a matmul, a move_out and a DMA store,
//     follow every load of an A or B group.
//
// The floor is the latest end of a DMA command and of a load plus what
// follows it. It walks only the DMA commands (no L2 loops), so it costs a
// small part of a replay. With a K split (the tiles read parts of a group)
// only the engines' order is used.
func DMAFloor(ctx context.Context, p Problem, m model.Mapping, cfg *kpu.Config) (int64, error) {
	return DMAFloorAbove(ctx, p, m, cfg, 0)
}

// errFloorAbove stops a DMA walk once its floor passes the limit.
var errFloorAbove = errors.New("DMA floor above the limit")

// DMAFloorAbove is DMAFloor that stops as soon as the floor exceeds limit
// (when limit > 0) and then returns a value above limit, not the whole
// floor.
func DMAFloorAbove(ctx context.Context, p Problem, m model.Mapping, cfg *kpu.Config, limit int64) (int64, error) {
	free := make([]int64, cfg.DMAEngines)
	var floor int64
	var g *geom
	var epi int64
	// release[x][slot][group]: the earliest time the slot's occupant of the
	// group has been read (A, B)
	var release [2]map[[2]int64]int64
	release[0], release[1] = map[[2]int64]int64{}, map[[2]int64]int64{}
	visit := func(c *Cmd) error {
		e := c.Engine.Index
		start := free[e]
		ab := c.Kind == CmdLoad && c.Operand != OpC && g.sk == 1
		key := [2]int64{int64(c.L3Slot), c.Group}
		if ab {
			start = max(start, release[c.Operand][key])
		}
		end := start + c.Cycles
		free[e] = end
		floor = max(floor, end)
		if limit > 0 && floor > limit {
			return errFloorAbove
		}
		if !ab {
			return nil
		}
		rows, kext := c.Block.Rows, c.Block.Cols // A: rows x K extent
		if c.Operand == OpB {
			rows, kext = c.Block.Cols, c.Block.Rows
		}
		var moves int64
		for _, k := range cut(kext, g.tile2[2]) {
			moves += k.count * xfer(cfg, kpu.BlockMover, rows*k.size*g.e, g.e)
		}
		release[c.Operand][key] = end + moves
		floor = max(floor, end+moves+epi)
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
