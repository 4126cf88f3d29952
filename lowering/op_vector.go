package lowering

import (
	"context"
	"fmt"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// LowerVectorOp appends the commands of a non-GEMM operator of g (elementwise,
// softmax, layernorm, pooling, transpose, reshape): the stream of
// constraints.PlanOp with the operands' DRAM addresses filled in.
func (bl *Builder) LowerVectorOp(ctx context.Context, g *model.Graph, op *model.Operator) error {
	plan, err := constraints.PlanOp(ctx, g, op, bl.cfg)
	if err != nil {
		return err
	}
	return bl.LowerPlan(g, plan)
}

// LowerPlan appends a planned operator stream. Its operands are placed in
// DRAM (graph inputs marked as such); an alias plan (RESHAPE) places its
// output on the input's bytes and emits nothing. Every DMA load of an
// operand depends on the operand's last writers, every engine's first
// command on the fence of the operators before (see beginOp), and every DMA
// store is recorded as a write of its operand.
func (bl *Builder) LowerPlan(g *model.Graph, plan *constraints.OpPlan) error {
	inputs := map[string]bool{}
	for _, n := range g.Inputs() {
		inputs[n] = true
	}
	place := make([]kpu.TensorPlacement, len(plan.Operands))
	for i, name := range plan.Operands {
		t := g.Tensors[name]
		if t == nil {
			return fmt.Errorf("operator %s: tensor %q is not declared", plan.Op, name)
		}
		if plan.Alias && i == plan.Output() {
			if err := bl.alias(name, plan.Operands[0], t); err != nil {
				return fmt.Errorf("operator %s: %w", plan.Op, err)
			}
			continue
		}
		pl, err := bl.PlaceTensor(name, t.Shape, t.DType, inputs[name])
		if err != nil {
			return fmt.Errorf("operator %s: %w", plan.Op, err)
		}
		place[i] = pl
	}
	if plan.Alias {
		return nil
	}
	return bl.emitPlanCmds(plan, place)
}

// emitPlanCmds appends the commands of plan with its operands at place: each
// command depends on the last writers of the operands (and L3 homes) it
// reads, each engine's first command on the fence of the operators before
// (see beginOp), and each command writing an operand or a home is recorded
// as that tensor's writer. Plans without homes (SrcHome = DstHome = 0) get
// only the operand dependencies.
func (bl *Builder) emitPlanCmds(plan *constraints.OpPlan, place []kpu.TensorPlacement) error {
	readDeps := make([][]int, len(plan.Operands))
	for i, name := range plan.Operands {
		readDeps[i] = bl.ReadDeps(name)
	}
	fence := bl.beginOp()
	fenced := map[kpu.Engine]bool{}
	base := bl.NextID()
	resolve := func(a *kpu.Access, t int) *kpu.Access {
		if a == nil || t < 0 {
			return a
		}
		c := *a
		c.Unit = place[t].Channel
		c.Addr += place[t].Addr
		return &c
	}
	for i := range plan.Cmds {
		oc := &plan.Cmds[i]
		c := oc.Command
		c.Src, c.Src2, c.Dst = resolve(c.Src, oc.SrcT), resolve(c.Src2, oc.Src2T), resolve(c.Dst, oc.DstT)
		deps := make([]int, 0, len(c.Deps)+2)
		for _, d := range c.Deps {
			deps = append(deps, base+d)
		}
		for _, t := range []int{oc.SrcT, oc.Src2T, oc.SrcHome - 1} {
			if t >= 0 {
				deps = append(deps, readDeps[t]...)
			}
		}
		if !fenced[c.Engine] {
			fenced[c.Engine] = true
			deps = append(deps, fence...)
		}
		c.Deps = nil
		if len(deps) > 0 {
			c.Deps = uniqueSorted(deps)
		}
		id := bl.Emit(c)
		if id != base+i {
			return fmt.Errorf("operator %s: command %d got id %d, want %d", plan.Op, i, id, base+i)
		}
		if oc.DstT >= 0 {
			bl.Wrote(plan.Operands[oc.DstT], id)
		}
		if oc.DstHome > 0 {
			bl.Wrote(plan.Operands[oc.DstHome-1], id)
		}
	}
	return nil
}

// alias places tensor name on the DRAM bytes of tensor of (a RESHAPE: same
// elements, same order) and hands it of's writers.
func (bl *Builder) alias(name, of string, t *model.Tensor) error {
	src, ok := bl.prog.Tensors[of]
	if !ok {
		return fmt.Errorf("alias %q: tensor %q is not placed", name, of)
	}
	if _, dup := bl.prog.Tensors[name]; dup {
		return fmt.Errorf("alias %q: already placed", name)
	}
	if src.DType != t.DType || prodOf(src.Shape) != t.Elements() {
		return fmt.Errorf("alias %q (%s %v) cannot view %q (%s %v)", name, t.DType, t.Shape, of, src.DType, src.Shape)
	}
	bl.prog.Tensors[name] = kpu.TensorPlacement{Channel: src.Channel, Addr: src.Addr, DType: t.DType, Shape: kpu.PlacementShape(t.Shape)}
	for e, id := range bl.writers[of] {
		w := bl.writers[name]
		if w == nil {
			w = map[kpu.Engine]int{}
			bl.writers[name] = w
		}
		w[e] = id
	}
	return nil
}

func prodOf(s []int64) int64 {
	n := int64(1)
	for _, d := range s {
		n *= d
	}
	return n
}

func uniqueSorted(s []int) []int {
	sortInts(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
