package constraints

import (
	"sort"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// Space is the candidate domain of every decision of a mapping
// (docs/mapping.md section 2). Tile candidates along a dim d with alignment s
// (the array rows for m, columns for n, the larger side for k): for every
// tile count c, the smallest multiple of s that covers d in c tiles (larger
// multiples with the same count only add capacity, never save work); d
// itself; the divisors of d; the powers of two below d.
type Space struct {
	Problem Problem
	Config  *kpu.Config
	Tiles   [3][]int64 // candidate tile sizes per dim (m, n, k), ascending; used at L3 and L2
	Splits  []model.Split
	// KSplits are the splits that also cut K across compute tiles (a
	// reduction through L3). They are proposed only where they can pay
	// (kSplitPays: idle tiles and a compute-bound problem). Every one of them uses all the tiles its M x N part
	// leaves over: M x N x K = the tile count, with at most maxKParts K
	// parts. A K split's L2 tile is the
	// largest candidate within its M x N part (a K split is for outputs too
	// small to share out; tiling them further at L2 only adds reductions),
	// and its buffer choice is the first that fits in the search's order
	// (the most double buffering).
	KSplits []model.Split
	Orders  []string
	Buffers []int // 1, 2
}

// TileCandidates lists the tile sizes of a dim of extent d with alignment s.
func TileCandidates(d, s int64) []int64 {
	set := map[int64]bool{d: true}
	if s < 1 {
		s = 1
	}
	units := ceilDiv(d, s)
	for c := int64(1); c <= units; c++ {
		t := s * ceilDiv(units, c)
		if t >= d {
			t = d
		}
		set[t] = true
	}
	for i := int64(1); i*i <= d; i++ {
		if d%i == 0 {
			set[i], set[d/i] = true, true
		}
	}
	for p := int64(1); p < d; p *= 2 {
		set[p] = true
	}
	out := make([]int64, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// kSplitPays reports whether K splits are proposed for p on cfg: when the
// output has fewer array-sized blocks than the machine has compute tiles
// (M x N splits leave tiles idle) and the problem stays compute bound with
// every block on its own tile: one block's fabric time (K cycles of array
// passes) exceeds the DRAM time of the compulsory traffic. Otherwise the
// idle tiles would only wait for DRAM too.
func kSplitPays(p Problem, cfg *kpu.Config) bool {
	blocks := ceilDiv(p.M, int64(max(cfg.ArrayRows, 1))) * ceilDiv(p.N, int64(max(cfg.ArrayCols, 1)))
	if blocks >= int64(cfg.ComputeTiles) || cfg.DRAMBytesPerCycle() <= 0 {
		return false
	}
	bytes := float64(p.Batch) * float64((p.M*p.K+p.K*p.N)*p.ElemBytes()+p.M*p.N*p.OutBytes())
	return float64(p.Batch*p.K) > bytes/cfg.DRAMBytesPerCycle()
}

// maxKParts caps the K parts of a K split: the parts of a block add up one
// after the other (a chain of reduce_in, add and move_out per part), so many
// parts rarely pay, and every part count multiplies the shapes to judge.
const maxKParts = 4

// NewSpace builds the candidate domains of problem p on cfg.
func NewSpace(p Problem, cfg *kpu.Config) *Space {
	sp := &Space{Problem: p, Config: cfg, Orders: model.Orders, Buffers: []int{1, 2}}
	side := int64(max(cfg.ArrayRows, cfg.ArrayCols))
	sp.Tiles[0] = TileCandidates(p.M, int64(cfg.ArrayRows))
	sp.Tiles[1] = TileCandidates(p.N, int64(cfg.ArrayCols))
	sp.Tiles[2] = TileCandidates(p.K, side)
	var divs []int
	for i := 1; i <= cfg.ComputeTiles; i++ {
		if cfg.ComputeTiles%i == 0 {
			divs = append(divs, i)
		}
	}
	for _, a := range divs {
		for _, b := range divs {
			if a*b <= cfg.ComputeTiles && int64(a) <= p.M && int64(b) <= p.N {
				sp.Splits = append(sp.Splits, model.Split{M: a, N: b, K: 1})
			}
		}
	}
	if kSplitPays(p, cfg) {
		for _, a := range divs {
			for _, b := range divs {
				c := cfg.ComputeTiles / (a * b)
				if a*b > cfg.ComputeTiles || cfg.ComputeTiles%(a*b) != 0 || c < 2 || c > maxKParts || int64(c) > p.K {
					continue
				}
				if int64(a) > ceilDiv(p.M, int64(cfg.ArrayRows)) || int64(b) > ceilDiv(p.N, int64(cfg.ArrayCols)) {
					continue // a part thinner than the array: K is the better cut
				}
				sp.KSplits = append(sp.KSplits, model.Split{M: a, N: b, K: c})
			}
		}
	}
	return sp
}

// Size is the number of points of the space (legal or not).
func (sp *Space) Size() float64 {
	n := float64(len(sp.Splits)+len(sp.KSplits)) * 36 * 64
	for d := 0; d < 3; d++ {
		n *= float64(len(sp.Tiles[d]) * len(sp.Tiles[d]))
	}
	return n
}
