package solver

// Solution is a copy of one satisfying assignment, valid for every literal
// and integer created before it was taken.
type Solution struct {
	vals []bool
}

// Value returns the truth value of l. Literals created after the snapshot
// read as false.
func (s *Solution) Value(l Lit) bool {
	v := int(l.Var())
	if v >= len(s.vals) {
		return false
	}
	return s.vals[v] == l.IsPos()
}
