package kpu

// VectorPasses is the number of sweeps over its source elements the timing
// charges a vector op (VectorCycles(passes x elements)); ok is false for an
// op the vector engine does not know. Cost models use it to predict vector
// command durations exactly as the simulator computes them.
func VectorPasses(op string) (passes int, ok bool) {
	info, ok := vectorOps[op]
	return info.passes, ok
}
