package kpu

// OpFill writes zeros into its destination (a DMA command into L3: the
// padding of an implicit-GEMM block is produced on chip, never read from
// DRAM). It reads nothing; its duration is that of a DMA transfer of the
// destination's bytes.
const OpFill Op = "fill"
