// Package graph owns the joint optimization of a whole graph on a KPU: one
// mapping per GEMM-like operator (from a per-operator candidate set), which
// intermediate tensors stay resident in L3 between producer and last
// consumer, and which elementwise operators fuse into the drain path of the
// GEMM that produces their input, under the L3 capacity at every step of the
// execution order.
//
// Options are priced from the exact cost of each operator as the lowering
// emits it with every tensor in DRAM (constraints.OperatorCost,
// EvaluateGEMMOp with a fused chain), adjusted for residency by replaying the
// mapping's command stream without the DMA commands a resident operand makes
// unnecessary (GEMM steps), or priced by the lowering's own resident vector
// plan (constraints.PlanOpResident, vector steps). A tensor larger than one
// L3 tile may be resident only in a striped home over whole L3 tiles, when
// Options.Check lets the lowering say whether it can cut it (a rejected
// tensor is kept in DRAM and the graph solved again). A solve stopped by
// its context returns the best complete schedule it can build at once
// (anytime.go). Once the memory planner has fixed the homes, the
// chosen schedule is repriced step by step with the exact functions the
// lowering follows (constraints.GEMMStepResident, PlanOpResident), and
// replaced by the joint schedule with every tensor in DRAM when that is no
// worse or the lowering could not build it; so the reported figures are the
// simulator's. The execution order is fixed (topological, each fusable chain
// right behind its GEMM), so the problem is a shortest path over the step
// boundaries whose state is the residency of the tensors crossing them:
// Solve finds it exactly by dynamic programming ("dp"), or through the
// pseudo-boolean encoding over package solver ("sat"), reports the graph
// lower bound (bound.go: per group of steps, the largest of DMA, pass-by-
// pass fabric, BlockMover and vector bounds, summed) and the gap, and lays
// out the resident tensors with the memory
// planner. Mode "layerwise" is the baseline: every operator alone, every
// tensor through DRAM, no fusion.
//
// docs/graph-optimization.md states the cost model and the encodings.
package graph
