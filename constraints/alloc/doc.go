// Package alloc owns the static memory allocation problem: a set of buffers,
// each with a half-open lifetime [Lower, Upper), a size in bytes and an
// optional alignment, to be given byte offsets inside one memory of a given
// capacity so that no two buffers that are live at the same time overlap in
// address. It defines the problem, its legality check (Check), its simplest
// lower bound (PeakLoad), and the CSV format of the public MiniMalloc benchmark
// suite (ReadCSV, WriteCSV). Finding offsets is the job of search/placer.
package alloc
