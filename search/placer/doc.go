// Package placer finds offsets for the buffers of an alloc.Problem: it proves
// that they fit in a capacity (and returns the offsets) or that they cannot,
// or it finds the smallest capacity (peak) that fits. The exact engine is a
// branch and bound over canonical placements (see bnb.go for the argument
// that it is complete); between its restarts a second search, the time
// sweep (sweep.go), places buffers in the order of their start times, and
// where the memory is full at every time a third one looks for guillotine
// cuts (guillotine.go); whichever finds a placement first answers. Before
// the search, chains of buffers that must share an offset are joined
// (chains.go), an exact reduction. A greedy best-fit/first-fit
// pass gives the first incumbent. Every search honours its context: on a
// time limit it returns the best placement found so far and the proven lower
// bound. GeneratePerfect and GenerateSweep make perfectly packed test
// instances by two different constructions.
package placer
