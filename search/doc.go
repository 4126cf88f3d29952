// Package search owns the choice of a mapping for one GEMM-like operator:
// the engines that search the constraints package's mapping space (an exact
// exhaustive enumeration, the pruned exact "optimal" branch and bound, the
// kpusim and greedy heuristics), the continuous relaxation that bounds it,
// time limits and anytime results, and the registry through which other
// engines (the SAT-based search in sat*.go) plug in. docs/search.md describes
// the engines and their measured speed. suite.go defines the benchmark suite
// that `kpuopt bench` and BenchmarkSuite run (docs/bench.md).
package search
