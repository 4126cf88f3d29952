package constraints

import (
	"errors"
	"fmt"
	"strings"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// Operand names one of the three matrices of a GEMM.
type Operand int

// The operands.
const (
	OpA Operand = iota // A [M x K], indexed by m and k
	OpB                // B [K x N], indexed by k and n
	OpC                // C [M x N], indexed by m and n
)

func (o Operand) String() string { return [...]string{"A", "B", "C"}[o] }

// Shortfall is one capacity that a mapping exceeds: Need bytes were required
// where Have bytes were available.
type Shortfall struct {
	Level string // "l1", "l2" or "l3"
	What  string // the buffer or unit that does not fit
	Need  int64
	Have  int64
}

// Short is how many bytes are missing.
func (s Shortfall) Short() int64 { return s.Need - s.Have }

func (s Shortfall) String() string {
	return fmt.Sprintf("%s: %s needs %d B, %d B available (short by %d B)", strings.ToUpper(s.Level), s.What, s.Need, s.Have, s.Short())
}

// InfeasibleError says that a mapping (or every mapping of a problem) does not
// fit the machine, and which capacity is short by how much.
type InfeasibleError struct {
	Problem   string
	Shortfall Shortfall
}

func (e *InfeasibleError) Error() string {
	if e.Problem != "" {
		return fmt.Sprintf("%s: infeasible: %s", e.Problem, e.Shortfall)
	}
	return "infeasible: " + e.Shortfall.String()
}

// IsInfeasible reports whether err is (or wraps) an *InfeasibleError.
func IsInfeasible(err error) bool {
	var ie *InfeasibleError
	return errors.As(err, &ie)
}

// geom holds the quantities every judgement of a mapping derives from.
type geom struct {
	p   Problem
	m   model.Mapping
	cfg *kpu.Config
	e   int64 // element bytes of A and B
	ea  int64 // accumulator bytes
	eo  int64 // bytes of an element of the final C (the output type)
	// narrow: the output type differs from the accumulator type (final C2
	// blocks are converted before their move out)
	narrow bool

	t3     [3]int64 // L3 trip counts per dim (m, n, k)
	tile3  [3]int64 // M3, N3, K3
	tile2  [3]int64 // M2, N2, K2
	ord3   [3]int   // L3 loop dims, outermost first
	ord2   [3]int
	sm, sn int64 // split
	mp, np int64 // part sizes
	sk, kp int64 // K split across compute tiles and the reduction part size (1, K3 without one)
	ga, gb int64 // groups per part along m and n (of a full L3 tile)
	b3, b2 [3]int64
	// persist: C2 blocks of single-block parts stay in L2 across the L3 k
	// steps of a C3 visit (set from the L3 order by persistC)
	persist bool
}

func parseOrder(s string) ([3]int, error) {
	var o [3]int
	if len(s) != 3 {
		return o, fmt.Errorf("order %q: want a permutation of \"mnk\"", s)
	}
	seen := [3]bool{}
	for i := 0; i < 3; i++ {
		d := strings.IndexByte("mnk", s[i])
		if d < 0 || seen[d] {
			return o, fmt.Errorf("order %q: want a permutation of \"mnk\"", s)
		}
		seen[d] = true
		o[i] = d
	}
	return o, nil
}

// newGeom checks the structure of a mapping (everything but capacity) and
// derives its geometry. Errors name the field and the limit.
func newGeom(p Problem, m model.Mapping, cfg *kpu.Config) (*geom, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	g := &geom{p: p, m: m, cfg: cfg, e: p.ElemBytes(), ea: p.AccBytes(), eo: p.OutBytes(), narrow: p.Narrow()}
	dims := [3]int64{p.M, p.N, p.K}
	g.tile3 = [3]int64{m.L3.M, m.L3.N, m.L3.K}
	g.tile2 = [3]int64{m.L2.M, m.L2.N, m.L2.K}
	names := [3]string{"m", "n", "k"}
	for d := 0; d < 3; d++ {
		if g.tile3[d] < 1 || g.tile3[d] > dims[d] {
			return nil, fmt.Errorf("mapping: l3.%s = %d, want 1..%d", names[d], g.tile3[d], dims[d])
		}
		g.t3[d] = ceilDiv(dims[d], g.tile3[d])
	}
	var err error
	if g.ord3, err = parseOrder(m.L3Order); err != nil {
		return nil, fmt.Errorf("mapping: l3_order: %w", err)
	}
	if g.ord2, err = parseOrder(m.L2Order); err != nil {
		return nil, fmt.Errorf("mapping: l2_order: %w", err)
	}
	if m.Split.M < 1 || m.Split.N < 1 {
		return nil, fmt.Errorf("mapping: split %dx%d: each factor must be >= 1", m.Split.M, m.Split.N)
	}
	if m.Split.K < 0 {
		return nil, fmt.Errorf("mapping: split.k = %d, want >= 1 (0 means 1)", m.Split.K)
	}
	g.sk = int64(max(m.Split.K, 1))
	if used := int64(m.Split.M) * int64(m.Split.N) * g.sk; used > int64(cfg.ComputeTiles) {
		return nil, fmt.Errorf("mapping: split %dx%dx%d uses %d compute tiles, machine %s has %d", m.Split.M, m.Split.N, g.sk, used, cfg.Name, cfg.ComputeTiles)
	}
	g.sm, g.sn = int64(m.Split.M), int64(m.Split.N)
	g.mp, g.np = ceilDiv(g.tile3[0], g.sm), ceilDiv(g.tile3[1], g.sn)
	if (g.sm-1)*g.mp >= g.tile3[0] {
		return nil, fmt.Errorf("mapping: split.m = %d leaves an empty part of the %d rows of an L3 tile (parts of %d)", m.Split.M, g.tile3[0], g.mp)
	}
	if (g.sn-1)*g.np >= g.tile3[1] {
		return nil, fmt.Errorf("mapping: split.n = %d leaves an empty part of the %d columns of an L3 tile (parts of %d)", m.Split.N, g.tile3[1], g.np)
	}
	g.kp = ceilDiv(g.tile3[2], g.sk)
	if (g.sk-1)*g.kp >= g.tile3[2] {
		return nil, fmt.Errorf("mapping: split.k = %d leaves an empty part of the %d-long reduction of an L3 tile (parts of %d)", g.sk, g.tile3[2], g.kp)
	}
	lim := [3]int64{g.mp, g.np, g.kp}
	limName := [3]string{"the part rows ceil(l3.m/split.m)", "the part columns ceil(l3.n/split.n)", "the part reduction ceil(l3.k/split.k)"}
	for d := 0; d < 3; d++ {
		if g.tile2[d] < 1 || g.tile2[d] > lim[d] {
			return nil, fmt.Errorf("mapping: l2.%s = %d, want 1..%d (%s)", names[d], g.tile2[d], lim[d], limName[d])
		}
	}
	g.ga, g.gb = ceilDiv(g.mp, g.tile2[0]), ceilDiv(g.np, g.tile2[1])
	bufs := func(level string, b model.Buffers) ([3]int64, error) {
		v := [3]int64{int64(b.A), int64(b.B), int64(b.C)}
		for i, x := range v {
			if x < 1 || x > 2 {
				return v, fmt.Errorf("mapping: %s_buffers.%s = %d, want 1 (single) or 2 (double)", level, strings.ToLower(Operand(i).String()), x)
			}
		}
		return v, nil
	}
	if g.b3, err = bufs("l3", m.L3Buffers); err != nil {
		return nil, err
	}
	if g.b2, err = bufs("l2", m.L2Buffers); err != nil {
		return nil, err
	}
	return g, nil
}

// Check reports whether mapping m is legal for problem p on cfg: a plain
// error for a malformed mapping, an *InfeasibleError when a capacity is short.
func Check(p Problem, m model.Mapping, cfg *kpu.Config) error {
	g, err := newGeom(p, m, cfg)
	if err != nil {
		return err
	}
	return g.fits()
}
