// Package lowering turns scheduling decisions into a kpu.Program: it places
// every graph tensor in DRAM, lowers each GEMM-like operator's mapping
// (model.Mapping) to DMA, BlockMover, Streamer and fabric commands with
// real addresses (the command stream of constraints.Walk, docs/mapping.md),
// and tracks the dependencies between operators through the tensors they
// share. Builder is the shared state (command ids, DRAM allocation, the last
// writers of each tensor) that other lowerings (vector operators, whole
// graphs) append to. A whole-graph schedule's L3-resident tensors live at
// their planned L3 homes and never touch DRAM (docs/graph-schedules.md,
// section 6). docs/verification.md describes the layouts.
package lowering
