package kpu

// PlacementShape is the shape a graph tensor is placed with in DRAM:
// accesses have at most 3 dims, so a scalar is [1] and the leading dims of a
// tensor of rank > 3 fold into one (the same dense row-major bytes).
func PlacementShape(shape []int64) []int64 {
	switch {
	case len(shape) == 0:
		return []int64{1}
	case len(shape) <= 3:
		return append([]int64(nil), shape...)
	}
	lead := int64(1)
	for _, d := range shape[:len(shape)-2] {
		lead *= d
	}
	return []int64{lead, shape[len(shape)-2], shape[len(shape)-1]}
}
