package search

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/optimize"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
)

// Relaxation is the continuous relaxation of the L3 tiling in log space:
// tile sizes (M3, N3, K3) as reals, trip counts D/T instead of ceil(D/T),
// single buffers, no fragmentation. Its optimum bounds the DRAM traffic of
// every mapping from below (up to the 0.1% slack it keeps for the
// optimizer's tolerance; each of the three reuse patterns the six L3
// orders produce is a posynomial, convex in log space, so the minimum found
// is the global one), and that traffic over the aggregate DMA bandwidth
// bounds the latency.
type Relaxation struct {
	DRAMBytes float64
	Cycles    float64
	Tile      [3]float64 // the continuous optimum (M3, N3, K3)
	Pattern   string     // "output-stationary", "weight-stationary" or "input-stationary"
}

// Relax solves the relaxation with gonum's LBFGS.
func Relax(ctx context.Context, p constraints.Problem, cfg *kpu.Config) (Relaxation, error) {
	M, N, K := float64(p.M), float64(p.N), float64(p.K)
	e, ea := float64(p.ElemBytes()), float64(p.AccBytes())
	eo := float64(p.OutBytes()) // the final store of C (partial sums in ea)
	batch := float64(p.Batch)
	capacity := float64(cfg.L3Bytes())
	dims := [3]float64{M, N, K}
	// traffic of the three reuse patterns at tiles t
	patterns := []struct {
		name string
		f    func(t [3]float64) float64
	}{
		{"output-stationary", func(t [3]float64) float64 { return e*M*K*N/t[1] + e*K*N*M/t[0] + eo*M*N }},
		{"weight-stationary", func(t [3]float64) float64 { return e*K*N + e*M*K*N/t[1] + ea*M*N*(2*K/t[2]-2) + eo*M*N }},
		{"input-stationary", func(t [3]float64) float64 { return e*M*K + e*K*N*M/t[0] + ea*M*N*(2*K/t[2]-2) + eo*M*N }},
	}
	best := Relaxation{DRAMBytes: math.Inf(1)}
	for _, pat := range patterns {
		if err := ctx.Err(); err != nil {
			return best, err
		}
		tiles := func(u []float64) [3]float64 {
			return [3]float64{math.Exp(u[0]), math.Exp(u[1]), math.Exp(u[2])}
		}
		// penalty: zero on the feasible set, so the penalized minimum is
		// at most the constrained one
		scale := pat.f(dims)
		obj := func(u []float64) float64 {
			t := tiles(u)
			v := pat.f(t)
			use := (t[0]*t[2]*e + t[2]*t[1]*e + t[0]*t[1]*ea) / capacity
			pen := 0.0
			if use > 1 {
				pen += (use - 1) * (use - 1)
			}
			for d := 0; d < 3; d++ {
				if u[d] < 0 {
					pen += u[d] * u[d]
				}
				if hi := math.Log(dims[d]); u[d] > hi {
					pen += (u[d] - hi) * (u[d] - hi)
				}
			}
			return v + 1e6*scale*pen
		}
		grad := func(g, u []float64) {
			const h = 1e-6
			x := append([]float64(nil), u...)
			for i := range u {
				x[i] = u[i] + h
				fp := obj(x)
				x[i] = u[i] - h
				fm := obj(x)
				x[i] = u[i]
				g[i] = (fp - fm) / (2 * h)
			}
		}
		start := []float64{0, 0, 0}
		res, err := optimize.Minimize(optimize.Problem{Func: obj, Grad: grad}, start, &optimize.Settings{MajorIterations: 500}, &optimize.LBFGS{})
		if err != nil && res == nil {
			return best, fmt.Errorf("relaxation (%s): %w", pat.name, err)
		}
		t := tiles(res.X)
		// report the pattern's value at the (possibly slightly infeasible)
		// optimum: the penalty only lowers it further towards the bound
		if v := math.Min(pat.f(t), res.F); v < best.DRAMBytes {
			best = Relaxation{DRAMBytes: v, Tile: t, Pattern: pat.name}
		}
	}
	best.DRAMBytes = math.Max(best.DRAMBytes*batch*(1-1e-3), float64(p.CompulsoryBytes()))
	dmaBW := float64(cfg.DMAEngines) * cfg.EngineBandwidth(kpu.DMA, p.ElemBytes())
	if dmaBW > 0 {
		best.Cycles = best.DRAMBytes / dmaBW
	}
	return best, nil
}

// withRelaxation strengthens a problem bound with the relaxation.
func withRelaxation(b constraints.Bound, r Relaxation) constraints.Bound {
	if d := int64(math.Floor(r.DRAMBytes)); d > b.DRAMBytes {
		b.DRAMBytes = d
	}
	if c := int64(math.Floor(r.Cycles)); c > b.LatencyCycles {
		b.LatencyCycles, b.LatencyBy = c, "relaxation"
	}
	return b
}
