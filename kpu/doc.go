// Package kpu owns the machine: the KPU configuration (presets, kpuopt and
// kpu-sim config files, validation), the timing and energy primitives every
// other package derives its figures from, the command ISA (Program) and the
// simulator that executes programs functionally and in time.
package kpu
