package solver

// AtLeastOne adds the clause (ls[0] or ls[1] or ...).
func (m *Model) AtLeastOne(ls ...Lit) { m.AddClause(ls...) }

// AtMostOne adds clauses allowing at most one of ls to be true: pairwise for
// up to six literals, a sequential (ladder) encoding with auxiliary
// variables beyond.
func (m *Model) AtMostOne(ls ...Lit) {
	if len(ls) <= 6 {
		for i := range ls {
			for j := i + 1; j < len(ls); j++ {
				m.AddClause(ls[i].Not(), ls[j].Not())
			}
		}
		return
	}
	// s[i] <=> some of ls[0..i] is true
	prev := ls[0]
	for i := 1; i < len(ls); i++ {
		s := m.c.Lit()
		m.AddImplication(prev, s)
		m.AddImplication(ls[i], s)
		m.AddClause(prev.Not(), ls[i].Not())
		prev = s
	}
}

// ExactlyOne adds clauses forcing exactly one of ls to be true.
func (m *Model) ExactlyOne(ls ...Lit) {
	m.AtLeastOne(ls...)
	m.AtMostOne(ls...)
}

// AtMost adds "at most k of ls are true" through a sorting network.
func (m *Model) AtMost(k int, ls ...Lit) {
	if k >= len(ls) {
		return
	}
	m.Assert(m.c.CardSort(ls).Leq(k))
}

// AtLeast adds "at least k of ls are true" through a sorting network.
func (m *Model) AtLeast(k int, ls ...Lit) {
	if k <= 0 {
		return
	}
	m.Assert(m.c.CardSort(ls).Geq(k))
}
