package constraints

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// LevelBytes counts bytes read and written at each memory level.
type LevelBytes struct {
	DRAMRead, DRAMWrite int64
	L3Read, L3Write     int64
	L2Read, L2Write     int64
	L1Read, L1Write     int64
}

// DRAM is the DRAM traffic (reads + writes).
func (b LevelBytes) DRAM() int64 { return b.DRAMRead + b.DRAMWrite }

// EngineBusy is the busy time of one engine.
type EngineBusy struct {
	Engine kpu.Engine
	Cycles int64
}

// Trace is the exact outcome of a mapping's command stream under the
// simulator's timing rule.
type Trace struct {
	Cycles   int64
	Commands int
	Bytes    LevelBytes
	MACs     int64
	Busy     []EngineBusy // engines with work, in engine-table order
}

// account adds a command's bytes to b (docs/mapping.md section 6).
func (b *LevelBytes) account(c *Cmd, e, ea int64) {
	switch c.Kind {
	case CmdLoad:
		b.DRAMRead += c.Bytes
		b.L3Write += c.Bytes
	case CmdStore:
		b.L3Read += c.Bytes
		b.DRAMWrite += c.Bytes
	case CmdMoveIn:
		b.L3Read += c.Bytes
		b.L2Write += c.Bytes
	case CmdMoveOut:
		b.L2Read += c.Bytes
		b.L3Write += c.Bytes
	case CmdFeed:
		b.L2Read += c.Bytes
		b.L1Write += c.Bytes
	case CmdMatMul:
		m, n, k := c.Block.Rows, c.Block.Cols, c.KLen
		b.L1Read += (m*k + k*n) * e
		cb := m * n * ea
		b.L2Write += cb
		if c.Accumulate {
			b.L2Read += cb
		}
	case CmdConvert:
		b.L2Read += c.Block.Rows * c.Block.Cols * ea
		b.L2Write += c.Bytes
	case CmdReduceIn:
		b.L3Read += c.Bytes
		b.L2Write += c.Bytes
	case CmdAdd: // reads C2 and the scratch, writes C2
		b.L2Read += 2 * c.Bytes
		b.L2Write += c.Bytes
	}
}

// Replay runs the command stream of mapping m through the simulator's timing
// rule: every engine runs its commands in program order and a command starts
// at max(its engine free, the end of each dependency).
func Replay(ctx context.Context, p Problem, m model.Mapping, cfg *kpu.Config) (*Trace, error) {
	return ReplayWithin(ctx, p, m, cfg, 0)
}

// endPool recycles the end-time tables of replays (a big mapping has
// millions of commands; the search replays many).
var endPool = sync.Pool{New: func() any { s := make([]int64, 0, 1024); return &s }}

// ErrExceeds is returned by ReplayWithin when the mapping's latency is
// proven to reach the limit before the replay ends.
var ErrExceeds = errors.New("latency reaches the limit")

// replayFull is ReplayWithin without compression (replay_compress.go): the
// reference the compressed replay is tested against.
func replayFull(ctx context.Context, p Problem, m model.Mapping, cfg *kpu.Config, limit int64) (*Trace, error) {
	// dmaLeft is the DMA work not yet run and dmaFree the sum of the DMA
	// engines' free times: the last DMA command ends no sooner than their
	// average, (dmaFree + dmaLeft) / engines.
	var fabricLeft, epi, stallLeft, fabricFree, dmaLeft, dmaFree int64
	var cc *chainCut
	if limit > 0 {
		g, est, err := quickGeom(p, m, cfg)
		if err != nil {
			return nil, err
		}
		cc = newChainCut(g, &est)
		if est.LowerCycles >= limit {
			return nil, ErrExceeds
		}
		fabricLeft = est.FabricBusy
		epi = max(cfg.TransferLatency(kpu.BlockMover)+cfg.TransferLatency(kpu.DMA)+2, est.FinalMove+est.Tail)
		// the boundary stalls still ahead are at least the claimed ones
		// minus the idle time tile 0's fabric has already had (stall.go)
		stallLeft = est.Stall
		dmaLeft = est.DMABusy
	}
	nd := int64(cfg.DMAEngines)
	nEng := cfg.DMAEngines + cfg.BlockMovers + cfg.Streamers + 2*cfg.ComputeTiles // fabrics, then vector engines
	free := make([]int64, nEng)
	busy := make([]int64, nEng)
	endp := endPool.Get().(*[]int64)
	end := (*endp)[:0]
	defer func() { *endp = end[:0]; endPool.Put(endp) }()
	tr := &Trace{}
	e, ea := p.ElemBytes(), p.AccBytes()
	err := Walk(ctx, p, m, cfg, func(c *Cmd) error {
		start := free[c.flat]
		for _, d := range c.Deps {
			if d >= c.ID {
				return fmt.Errorf("command %d depends on later command %d", c.ID, d)
			}
			if end[d] > start {
				start = end[d]
			}
		}
		fin := start + c.Cycles
		if limit > 0 && c.Engine.Kind == kpu.DMA {
			dmaFree += fin - free[c.flat]
			dmaLeft -= c.Cycles
			if ceilDiv(dmaFree+dmaLeft, nd) >= limit {
				return ErrExceeds
			}
		}
		if limit > 0 && cc.reaches(c, fin, limit) {
			return ErrExceeds
		}
		free[c.flat] = fin
		busy[c.flat] += c.Cycles
		end = append(end, fin)
		if fin > tr.Cycles {
			tr.Cycles = fin
		}
		tr.Bytes.account(c, e, ea)
		if c.Kind == CmdMatMul {
			tr.Bytes.L1Read += fabricRereads(cfg, c.Block.Rows, c.Block.Cols, c.KLen, e)
		}
		if c.Kind == CmdMatMul {
			tr.MACs += c.Block.Rows * c.Block.Cols * c.KLen
			if limit > 0 && c.Tile == 0 {
				fabricLeft -= c.Cycles
				stallLeft -= start - fabricFree
				fabricFree = fin
				if fin+fabricLeft+max(stallLeft, 0)+epi >= limit {
					return ErrExceeds
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	tr.Commands = len(end)
	kinds := []kpu.EngineKind{kpu.DMA, kpu.BlockMover, kpu.Streamer, kpu.Fabric, kpu.Vector}
	i := 0
	for _, k := range kinds {
		for j := 0; j < cfg.EngineCount(k); j++ {
			if busy[i] > 0 {
				tr.Busy = append(tr.Busy, EngineBusy{Engine: kpu.Engine{Kind: k, Index: j}, Cycles: busy[i]})
			}
			i++
		}
	}
	return tr, nil
}
