package kpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stillwater-sc/kpuopt/model"
)

// builder appends commands with consecutive ids.
type builder struct {
	p *Program
}

func (b *builder) add(c Command) int {
	c.ID = len(b.p.Commands)
	b.p.Commands = append(b.p.Commands, c)
	return c.ID
}

func at(level Level, unit int, addr int64, shape []int64, strides []int64) *Access {
	return &Access{Level: level, Unit: unit, Addr: addr, Shape: shape, Strides: strides}
}

// deps drops the "none" marker -1.
func deps(ids ...int) []int {
	var out []int
	for _, d := range ids {
		if d >= 0 {
			out = append(out, d)
		}
	}
	return out
}

// tiledSpec describes a tiled matmul C = A x B (row-major M x K, K x N) on
// every compute tile of a config, output-stationary: each C tile accumulates
// in an L2 bank over its K steps; operand tiles go DRAM -> L3 -> L2 -> L1.
type tiledSpec struct {
	name, preset string
	M, N, K      int64
	TM, TN, TK   int64
	dtype        model.DType
	double       bool
	// bad breaks the program: "missing_dep", "overlap_slots", "wrong_addr",
	// "uninit_read" or "" for a correct program.
	bad string
}

func buildTiledMatmul(tb testing.TB, cfg *Config, s tiledSpec) *Program {
	tb.Helper()
	es := s.dtype.Size()
	acc := s.dtype.Accumulator()
	p := &Program{Name: s.name, Config: ConfigRef{Name: cfg.Name}, Tensors: map[string]TensorPlacement{}}
	aT := TensorPlacement{Addr: 0, DType: s.dtype, Shape: []int64{s.M, s.K}, Input: true}
	bT := TensorPlacement{Addr: s.M * s.K * es, DType: s.dtype, Shape: []int64{s.K, s.N}, Input: true}
	cT := TensorPlacement{Addr: bT.Addr + s.K*s.N*es, DType: acc, Shape: []int64{s.M, s.N}}
	p.Tensors["A"], p.Tensors["B"], p.Tensors["C"] = aT, bT, cT
	b := &builder{p: p}

	nb := int64(1)
	if s.double {
		nb = 2
	}
	aBytes, bBytes, cBytes := s.TM*s.TK*es, s.TK*s.TN*es, s.TM*s.TN*acc.Size()
	l3Region := nb * (aBytes + bBytes + cBytes)
	T := cfg.ComputeTiles
	bpt, l1pt := cfg.L2BanksPerTile(), cfg.L1BuffersPerTile()
	spt := max(cfg.Streamers/T, 1)
	mt, nt, kt := s.M/s.TM, s.N/s.TN, s.K/s.TK
	var cTiles [][2]int64
	for i := int64(0); i < mt; i++ {
		for j := int64(0); j < nt; j++ {
			cTiles = append(cTiles, [2]int64{i, j})
		}
	}
	type tileState struct {
		step, cstep                       int64
		l3A, l3B, l2A, l2B, l1A, l1B, l3C []int // last reader per slot
		l2C                               []int
		lastMM                            int
	}
	states := make([]*tileState, T)
	for t := range states {
		mk := func() []int {
			r := make([]int, nb)
			for i := range r {
				r[i] = -1
			}
			return r
		}
		states[t] = &tileState{l3A: mk(), l3B: mk(), l2A: mk(), l2B: mk(), l1A: mk(), l1B: mk(), l3C: mk(), l2C: mk()}
	}
	totalSteps := 0
	rounds := (int64(len(cTiles)) + int64(T) - 1) / int64(T)
	for r := int64(0); r < rounds; r++ {
		for kk := int64(0); kk < kt; kk++ {
			for t := 0; t < T; t++ {
				ct := r*int64(T) + int64(t)
				if ct >= int64(len(cTiles)) {
					continue
				}
				st := states[t]
				i, j := cTiles[ct][0], cTiles[ct][1]
				slot := st.step % nb
				cslot := st.cstep % nb
				st.step++
				totalSteps++
				l3u := t % cfg.L3Tiles
				l3base := int64(t/cfg.L3Tiles) * l3Region
				dma := Engine{DMA, t % cfg.DMAEngines}
				bm := Engine{BlockMover, t % cfg.BlockMovers}
				sa, sb := Engine{Streamer, t*spt + 0}, Engine{Streamer, t*spt + min(1, spt-1)}
				fab := Engine{Fabric, t}
				bankA, bankB, bankC := t*bpt, t*bpt+1, t*bpt+2
				bufA, bufB := t*l1pt, t*l1pt+1
				l3A := l3base + slot*aBytes
				l3B := l3base + nb*aBytes + slot*bBytes
				l3C := l3base + nb*(aBytes+bBytes) + cslot*cBytes
				l2A, l2B := slot*aBytes, slot*bBytes
				l1A, l1B := slot*aBytes, slot*bBytes
				if s.bad == "overlap_slots" {
					l2A = 0
				}
				aTile := []int64{s.TM, s.TK}
				bTile := []int64{s.TK, s.TN}
				cTile := []int64{s.TM, s.TN}
				label := func(x string, a, b int64) string { return fmt.Sprintf("%s[%d,%d]", x, a, b) }

				ldA := b.add(Command{Engine: dma, Op: OpLoad, DType: s.dtype, Label: label("A", i, kk),
					Deps: deps(st.l3A[slot]),
					Src:  at(DRAM, 0, aT.Addr+(i*s.TM*s.K+kk*s.TK)*es, aTile, []int64{s.K * es, es}),
					Dst:  at(L3, l3u, l3A, aTile, nil)})
				ldB := b.add(Command{Engine: dma, Op: OpLoad, DType: s.dtype, Label: label("B", kk, j),
					Deps: deps(st.l3B[slot]),
					Src:  at(DRAM, 0, bT.Addr+(kk*s.TK*s.N+j*s.TN)*es, bTile, []int64{s.N * es, es}),
					Dst:  at(L3, l3u, l3B, bTile, nil)})
				if s.bad == "wrong_addr" && totalSteps == 2 {
					p.Commands[ldB].Dst.Addr = cfg.L3TileBytes + 4096
				}
				mvA := b.add(Command{Engine: bm, Op: OpMove, DType: s.dtype, Label: label("A", i, kk),
					Deps: deps(ldA, st.l2A[slot]), Src: at(L3, l3u, l3A, aTile, nil), Dst: at(L2, bankA, l2A, aTile, nil)})
				mvB := b.add(Command{Engine: bm, Op: OpMove, DType: s.dtype, Label: label("B", kk, j),
					Deps: deps(ldB, st.l2B[slot]), Src: at(L3, l3u, l3B, bTile, nil), Dst: at(L2, bankB, l2B, bTile, nil)})
				st.l3A[slot], st.l3B[slot] = mvA, mvB
				srcA := l2A
				if s.bad == "uninit_read" && totalSteps == 3 {
					srcA = nb * aBytes
				}
				fdA := b.add(Command{Engine: sa, Op: OpFeedRows, DType: s.dtype, Label: label("A", i, kk),
					Deps: deps(mvA, st.l1A[slot]), Src: at(L2, bankA, srcA, aTile, nil), Dst: at(L1, bufA, l1A, aTile, nil)})
				fdB := b.add(Command{Engine: sb, Op: OpFeedCols, DType: s.dtype, Label: label("B", kk, j),
					Deps: deps(mvB, st.l1B[slot]), Src: at(L2, bankB, l2B, bTile, nil), Dst: at(L1, bufB, l1B, bTile, nil)})
				st.l2A[slot], st.l2B[slot] = fdA, fdB
				mmDeps := deps(fdA, fdB)
				if s.bad == "missing_dep" && totalSteps == 3 {
					mmDeps = deps(fdA)
				}
				if kk == 0 {
					mmDeps = append(mmDeps, deps(st.l2C[cslot])...)
				}
				mm := b.add(Command{Engine: fab, Op: OpMatMul, DType: s.dtype, AccDType: acc, Label: label("C", i, j),
					Deps: mmDeps, Accumulate: kk > 0,
					Src: at(L1, bufA, l1A, aTile, nil), Src2: at(L1, bufB, l1B, bTile, nil), Dst: at(L2, bankC, cslot*cBytes, cTile, nil)})
				st.l1A[slot], st.l1B[slot] = mm, mm
				if kk == kt-1 {
					mvC := b.add(Command{Engine: bm, Op: OpMove, DType: acc, Label: label("C", i, j),
						Deps: deps(mm, st.l3C[cslot]), Src: at(L2, bankC, cslot*cBytes, cTile, nil), Dst: at(L3, l3u, l3C, cTile, nil)})
					st.l2C[cslot] = mvC
					stC := b.add(Command{Engine: dma, Op: OpStore, DType: acc, Label: label("C", i, j),
						Deps: deps(mvC), Src: at(L3, l3u, l3C, cTile, nil),
						Dst: at(DRAM, 0, cT.Addr+(i*s.TM*s.N+j*s.TN)*acc.Size(), cTile, []int64{s.N * acc.Size(), acc.Size()})})
					st.l3C[cslot] = stC
					st.cstep++
				}
			}
		}
	}
	return p
}

// randomTensor returns seeded random values in [-1, 1) (integers in [-8, 8)
// for integer types) and their encoding.
func randomTensor(rng *rand.Rand, d model.DType, n int64) ([]float64, []byte) {
	vals := make([]float64, n)
	for i := range vals {
		if d.IsInteger() {
			vals[i] = float64(rng.IntN(16) - 8)
		} else {
			vals[i] = rng.Float64()*2 - 1
		}
	}
	data := EncodeElements(d, vals)
	return DecodeElements(d, data), data // values as stored
}

// naiveMatMul is the reference C = A x B in float64.
func naiveMatMul(a, b []float64, m, n, k int64) []float64 {
	c := make([]float64, m*n)
	for i := int64(0); i < m; i++ {
		for j := int64(0); j < n; j++ {
			var s float64
			for p := int64(0); p < k; p++ {
				s += a[i*k+p] * b[p*n+j]
			}
			c[i*n+j] = s
		}
	}
	return c
}

// closeTo compares got with want elementwise within a relative tolerance.
func closeTo(got, want []float64, tol float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("length %d, want %d", len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(got[i] - want[i]); d > tol*(1+math.Abs(want[i])) {
			return fmt.Errorf("element %d = %g, want %g", i, got[i], want[i])
		}
	}
	return nil
}

func f32bytes(vals []float32) []byte {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}
