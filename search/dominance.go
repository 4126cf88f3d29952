package search

import (
	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/model"
)

// Dominance rules of the exact search (docs/search.md, "Dominance"). Each
// one drops points of the space whose value some kept point matches or
// beats, so the optimum is unchanged.

// trivialDims reports, per dim (m, n, k), whether its loop has a single trip
// everywhere: at L3 (the L3 tile covers the dim) and at L2 (the L2 tile covers
// the largest part of an L3 tile; edge parts are smaller).
func trivialDims(p constraints.Problem, s constraints.Shape) (l3, l2 [3]bool) {
	l3 = [3]bool{s.L3.M >= p.M, s.L3.N >= p.N, s.L3.K >= p.K}
	mp, np := ceilDiv(s.L3.M, int64(s.Split.M)), ceilDiv(s.L3.N, int64(s.Split.N))
	l2 = [3]bool{s.L2.M >= mp, s.L2.N >= np, s.L2.K >= s.L3.K}
	return l3, l2
}

// canonicalOrder maps order index o (into model.Orders) to the first order
// that visits the dims with more than one trip in the same relative order.
// A loop of one trip emits nothing of its own and changes no block, so the
// two orders produce the same command stream.
func canonicalOrder(o int, trivial [3]bool) int {
	key := func(i int) string {
		var k []byte
		for _, ch := range []byte(model.Orders[i]) {
			if !trivial[dimOf(ch)] {
				k = append(k, ch)
			}
		}
		return string(k)
	}
	want := key(o)
	for i := range model.Orders {
		if key(i) == want {
			return i
		}
	}
	return o
}

func dimOf(ch byte) int {
	switch ch {
	case 'm':
		return 0
	case 'n':
		return 1
	}
	return 2
}

// oneL2Visit reports, per operand (A, B, C), whether its L2 block is the
// same for every L2 step of an L3 step on every compute tile (the dims that
// index it have one L2 trip). Then no L2 prefetch of it is ever emitted, and
// double buffering it changes only which earlier command its move (or first
// matmul) waits for: the occupant two visits back instead of one, which ran
// earlier on the same engine. With everything else equal, no command starts
// later (the replay is monotone in the end times it takes a maximum of), so
// double buffering it is never worse when it fits.
func oneL2Visit(l2 [3]bool) [3]bool {
	return [3]bool{l2[0] && l2[2], l2[2] && l2[1], l2[0] && l2[1]}
}

// withL2Double returns the buffer choice bc with L2 double buffering for
// every operand x where one[x] holds.
func withL2Double(bc [2]model.Buffers, one [3]bool) [2]model.Buffers {
	if one[0] {
		bc[1].A = 2
	}
	if one[1] {
		bc[1].B = 2
	}
	if one[2] {
		bc[1].C = 2
	}
	return bc
}
