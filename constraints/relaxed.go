package constraints

import (
	"context"
	"errors"
	"fmt"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// RelaxedFloor is a lower bound of the replayed latency of mapping m: the
// replay of the sub-stream of every DMA command and every command of compute
// tile 0 (docs/search.md, "Relaxed replay"). The other tiles' commands are
// left out, and with them the dependencies on them (a DMA load waits only
// for tile 0's readers, a store for tile 0's move_outs). Every kept command
// then waits for a subset of what it waits for in the full stream, behind
// a subset of its engine's earlier commands, so by induction it starts no
// later than in the replay. On a machine with many tiles the sub-stream is
// a small part of the stream.
//
// With limit > 0 it stops once the bound reaches limit and returns a value
// at least limit.
func RelaxedFloor(ctx context.Context, p Problem, m model.Mapping, cfg *kpu.Config, limit int64) (int64, error) {
	nEng := cfg.DMAEngines + cfg.BlockMovers + cfg.Streamers + 2*cfg.ComputeTiles
	free := make([]int64, nEng)
	endp := endPool.Get().(*[]int64)
	end := (*endp)[:0]
	defer func() { *endp = end[:0]; endPool.Put(endp) }()
	var span int64
	stop := errors.New("relaxed floor reaches the limit")
	visit := func(c *Cmd) error {
		start := free[c.flat]
		for _, d := range c.Deps {
			if d >= c.ID {
				return fmt.Errorf("command %d depends on later command %d", c.ID, d)
			}
			start = max(start, end[d])
		}
		fin := start + c.Cycles
		free[c.flat] = fin
		end = append(end, fin)
		if fin > span {
			span = fin
			if limit > 0 && span >= limit {
				return stop
			}
		}
		return nil
	}
	w, err := newWalker(ctx, p, m, cfg, nil, nil, visit)
	if err != nil {
		return 0, err
	}
	w.tile0Only = true
	if err := w.run(); errors.Is(err, stop) {
		return span, nil
	} else if err != nil {
		return 0, fmt.Errorf("relaxed replay: %w", err)
	}
	return span, nil
}
