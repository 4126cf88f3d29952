package main

import (
	"fmt"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// dramShortfall says why the tensors of g cannot all be held in the DRAM of
// cfg, or returns nil. It is a necessary condition only (the lowering may
// still run out of room to alignment), checked before any search so that a
// graph too big for the machine fails at once, naming the capacity that is
// short and by how much:
//   - every graph input and output lives in DRAM, each within one channel
//     (a tensor is never split over channels), and all of them together
//     within the machine's DRAM;
//   - when allThrough is set (every tensor goes through DRAM, as in solve,
//     lower and compare), the same holds for every tensor an operator
//     reads or writes, and the tensors of each operator fit together.
func dramShortfall(g *model.Graph, cfg *kpu.Config, allThrough bool) error {
	chanBytes, total := cfg.DRAMChannelBytes, cfg.DRAMBytes()
	have := fmt.Sprintf("%d B (%d channels of %d B)", total, cfg.DRAMChannels, chanBytes)
	tensorFits := func(name string) error {
		t, ok := g.Tensors[name]
		if !ok {
			return nil
		}
		if b := t.Bytes(); b > chanBytes {
			return fmt.Errorf("infeasible: DRAM: tensor %q (%v %s) needs %d B, one DRAM channel holds %d B (short by %d B)", name, t.Shape, t.DType, b, chanBytes, b-chanBytes)
		}
		return nil
	}
	sum := func(names []string) int64 {
		var n int64
		seen := map[string]bool{}
		for _, name := range names {
			if t, ok := g.Tensors[name]; ok && !seen[name] {
				seen[name] = true
				n += t.Bytes()
			}
		}
		return n
	}
	io := append(g.Inputs(), g.Outputs()...)
	for _, name := range io {
		if err := tensorFits(name); err != nil {
			return err
		}
	}
	if need := sum(io); need > total {
		return fmt.Errorf("infeasible: DRAM: the graph's %d inputs and outputs need %d B, the machine has %s (short by %d B)", len(io), need, have, need-total)
	}
	if !allThrough {
		return nil
	}
	for _, op := range g.Operators {
		names := append(append([]string(nil), op.Inputs...), op.Outputs...)
		for _, name := range names {
			if err := tensorFits(name); err != nil {
				return fmt.Errorf("operator %q: %w", op.Name, err)
			}
		}
		if need := sum(names); need > total {
			return fmt.Errorf("operator %q: infeasible: DRAM: its tensors need %d B, the machine has %s (short by %d B)", op.Name, need, have, need-total)
		}
	}
	return nil
}

// checkDRAMFit is dramShortfall as a command error (exit 1: the job cannot
// be done on this machine).
func checkDRAMFit(cmdName, path string, g *model.Graph, cfg *kpu.Config, allThrough bool) error {
	if err := dramShortfall(g, cfg, allThrough); err != nil {
		return failed(fmt.Errorf("%s %s on %s: %w", cmdName, path, cfg.Name, err))
	}
	return nil
}
