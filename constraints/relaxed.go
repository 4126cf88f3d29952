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
// at least limit. Repeating L3 steps are jumped over as in ReplayWithin.
func RelaxedFloor(ctx context.Context, p Problem, m model.Mapping, cfg *kpu.Config, limit int64) (int64, error) {
	tr, _, err := replayCompressedOf(ctx, p, m, cfg, limit, &defaultCompress, true)
	if errors.Is(err, ErrExceeds) {
		return limit, nil
	}
	if err != nil {
		return 0, fmt.Errorf("relaxed replay: %w", err)
	}
	return tr.Cycles, nil
}
