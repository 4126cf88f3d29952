package solver

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// tilingInstance is a small random stand-in for a tiling problem: three
// integers, a monotone capacity, and an objective from a table of the
// three values (a "traffic"-like term that falls as tiles grow plus a
// per-tile overhead).
type tilingInstance struct {
	doms [][]int64
	capa int64
	dims [3]int64
}

func (in tilingInstance) bad(v []int64) bool { return v[0]*v[2]+v[2]*v[1]+v[0]*v[1] > in.capa }

func (in tilingInstance) cost(v []int64) int64 {
	ceil := func(a, b int64) int64 { return (a + b - 1) / b }
	tm, tn, tk := ceil(in.dims[0], v[0]), ceil(in.dims[1], v[1]), ceil(in.dims[2], v[2])
	return tm*tn*tk*(v[0]*v[2]+v[2]*v[1]) + tm*tn*v[0]*v[1] + 50*tm*tn*tk
}

func (in tilingInstance) brute() (best int64, feasible bool) {
	best = math.MaxInt64
	product(in.doms, func(v []int64) {
		if !in.bad(v) {
			feasible = true
			best = min(best, in.cost(v))
		}
	})
	return best, feasible
}

func (in tilingInstance) build(t testing.TB) (*Model, []*Int, *Sum) {
	m := NewModel()
	var xs []*Int
	for i, d := range in.doms {
		x, err := m.NewInt(string(rune('a'+i)), d)
		if err != nil {
			t.Fatal(err)
		}
		xs = append(xs, x)
	}
	if _, err := m.ForbidMonotone(xs, in.bad); err != nil {
		t.Fatal(err)
	}
	l, err := m.Table(xs, in.cost)
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.NewSum(l)
	if err != nil {
		t.Fatal(err)
	}
	return m, xs, s
}

func randomInstance(r *rand.Rand, nvals int) tilingInstance {
	dom := func() []int64 {
		d := make([]int64, nvals)
		for i := range d {
			d[i] = 1 + r.Int64N(96)
		}
		return sortedUnique(d)
	}
	return tilingInstance{
		doms: [][]int64{dom(), dom(), dom()},
		capa: 500 + r.Int64N(6000),
		dims: [3]int64{1 + r.Int64N(300), 1 + r.Int64N(300), 1 + r.Int64N(300)},
	}
}

func TestMinimizeBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	strategies := []struct {
		name string
		opt  func(best int64) MinimizeOptions
	}{
		{"bisect", func(int64) MinimizeOptions { return MinimizeOptions{Strategy: Bisect} }},
		{"descend", func(int64) MinimizeOptions { return MinimizeOptions{} }},
		{"bisect from exact bound", func(b int64) MinimizeOptions {
			return MinimizeOptions{Strategy: Bisect, LowerBound: b, HasLowerBound: true}
		}},
		{"descend from loose bound", func(b int64) MinimizeOptions {
			return MinimizeOptions{LowerBound: b / 2, HasLowerBound: true}
		}},
	}
	for i := 0; i < 10; i++ {
		in := randomInstance(r, 5)
		want, feasible := in.brute()
		for _, s := range strategies {
			m, xs, obj := in.build(t)
			res, err := m.Minimize(t.Context(), obj, s.opt(want))
			if err != nil {
				t.Fatalf("instance %d %s: %v", i, s.name, err)
			}
			if !feasible {
				if res.Status != Unsat {
					t.Errorf("instance %d %s: status %v, want unsat", i, s.name, res.Status)
				}
				continue
			}
			if res.Status != Optimal || res.Value != want || res.Bound != want {
				t.Errorf("instance %d %s: got %v value %d bound %d, want optimal %d", i, s.name, res.Status, res.Value, res.Bound, want)
				continue
			}
			vals := []int64{res.Solution.Int(xs[0]), res.Solution.Int(xs[1]), res.Solution.Int(xs[2])}
			if in.bad(vals) || in.cost(vals) != want {
				t.Errorf("instance %d %s: solution %v infeasible or cost %d != %d", i, s.name, vals, in.cost(vals), want)
			}
		}
	}
}

func TestMinimizeAssumptions(t *testing.T) {
	in := tilingInstance{doms: [][]int64{{8, 16, 32}, {8, 16, 32}, {8, 16, 32}}, capa: 2000, dims: [3]int64{100, 100, 100}}
	m, xs, obj := in.build(t)
	// Pin the first integer to its smallest value for this call only.
	res, err := m.Minimize(t.Context(), obj, MinimizeOptions{Assumptions: []Lit{xs[0].Eq(8)}})
	if err != nil {
		t.Fatal(err)
	}
	want := int64(math.MaxInt64)
	product([][]int64{{8}, in.doms[1], in.doms[2]}, func(v []int64) {
		if !in.bad(v) {
			want = min(want, in.cost(v))
		}
	})
	if res.Status != Optimal || res.Value != want || res.Solution.Int(xs[0]) != 8 {
		t.Fatalf("pinned: got %v %d (x0=%d), want optimal %d", res.Status, res.Value, res.Solution.Int(xs[0]), want)
	}
	// The pin must not persist.
	res, err = m.Minimize(t.Context(), obj, MinimizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if all, _ := in.brute(); res.Value != all {
		t.Errorf("unpinned: got %d, want %d", res.Value, all)
	}
}

func TestMinimizeBadLowerBound(t *testing.T) {
	in := tilingInstance{doms: [][]int64{{8, 16}, {8, 16}, {8, 16}}, capa: 2000, dims: [3]int64{64, 64, 64}}
	want, _ := in.brute()
	m, _, obj := in.build(t)
	_, err := m.Minimize(t.Context(), obj, MinimizeOptions{LowerBound: want + 1000000, HasLowerBound: true})
	if err == nil {
		t.Fatal("lower bound above the optimum: want error")
	}
}

// pigeonhole adds "n+1 pigeons in n holes", hard for CDCL when n is ~10.
func pigeonhole(m *Model, n int) {
	p := make([][]Lit, n+1)
	for i := range p {
		p[i] = m.NewBools(n)
		m.AddClause(p[i]...)
	}
	for h := 0; h < n; h++ {
		for i := 0; i <= n; i++ {
			for j := i + 1; j <= n; j++ {
				m.AddClause(p[i][h].Not(), p[j][h].Not())
			}
		}
	}
}

func TestSolveContext(t *testing.T) {
	m := NewModel()
	pigeonhole(m, 11)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	st, err := m.Solve(ctx)
	if st != Unknown || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, %v; want unknown, deadline exceeded", st, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("solve stopped after %v, want well under 2s", d)
	}
	// A canceled context returns at once, and the model stays usable.
	st, err = m.Solve(ctx)
	if st != Unknown || err == nil {
		t.Errorf("solve with ended context: got %v, %v", st, err)
	}
	res, err := m.Minimize(ctx, mustSum(t, m, Linear{}), MinimizeOptions{})
	if err != nil || res.Status != Unknown {
		t.Errorf("minimize with ended context: got %v, %v", res.Status, err)
	}
}

func mustSum(t testing.TB, m *Model, l Linear) *Sum {
	s, err := m.NewSum(l)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWhyAndEmpty(t *testing.T) {
	m := NewModel()
	a, b, c := m.NewBool(), m.NewBool(), m.NewBool()
	m.AddImplication(a, b)
	st, err := m.Solve(t.Context(), a, b.Not(), c)
	if err != nil || st != Unsat {
		t.Fatalf("got %v %v, want unsat", st, err)
	}
	why := m.Why()
	for _, l := range why {
		if l == c {
			t.Errorf("Why includes the irrelevant assumption: %v", why)
		}
	}
	if len(why) == 0 {
		t.Errorf("Why is empty")
	}
	if _, err := m.Snapshot(); err == nil {
		t.Error("Snapshot after unsat: want error")
	}
	if st, _ := m.Solve(t.Context(), m.False()); st != Unsat {
		t.Errorf("assuming false: got %v", st)
	}
	if st, _ := m.Solve(t.Context(), m.True()); st != Sat {
		t.Errorf("assuming true: got %v", st)
	}
	m.AddClause(m.False())
	if st, _ := m.Solve(t.Context()); st != Unsat {
		t.Errorf("empty clause: got %v", st)
	}
}
