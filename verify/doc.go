// Package verify proves a lowered program on the simulator: it runs every
// check of kpu.Simulate, executes the program on seeded random inputs and
// compares its DRAM outputs with the reference evaluation of the program's
// embedded graph (model.Evaluate), and compares the simulated cycles, DRAM
// bytes and energy with the cost model's prediction. docs/verification.md
// states the tolerances.
package verify
