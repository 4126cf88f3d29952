package graph

import (
	"context"
	"fmt"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints/alloc"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
	"github.com/stillwater-sc/kpuopt/search/placer"
)

// planTime bounds the memory planner's search for one schedule.
const planTime = 2 * time.Second

// planL3 gives every resident tensor its L3 home with the memory planner:
// one buffer per resident tensor over its entries [First, Last], and one per
// entry for that entry's working set, all within the L3 capacity. It sets
// each ResidentTensor.L3Offset and s.L3Plan; a layout the planner proves
// impossible (fragmentation beyond the byte-sum capacity model) is an error.
func planL3(ctx context.Context, s *model.GraphSchedule, cfg *kpu.Config) error {
	if len(s.Resident) == 0 {
		return nil
	}
	p := &alloc.Problem{Capacity: cfg.L3Bytes()}
	for _, r := range s.Resident {
		p.Buffers = append(p.Buffers, alloc.Buffer{ID: "resident " + r.Tensor, Lower: int64(r.First), Upper: int64(r.Last) + 1, Size: r.Bytes})
	}
	for i, op := range s.Ops {
		if op.WorkingSetBytes > 0 {
			p.Buffers = append(p.Buffers, alloc.Buffer{ID: fmt.Sprintf("working set %d %s", i, op.Name), Lower: int64(i), Upper: int64(i) + 1, Size: op.WorkingSetBytes})
		}
	}
	pctx, cancel := context.WithTimeout(ctx, planTime)
	defer cancel()
	sol, err := placer.Place(pctx, p, placer.Options{})
	if err != nil {
		return fmt.Errorf("graph %s: L3 plan: %w", s.Graph, err)
	}
	switch sol.Status {
	case placer.Infeasible:
		return fmt.Errorf("graph %s: L3 plan: the resident tensors and working sets fit L3 (%d B) byte for byte at every step, but no address layout holds them (memory planner, %s)", s.Graph, cfg.L3Bytes(), sol.Engine)
	case placer.Unknown:
		s.L3Plan = fmt.Sprintf("not planned: the memory planner found no layout within %s", planTime)
		return nil
	}
	for i := range s.Resident {
		s.Resident[i].L3Offset = sol.Offsets[i]
	}
	s.L3Plan = fmt.Sprintf("placed by the memory planner (%s), peak %d B of %d B", sol.Engine, sol.Peak, cfg.L3Bytes())
	return nil
}
