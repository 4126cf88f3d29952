package constraints

import (
	"context"
	"fmt"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// OpCmd is one command of a non-GEMM operator's stream (docs/graph-schedules.md):
// a kpu.Command whose ids and deps are local to the operator (0..n-1) and
// whose on-chip accesses carry real units and addresses. Its DRAM accesses
// are relative: SrcT, Src2T, DstT name the operand (index into
// OpPlan.Operands) whose DRAM base the access's Addr is an offset from, or
// -1 for an on-chip access. The lowering adds the tensor's channel and base.
type OpCmd struct {
	kpu.Command
	SrcT, Src2T, DstT int
	// SrcHome (DstHome) is 1 + the operand whose L3 home Src reads (Dst
	// writes), in a plan with resident operands (PlanOpResident); 0 for
	// none. Such an access is absolute (L3 tile and offset).
	SrcHome, DstHome int
}

// OpPlan is how one non-GEMM operator (elementwise, softmax, layernorm,
// pooling, transpose, reshape) runs on the KPU: the stream of DMA,
// BlockMover and vector commands over tiles of its tensors. Alias marks an
// operator that moves no data (RESHAPE: the output aliases the input's DRAM
// buffer). InPlace marks an operator whose output is its first input
// (a bias added to a GEMM's result).
type OpPlan struct {
	Op       string
	Type     model.OpType
	Operands []string // tensor names: inputs, then the output (last)
	Cmds     []OpCmd
	Alias    bool
	Tiles    int   // jobs the tensors were cut into
	JobElems int64 // the job size chosen: a budget of output elements per job
	L3Bytes  int64 // L3 bytes used per compute tile (all slots)
	L2Bytes  int64 // L2 bytes used per compute tile (all slots)
	Single   bool  // one slot per buffer (two did not fit): no overlap between jobs on a tile
}

// Output is the operand index of the output tensor.
func (p *OpPlan) Output() int { return len(p.Operands) - 1 }

// OpCost is the exact outcome of an operator's stream under the simulator's
// timing rule and byte accounting (the same rules kpu.Simulate applies).
type OpCost struct {
	Cycles    int64
	Commands  int
	Bytes     LevelBytes
	VectorOps int64 // elements processed by vector commands (x passes)
	EnergyPJ  float64
	Busy      []EngineBusy
}

// Cost replays the plan: every engine runs its commands in order, a command
// starts at max(engine free, end of its deps) and lasts the duration the
// simulator gives it; bytes are counted per level as the simulator does
// (each read footprint once, each write footprint once).
func (p *OpPlan) Cost(cfg *kpu.Config) (OpCost, error) {
	var c OpCost
	c.Commands = len(p.Cmds)
	end := make([]int64, len(p.Cmds))
	free := map[kpu.Engine]int64{}
	busy := map[kpu.Engine]int64{}
	var order []kpu.Engine
	e := cfg.Energy
	for i := range p.Cmds {
		cmd := &p.Cmds[i].Command
		if cmd.ID != i {
			return c, fmt.Errorf("operator %s: command %d has id %d", p.Op, i, cmd.ID)
		}
		start := free[cmd.Engine]
		for _, d := range cmd.Deps {
			if d < 0 || d >= i {
				return c, fmt.Errorf("operator %s: command %d depends on %d (not an earlier command)", p.Op, i, d)
			}
			start = max(start, end[d])
		}
		dur, err := cmdCycles(cfg, cmd)
		if err != nil {
			return c, fmt.Errorf("operator %s: command %d: %w", p.Op, i, err)
		}
		end[i] = start + dur
		if _, ok := busy[cmd.Engine]; !ok {
			order = append(order, cmd.Engine)
		}
		free[cmd.Engine] = end[i]
		busy[cmd.Engine] += dur
		c.Cycles = max(c.Cycles, end[i])
		for _, a := range []*kpu.Access{cmd.Src, cmd.Src2} {
			if a != nil {
				c.Bytes.addRead(a.Level, accessBytes(a, cmd.DType))
			}
		}
		c.Bytes.addWrite(cmd.Dst.Level, accessBytes(cmd.Dst, cmd.DType))
		if cmd.Op == kpu.OpVector {
			n, _ := kpu.VectorPasses(cmd.VectorOp)
			c.VectorOps += int64(n) * accessElems(cmd.Src)
		}
	}
	b := c.Bytes
	c.EnergyPJ = float64(b.DRAMRead+b.DRAMWrite)*e.DRAM + float64(b.L3Read+b.L3Write)*e.L3 +
		float64(b.L2Read+b.L2Write)*e.L2 + float64(b.L1Read)*e.L1Read + float64(b.L1Write)*e.L1Write
	for _, eg := range order {
		c.Busy = append(c.Busy, EngineBusy{Engine: eg, Cycles: busy[eg]})
	}
	return c, nil
}

// cmdCycles is the simulator's duration of a transfer or vector command.
func cmdCycles(cfg *kpu.Config, cmd *kpu.Command) (int64, error) {
	switch cmd.Op {
	case kpu.OpVector:
		n, ok := kpu.VectorPasses(cmd.VectorOp)
		if !ok {
			return 0, fmt.Errorf("unknown vector op %q", cmd.VectorOp)
		}
		return cfg.VectorCycles(int64(n) * accessElems(cmd.Src)), nil
	case kpu.OpLoad, kpu.OpStore, kpu.OpMove, kpu.OpTranspose:
		dt := cmd.Src.DType
		if dt == "" {
			dt = cmd.DType
		}
		return cfg.TransferCycles(cmd.Engine.Kind, accessBytes(cmd.Src, cmd.DType), dt.Size()), nil
	}
	return 0, fmt.Errorf("op %q is not part of a vector-operator stream", cmd.Op)
}

func accessElems(a *kpu.Access) int64 {
	n := int64(1)
	for _, d := range a.Shape {
		n *= d
	}
	return n
}

func accessBytes(a *kpu.Access, def model.DType) int64 {
	dt := a.DType
	if dt == "" {
		dt = def
	}
	return accessElems(a) * dt.Size()
}

func (b *LevelBytes) addRead(l kpu.Level, n int64) {
	switch l {
	case kpu.DRAM:
		b.DRAMRead += n
	case kpu.L3:
		b.L3Read += n
	case kpu.L2:
		b.L2Read += n
	case kpu.L1:
		b.L1Read += n
	}
}

func (b *LevelBytes) addWrite(l kpu.Level, n int64) {
	switch l {
	case kpu.DRAM:
		b.DRAMWrite += n
	case kpu.L3:
		b.L3Write += n
	case kpu.L2:
		b.L2Write += n
	case kpu.L1:
		b.L1Write += n
	}
}

// OpCostOf plans a non-GEMM operator of g on cfg and replays its stream.
func OpCostOf(ctx context.Context, g *model.Graph, op *model.Operator, cfg *kpu.Config) (OpCost, *OpPlan, error) {
	p, err := PlanOp(ctx, g, op, cfg)
	if err != nil {
		return OpCost{}, nil, err
	}
	c, err := p.Cost(cfg)
	return c, p, err
}
