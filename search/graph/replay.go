package graph

import (
	"context"
	"fmt"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// Pattern says which operands of a GEMM are resident in L3: A and B are read
// by the BlockMovers from their L3 home (no DMA loads), C is written to its
// L3 home (no DMA stores, no DMA reloads of partial sums).
type Pattern uint8

// Pattern bits.
const (
	ResA Pattern = 1 << iota
	ResB
	ResC
)

// Has reports whether operand x is resident under p.
func (p Pattern) Has(x constraints.Operand) bool { return p&(1<<uint(x)) != 0 }

func (p Pattern) String() string {
	s := ""
	for x := constraints.OpA; x <= constraints.OpC; x++ {
		if p.Has(x) {
			s += x.String()
		}
	}
	if s == "" {
		return "none"
	}
	return s
}

// outcome is the exact figure of one mapping under one residency pattern.
type outcome struct {
	cycles int64
	bytes  constraints.LevelBytes
	energy float64
}

// skipped reports whether command c does not exist under residency pattern
// p: DMA loads of a resident A or B, DMA stores and partial-sum reloads of a
// resident C. Everything else is unchanged (the BlockMovers read and write
// the same groups, at the resident tensor's home instead of a staging slot).
func skipped(c *constraints.Cmd, p Pattern) bool {
	return (c.Kind == constraints.CmdLoad || c.Kind == constraints.CmdStore) && p.Has(c.Operand)
}

// replayPatterns walks the command stream of mapping m once and times it
// under each residency pattern with the simulator's rule (an engine runs its
// commands in program order; a command starts at max(engine free, end of
// every dependency)). A skipped command takes no engine time and ends at 0,
// so nothing waits on it: a resident operand has no staging slot to recycle.
func replayPatterns(ctx context.Context, p constraints.Problem, m model.Mapping, cfg *kpu.Config, pats []Pattern) ([]outcome, error) {
	base := map[kpu.EngineKind]int{
		kpu.DMA:        0,
		kpu.BlockMover: cfg.DMAEngines,
		kpu.Streamer:   cfg.DMAEngines + cfg.BlockMovers,
		kpu.Fabric:     cfg.DMAEngines + cfg.BlockMovers + cfg.Streamers,
		// the vector engines run the converts of narrow outputs and the
		// adds of a K split's reduction
		kpu.Vector: cfg.DMAEngines + cfg.BlockMovers + cfg.Streamers + cfg.ComputeTiles,
	}
	nEng := cfg.DMAEngines + cfg.BlockMovers + cfg.Streamers + 2*cfg.ComputeTiles
	type state struct {
		free []int64
		end  []int64
		out  outcome
	}
	st := make([]state, len(pats))
	for i := range st {
		st[i].free = make([]int64, nEng)
		st[i].end = make([]int64, 0, 1024)
	}
	e, ea := p.ElemBytes(), p.AccBytes()
	err := constraints.Walk(ctx, p, m, cfg, func(c *constraints.Cmd) error {
		b, ok := base[c.Engine.Kind]
		if !ok {
			return fmt.Errorf("command %d: engine %s has no place in the engine table", c.ID, c.Engine)
		}
		flat := b + c.Engine.Index
		if flat < 0 || flat >= nEng {
			return fmt.Errorf("command %d: engine %s out of range", c.ID, c.Engine)
		}
		for i, pat := range pats {
			s := &st[i]
			if skipped(c, pat) {
				s.end = append(s.end, 0)
				continue
			}
			start := s.free[flat]
			for _, d := range c.Deps {
				if d >= c.ID {
					return fmt.Errorf("command %d depends on later command %d", c.ID, d)
				}
				start = max(start, s.end[d])
			}
			fin := start + c.Cycles
			s.free[flat] = fin
			s.end = append(s.end, fin)
			s.out.cycles = max(s.out.cycles, fin)
			account(&s.out.bytes, c, e, ea)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res := make([]outcome, len(pats))
	for i := range st {
		res[i] = st[i].out
		res[i].energy = energyOf(cfg, p, res[i].bytes)
	}
	return res, nil
}

// account adds a command's bytes per level, as constraints.Replay counts
// them (docs/mapping.md section 6).
func account(b *constraints.LevelBytes, c *constraints.Cmd, e, ea int64) {
	switch c.Kind {
	case constraints.CmdLoad:
		b.DRAMRead += c.Bytes
		b.L3Write += c.Bytes
	case constraints.CmdStore:
		b.L3Read += c.Bytes
		b.DRAMWrite += c.Bytes
	case constraints.CmdMoveIn:
		b.L3Read += c.Bytes
		b.L2Write += c.Bytes
	case constraints.CmdMoveOut:
		b.L2Read += c.Bytes
		b.L3Write += c.Bytes
	case constraints.CmdFeed:
		b.L2Read += c.Bytes
		b.L1Write += c.Bytes
	case constraints.CmdMatMul:
		m, n, k := c.Block.Rows, c.Block.Cols, c.KLen
		b.L1Read += (m*k + k*n) * e
		cb := m * n * ea
		b.L2Write += cb
		if c.Accumulate {
			b.L2Read += cb
		}
	}
}

// energyOf is the energy of a GEMM's MACs and its bytes per level
// (docs/mapping.md section 6).
func energyOf(cfg *kpu.Config, p constraints.Problem, b constraints.LevelBytes) float64 {
	en := float64(p.MACs()) * cfg.MACEnergy(string(p.DType))
	en += float64(b.DRAM()) * cfg.Energy.DRAM
	en += float64(b.L3Read+b.L3Write) * cfg.Energy.L3
	en += float64(b.L2Read+b.L2Write) * cfg.Energy.L2
	en += float64(b.L1Write) * cfg.Energy.L1Write
	en += float64(b.L1Read) * cfg.Energy.L1Read
	return en
}
