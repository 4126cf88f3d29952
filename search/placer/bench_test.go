package placer

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints/alloc"
)

// hardLimit is the time limit per instance in the hard benchmarks.
var hardLimit = flag.Duration("hard-limit", 30*time.Second, "time limit per instance in BenchmarkHard")

// hardSeeds overrides the seed range of BenchmarkHard, as "lo-hi".
var hardSeeds = flag.String("hard-seeds", "1-50", "seed range lo-hi of BenchmarkHard")

// generator makes a perfectly packed problem (100% load at every time) from a
// seed; both constructions are used for the hard-instance benchmarks.
type generator struct {
	name string
	gen  func(seed uint64, n, grid int, unit int64) (*alloc.Problem, []int64, error)
}

var generators = []generator{{"cut", GeneratePerfect}, {"sweep", GenerateSweep}}

// benchHard solves generated perfect packings (sizes and times on a 1024
// grid, 100% load at every time) at exactly their capacity. Each instance
// gets -hard-limit (30 s); the target is 5 s. An instance not solved in time, or solved in
// more than 5 s, is reported as an error and the others still run.
func benchHard(b *testing.B, seeds []uint64) {
	var t tally
	for _, g := range generators {
		for _, n := range []int{150, 300, 450} {
			group := fmt.Sprintf("%s/n=%d", g.name, n)
			for _, seed := range seeds {
				p, _, err := g.gen(seed, n, 1024, 64)
				if err != nil {
					b.Fatal(err)
				}
				b.Run(fmt.Sprintf("%s/seed=%d", group, seed), func(b *testing.B) {
					t.add(group, seed, solveHard(b, p))
				})
			}
		}
	}
	t.report(b)
}

// outcome is how one instance went: solved or not, in how long.
type outcome struct {
	solved  bool
	elapsed time.Duration
}

// tally collects the outcomes of a hard benchmark by group (generator and
// n) for a summary at its end. The testing package may call a
// sub-benchmark more than once (growing b.N), so the last outcome per seed
// counts.
type tally struct {
	groups []string
	by     map[string]map[uint64]outcome
}

func (t *tally) add(group string, seed uint64, o outcome) {
	if t.by == nil {
		t.by = map[string]map[uint64]outcome{}
	}
	if _, ok := t.by[group]; !ok {
		t.groups = append(t.groups, group)
		t.by[group] = map[uint64]outcome{}
	}
	t.by[group][seed] = o
}

// report prints, per group: how many were solved within the time limit and
// within 5 s, the median and the slowest solve, and the seeds over 5 s. (On
// standard output: the testing package shows a parent benchmark's log only
// with -v.)
func (t *tally) report(b *testing.B) {
	for _, g := range t.groups {
		var times []time.Duration
		var slow []string
		within5 := 0
		for _, seed := range slices.Sorted(maps.Keys(t.by[g])) {
			o := t.by[g][seed]
			switch {
			case !o.solved:
				slow = append(slow, fmt.Sprintf("%d (not solved)", seed))
				continue
			case o.elapsed > 5*time.Second:
				slow = append(slow, fmt.Sprintf("%d (%.1f s)", seed, o.elapsed.Seconds()))
			default:
				within5++
			}
			times = append(times, o.elapsed)
		}
		line := fmt.Sprintf("%s: %d/%d solved within %v, %d within 5 s", g, len(times), len(t.by[g]), *hardLimit, within5)
		if len(times) > 0 {
			slices.Sort(times)
			line += fmt.Sprintf(", median %.3f s, slowest %.3f s", times[len(times)/2].Seconds(), times[len(times)-1].Seconds())
		}
		if len(slow) > 0 {
			line += "; over 5 s: " + strings.Join(slow, ", ")
		}
		fmt.Fprintf(os.Stdout, "%s summary: %s\n", b.Name(), line)
	}
}

// solveHard solves p at its capacity under -hard-limit and reports an error
// when it is not solved, or solved in more than 5 s.
func solveHard(b *testing.B, p *alloc.Problem) outcome {
	var nodes int64
	var bySweep float64
	var last outcome
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), *hardLimit)
		sol, err := Place(ctx, p, Options{Capacity: p.Capacity})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		switch {
		case sol.Status != Solved:
			b.Errorf("status %s after %v (%d nodes)", sol.Status, sol.Elapsed, sol.Nodes)
		case sol.Elapsed > 5*time.Second:
			b.Errorf("solved in %v (%d nodes): over the 5 s target", sol.Elapsed, sol.Nodes)
		}
		nodes = sol.Nodes
		if strings.HasPrefix(sol.Engine, "time-sweep") {
			bySweep = 1
		}
		last = outcome{sol.Status == Solved, sol.Elapsed}
	}
	b.ReportMetric(float64(nodes), "nodes")
	b.ReportMetric(bySweep, "by-sweep")
	return last
}

func seedRange(lo, hi uint64) []uint64 {
	var s []uint64
	for x := lo; x <= hi; x++ {
		s = append(s, x)
	}
	return s
}

// BenchmarkHard: seeds 1-50 (-hard-seeds) at n = 150, 300, 450, for both generators
// ("cut": GeneratePerfect, "sweep": GenerateSweep).
//
//	go test -run ^$ -bench Hard -benchtime 1x ./search/placer
//	go test -run ^$ -bench 'Hard/sweep/n=450' -benchtime 1x ./search/placer
func BenchmarkHard(b *testing.B) {
	var lo, hi uint64
	if _, err := fmt.Sscanf(*hardSeeds, "%d-%d", &lo, &hi); err != nil || lo > hi {
		b.Fatalf("-hard-seeds %q: want lo-hi", *hardSeeds)
	}
	benchHard(b, seedRange(lo, hi))
}

// BenchmarkHardShort proves the same instances infeasible one byte short.
func BenchmarkHardShort(b *testing.B) {
	for _, g := range generators {
		for _, n := range []int{150, 300, 450} {
			for _, seed := range seedRange(1, 50) {
				p, _, err := g.gen(seed, n, 1024, 64)
				if err != nil {
					b.Fatal(err)
				}
				b.Run(fmt.Sprintf("%s/n=%d/seed=%d", g.name, n, seed), func(b *testing.B) {
					for i := 0; i < b.N; i++ {
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						sol, err := Place(ctx, p, Options{Capacity: p.Capacity - 1})
						cancel()
						if err != nil || sol.Status != Infeasible {
							b.Fatalf("status %s, err %v", sol.Status, err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkHardPeak: the n = 150 and 450 instances of both generators,
// seeds 1-10, with 5% and 20% of the buffers away from one time dropped
// (DropAwayFromPeak): 100% load at that time only. Same limits and targets
// as BenchmarkHard.
//
//	go test -run ^$ -bench HardPeak -benchtime 1x -hard-limit 10s ./search/placer
func BenchmarkHardPeak(b *testing.B) {
	var t tally
	for _, frac := range []float64{0.05, 0.2} {
		for _, g := range generators {
			for _, n := range []int{150, 450} {
				group := fmt.Sprintf("drop=%g/%s/n=%d", frac, g.name, n)
				for _, seed := range seedRange(1, 10) {
					full, _, err := g.gen(seed, n, 1024, 64)
					if err != nil {
						b.Fatal(err)
					}
					p, _ := DropAwayFromPeak(full, seed, frac)
					b.Run(fmt.Sprintf("%s/seed=%d", group, seed), func(b *testing.B) {
						t.add(group, seed, solveHard(b, p))
					})
				}
			}
		}
	}
	t.report(b)
}
