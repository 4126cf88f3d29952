package search

import (
	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
)

// dimTable holds, for one dim (m or n) split into s parts, the fabric and
// step counts of compute tile 0 (the first part of every L3 tile), which
// factor the fabric busy time of tile 0:
//
//	fabric = Batch * (Fm*Fn*K + (R+C)*Cm*Cn*Ck)
//
// where F sums ceil(piece/side) over the L2 pieces of part 0 of every L3 tile
// and C counts those pieces.
type dimTable struct {
	d, s, side int64
}

// part0 lists (extent of part 0, count) over the L3 tiles of size t3.
func (dt dimTable) part0(t3 int64) [2][2]int64 {
	ps := ceilDiv(t3, dt.s)
	full := dt.d / t3
	out := [2][2]int64{{min(ps, t3), full}, {0, 0}}
	if r := dt.d % t3; r > 0 {
		out[1] = [2]int64{min(ps, r), 1}
	}
	return out
}

// fc returns F and C for L3 tile t3 and L2 tile t2.
func (dt dimTable) fc(t3, t2 int64) (f, c int64) {
	for _, pc := range dt.part0(t3) {
		ext, n := pc[0], pc[1]
		if n == 0 || ext == 0 {
			continue
		}
		full, rem := ext/t2, ext%t2
		f += n * full * ceilDiv(t2, dt.side)
		c += n * full
		if rem > 0 {
			f += n * ceilDiv(rem, dt.side)
			c += n
		}
	}
	return f, c
}

// kSteps counts the L2 k pieces over all L3 k tiles.
func kSteps(k, k3, k2 int64) int64 {
	full := k / k3
	c := full * ceilDiv(k3, k2)
	if r := k % k3; r > 0 {
		c += ceilDiv(r, k2)
	}
	return c
}

// fabricLB is the fabric busy time of tile 0 plus the epilogue after its last
// matmul: a lower bound of the latency of any mapping with these factors.
func fabricLB(p constraints.Problem, cfg *kpu.Config, fm, fn, cm, cn, ck int64) int64 {
	r, c := int64(cfg.ArrayRows), int64(cfg.ArrayCols)
	epi := cfg.TransferLatency(kpu.BlockMover) + cfg.TransferLatency(kpu.DMA) + 2
	return p.Batch*(fm*fn*p.K+(r+c)*cm*cn*ck) + epi
}

// fabricEpi is the epilogue fabricLB adds after the last matmul.
func fabricEpi(cfg *kpu.Config) int64 {
	return cfg.TransferLatency(kpu.BlockMover) + cfg.TransferLatency(kpu.DMA) + 2
}

// dramLB is the least DRAM traffic of an L3 tiling over the six L3 orders.
func dramLB(p constraints.Problem, m3, n3, k3 int64) int64 {
	t := [3]int64{ceilDiv(p.M, m3), ceilDiv(p.N, n3), ceilDiv(p.K, k3)}
	e, ea := p.ElemBytes(), p.AccBytes()
	best := int64(-1)
	for _, o := range orderDims {
		ma := reuse(o, t, 0, 2) / (t[0] * t[2])
		mb := reuse(o, t, 2, 1) / (t[2] * t[1])
		mc := reuse(o, t, 0, 1) / (t[0] * t[1])
		// C: mc stores and mc-1 reloads, the last store in the output type
		b := p.Batch * (p.M*p.K*e*ma + p.K*p.N*e*mb + p.M*p.N*(ea*(2*mc-2)+p.OutBytes()))
		if best < 0 || b < best {
			best = b
		}
	}
	return best
}

var orderDims = [6][3]int{{0, 1, 2}, {1, 0, 2}, {0, 2, 1}, {2, 0, 1}, {1, 2, 0}, {2, 1, 0}}

func reuse(order [3]int, trips [3]int64, a, b int) int64 {
	deep := -1
	for l := 0; l < 3; l++ {
		if d := order[l]; (d == a || d == b) && trips[d] > 1 {
			deep = l
		}
	}
	n := int64(1)
	for l := 0; l <= deep; l++ {
		n *= trips[order[l]]
	}
	return n
}

// kPart0 returns, for a K split into parts of kp of L3 k tiles of k3, the
// K extent compute tile 0 reduces over the whole program (its part of every
// L3 k tile) and its number of L2 k pieces of k2.
func kPart0(k, k3, kp, k2 int64) (kt0, steps int64) {
	full := k / k3
	kt0 = full * min(kp, k3)
	steps = full * ceilDiv(min(kp, k3), k2)
	if r := k % k3; r > 0 {
		kt0 += min(kp, r)
		steps += ceilDiv(min(kp, r), k2)
	}
	return kt0, steps
}

// fabricLBK is fabricLB for a K split: tile 0 reduces over kt0 of K in
// steps matmuls per output block.
func fabricLBK(p constraints.Problem, cfg *kpu.Config, fm, fn, cm, cn, kt0, steps int64) int64 {
	r, c := int64(cfg.ArrayRows), int64(cfg.ArrayCols)
	return p.Batch*(fm*fn*kt0+(r+c)*cm*cn*steps) + fabricEpi(cfg)
}
