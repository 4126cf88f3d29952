package solver

import (
	"math/rand/v2"
	"testing"
)

func benchInstance(nvals int) tilingInstance {
	dom := make([]int64, nvals)
	for i := range dom {
		dom[i] = int64(16 * (i + 1))
	}
	return tilingInstance{
		doms: [][]int64{dom, dom, dom},
		capa: 3 * 64 * 64 * 4,
		dims: [3]int64{1000, 700, 900},
	}
}

func BenchmarkMinimize(b *testing.B) {
	for _, bc := range []struct {
		name  string
		nvals int
		strat Strategy
	}{
		{"6vals/bisect", 6, Bisect},
		{"6vals/descend", 6, Descend},
		{"8vals/descend", 8, Descend},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in := benchInstance(bc.nvals)
			want, _ := in.brute()
			for b.Loop() {
				m, _, obj := in.build(b)
				res, err := m.Minimize(b.Context(), obj, MinimizeOptions{Strategy: bc.strat})
				if err != nil || res.Value != want {
					b.Fatalf("got %d %v, want %d", res.Value, err, want)
				}
			}
		})
	}
}

func BenchmarkBuild(b *testing.B) {
	in := benchInstance(16)
	for b.Loop() {
		in.build(b)
	}
}

func BenchmarkSumLe(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 9))
	m := NewModel()
	ls := m.NewBools(64)
	l := randomLinear(r, m, ls, 256, 1<<20)
	s := mustSum(b, m, l)
	i := int64(0)
	for b.Loop() {
		s.Le(s.Min() + i)
		i++
	}
}
