package graph

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/constraints/alloc"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
	"github.com/stillwater-sc/kpuopt/search/placer"
)

// planTime bounds the memory planner's search for one schedule.
const planTime = 2 * time.Second

// planL3 gives every resident tensor its L3 home. Striped homes (tensors
// larger than one L3 tile) take whole tiles from the top of L3 down, in
// order of First, each the highest run of free tiles over its lifetime
// (placeStriped). The memory planner lays out the rest below the lowest of
// them: one buffer per other resident tensor over its entries [First,
// Last], and one per entry for that entry's working set. It sets each
// ResidentTensor.L3Offset and s.L3Plan; a layout the planner proves
// impossible (fragmentation beyond the byte-sum capacity model) is an error.
func planL3(ctx context.Context, s *model.GraphSchedule, cfg *kpu.Config) error {
	if len(s.Resident) == 0 {
		return nil
	}
	low, err := placeStriped(s, cfg)
	if err != nil {
		return err
	}
	p := &alloc.Problem{Capacity: low}
	var idx []int // s.Resident index of each resident buffer
	for i, r := range s.Resident {
		if constraints.StripedHomeTiles(r.Bytes, cfg) > 0 {
			continue
		}
		idx = append(idx, i)
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
		return fmt.Errorf("graph %s: L3 plan: the resident tensors and working sets fit L3 (%d B) byte for byte at every step, but no address layout holds them below the striped homes (%d B; memory planner, %s): %w", s.Graph, cfg.L3Bytes(), low, sol.Engine, errNoLayout)
	case placer.Unknown:
		s.L3Plan = fmt.Sprintf("not planned: the memory planner found no layout within %s", planTime)
		return nil
	}
	for k, i := range idx {
		s.Resident[i].L3Offset = sol.Offsets[k]
	}
	s.L3Plan = fmt.Sprintf("placed by the memory planner (%s), peak %d B of %d B", sol.Engine, sol.Peak, cfg.L3Bytes())
	if low < cfg.L3Bytes() {
		s.L3Plan += fmt.Sprintf("; striped homes in whole L3 tiles from %d B up", low)
	}
	return nil
}

// errNoLayout marks an L3 plan that found no layout.
var errNoLayout = errors.New("no L3 layout")

// placeStriped gives every striped home (constraints.StripedHomeTiles) the
// highest run of whole L3 tiles that no striped home live at the same time
// uses, in order of First, and returns the flat address of the lowest tile
// any of them takes (the L3 size when there is none).
func placeStriped(s *model.GraphSchedule, cfg *kpu.Config) (int64, error) {
	tb := cfg.L3TileBytes
	low := cfg.L3Bytes()
	var order []int
	for i, r := range s.Resident {
		if constraints.StripedHomeTiles(r.Bytes, cfg) > 0 {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return s.Resident[order[a]].First < s.Resident[order[b]].First })
	var done []int
	for _, i := range order {
		r := &s.Resident[i]
		k := int(constraints.StripedHomeTiles(r.Bytes, cfg))
		start := cfg.L3Tiles - k
		for moved := true; moved && start >= 0; {
			moved = false
			for _, j := range done {
				o := s.Resident[j]
				if o.Last < r.First || r.Last < o.First {
					continue
				}
				os := int(o.L3Offset / tb)
				oe := os + int(constraints.StripedHomeTiles(o.Bytes, cfg))
				if os < start+k && start < oe {
					start, moved = os-k, true
				}
			}
		}
		if start < 0 {
			return 0, fmt.Errorf("graph %s: L3 plan: no run of %d free L3 tiles for the striped home of %q: %w", s.Graph, k, r.Tensor, errNoLayout)
		}
		r.L3Offset = int64(start) * tb
		low = min(low, r.L3Offset)
		done = append(done, i)
	}
	return low, nil
}
