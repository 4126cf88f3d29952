package constraints

import (
	"context"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// block is the data of a region of an operand, row-major.
type block struct {
	Block
	v []float64
}

// TestWalkComputesTheProduct executes the command stream of random mappings
// in program order on real numbers (every buffer slot, group and L1 slot a
// separate store) and compares C with the naive product: the slot, group,
// reuse, reload and persistence bookkeeping of Walk moves the right data.
func TestWalkComputesTheProduct(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	kSplits := 0
	for _, c := range smallCases {
		cfg := preset(t, c.cfg)
		p := Problem{Name: "t", Batch: c.b, M: c.m, N: c.n, K: c.k, DType: c.dt}
		a := make([]float64, p.Batch*p.M*p.K)
		b := make([]float64, p.Batch*p.K*p.N)
		for i := range a {
			a[i] = float64(r.IntN(7) - 3)
		}
		for i := range b {
			b[i] = float64(r.IntN(7) - 3)
		}
		want := make([]float64, p.Batch*p.M*p.N)
		for bt := int64(0); bt < p.Batch; bt++ {
			for i := int64(0); i < p.M; i++ {
				for j := int64(0); j < p.N; j++ {
					var s float64
					for k := int64(0); k < p.K; k++ {
						s += a[(bt*p.M+i)*p.K+k] * b[(bt*p.K+k)*p.N+j]
					}
					want[(bt*p.M+i)*p.N+j] = s
				}
			}
		}
		sp := NewSpace(p, cfg)
		done := 0
		for i := 0; i < 400 && done < 25; i++ {
			m := randomMapping(r, sp)
			if i%2 == 1 {
				m = splitK(r, m, cfg)
			}
			if Check(p, m, cfg) != nil {
				continue
			}
			done++
			if m.Split.K > 1 {
				kSplits++
			}
			got := runStream(t, p, m, cfg, a, b)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%s %v %+v: C[%d] = %v, want %v", c.cfg, p, m, i, got[i], want[i])
				}
			}
		}
	}
	if kSplits < 10 {
		t.Errorf("only %d mappings split K", kSplits)
	}
	t.Logf("%d mappings split K across compute tiles", kSplits)
}

func runStream(t *testing.T, p Problem, m model.Mapping, cfg *kpu.Config, a, b []float64) []float64 {
	t.Helper()
	type key struct {
		x          Operand
		tile, slot int
		group      int64
	}
	l3 := map[key]block{}
	l2 := map[key]block{}
	l1 := map[key]block{}
	c := make([]float64, p.Batch*p.M*p.N)
	for i := range c {
		c[i] = -1e300 // never written
	}
	src := func(x Operand, bl Block) []float64 {
		v := make([]float64, bl.Rows*bl.Cols)
		for i := int64(0); i < bl.Rows; i++ {
			for j := int64(0); j < bl.Cols; j++ {
				r, col := bl.Row+i, bl.Col+j
				switch x {
				case OpA:
					v[i*bl.Cols+j] = a[(bl.Batch*p.M+r)*p.K+col]
				case OpB:
					v[i*bl.Cols+j] = b[(bl.Batch*p.K+r)*p.N+col]
				case OpC:
					v[i*bl.Cols+j] = c[(bl.Batch*p.M+r)*p.N+col]
				}
			}
		}
		return v
	}
	// sub extracts region bl from stored block s.
	sub := func(s block, bl Block, what string, id int) []float64 {
		if s.v == nil || s.Batch != bl.Batch || bl.Row < s.Row || bl.Col < s.Col || bl.Row+bl.Rows > s.Row+s.Rows || bl.Col+bl.Cols > s.Col+s.Cols {
			t.Fatalf("%+v: command %d reads %s %+v, which holds %+v", m, id, what, bl, s.Block)
		}
		v := make([]float64, bl.Rows*bl.Cols)
		for i := int64(0); i < bl.Rows; i++ {
			for j := int64(0); j < bl.Cols; j++ {
				v[i*bl.Cols+j] = s.v[(bl.Row-s.Row+i)*s.Cols+bl.Col-s.Col+j]
			}
		}
		return v
	}
	err := Walk(context.Background(), p, m, cfg, func(cmd *Cmd) error {
		switch cmd.Kind {
		case CmdLoad:
			l3[key{cmd.Operand, -1, cmd.L3Slot, cmd.Group}] = block{cmd.Block, src(cmd.Operand, cmd.Block)}
		case CmdMoveIn:
			s := l3[key{cmd.Operand, -1, cmd.L3Slot, cmd.Group}]
			l2[key{cmd.Operand, cmd.Tile, cmd.L2Slot, 0}] = block{cmd.Block, sub(s, cmd.Block, "an L3 group", cmd.ID)}
		case CmdFeed:
			s := l2[key{cmd.Operand, cmd.Tile, cmd.L2Slot, 0}]
			l1[key{cmd.Operand, cmd.Tile, cmd.L1Slot, 0}] = block{cmd.Block, sub(s, cmd.Block, "an L2 slot", cmd.ID)}
		case CmdMatMul:
			ab := Block{Batch: cmd.Block.Batch, Row: cmd.Block.Row, Col: cmd.K0, Rows: cmd.Block.Rows, Cols: cmd.KLen}
			bb := Block{Batch: cmd.Block.Batch, Row: cmd.K0, Col: cmd.Block.Col, Rows: cmd.KLen, Cols: cmd.Block.Cols}
			av := sub(l1[key{OpA, cmd.Tile, cmd.L1Slot, 0}], ab, "the A feed", cmd.ID)
			bv := sub(l1[key{OpB, cmd.Tile, cmd.L1Slot, 0}], bb, "the B feed", cmd.ID)
			ck := key{OpC, cmd.Tile, cmd.L2Slot, 0}
			var cv []float64
			if cmd.Accumulate {
				cv = sub(l2[ck], cmd.Block, "the C2 slot", cmd.ID)
			} else {
				cv = make([]float64, cmd.Block.Rows*cmd.Block.Cols)
			}
			for i := int64(0); i < cmd.Block.Rows; i++ {
				for j := int64(0); j < cmd.Block.Cols; j++ {
					for k := int64(0); k < cmd.KLen; k++ {
						cv[i*cmd.Block.Cols+j] += av[i*cmd.KLen+k] * bv[k*cmd.Block.Cols+j]
					}
				}
			}
			l2[ck] = block{cmd.Block, cv}
		case CmdReduceIn:
			s := l3[key{OpC, -1, cmd.L3Slot, cmd.Group}]
			l2[key{OpC, cmd.Tile, -1, 0}] = block{cmd.Block, sub(s, cmd.Block, "a C3 group", cmd.ID)}
		case CmdAdd:
			ck := key{OpC, cmd.Tile, cmd.L2Slot, 0}
			cv := sub(l2[ck], cmd.Block, "the C2 slot", cmd.ID)
			sv := sub(l2[key{OpC, cmd.Tile, -1, 0}], cmd.Block, "the reduction scratch", cmd.ID)
			for i := range cv {
				cv[i] += sv[i]
			}
			l2[ck] = block{cmd.Block, cv}
		case CmdMoveOut:
			s := l2[key{OpC, cmd.Tile, cmd.L2Slot, 0}]
			l3[key{OpC, -1, cmd.L3Slot, cmd.Group}] = block{cmd.Block, sub(s, cmd.Block, "the C2 slot", cmd.ID)}
		case CmdStore:
			s := l3[key{OpC, -1, cmd.L3Slot, cmd.Group}]
			v := sub(s, cmd.Block, "a C3 group", cmd.ID)
			bl := cmd.Block
			for i := int64(0); i < bl.Rows; i++ {
				for j := int64(0); j < bl.Cols; j++ {
					c[(bl.Batch*p.M+bl.Row+i)*p.N+bl.Col+j] = v[i*bl.Cols+j]
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestWalkNarrowStream: with an output type narrower than the accumulator,
// every element of C is converted exactly once, right before the final
// move_out of its C2 block (which depends on the convert), and stored once
// by a final store after a final move_out into its group; final moves and
// stores carry output-type bytes, partial sums accumulator-type bytes.
// Without a narrow output there is no convert.
func TestWalkNarrowStream(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	for _, c := range smallCases {
		cfg := preset(t, c.cfg)
		for _, out := range []model.DType{"", c.dt} {
			p := Problem{Name: "t", Batch: c.b, M: c.m, N: c.n, K: c.k, DType: c.dt, OutDType: out}
			ea, eo := p.AccBytes(), p.OutBytes()
			sp := NewSpace(p, cfg)
			done := 0
			for i := 0; i < 400 && done < 15; i++ {
				m := randomMapping(r, sp)
				if Check(p, m, cfg) != nil {
					continue
				}
				done++
				var converted, stored int64
				var prev Cmd
				lastOut := map[[2]int64]bool{} // (C3 slot, group) -> the last move_out into it was final
				err := Walk(context.Background(), p, m, cfg, func(cmd *Cmd) error {
					elems := cmd.Block.Rows * cmd.Block.Cols
					want := ea
					if cmd.Final {
						want = eo
					}
					switch cmd.Kind {
					case CmdConvert:
						if !p.Narrow() || !cmd.Final || cmd.Engine != (kpu.Engine{Kind: kpu.Vector, Index: cmd.Tile}) || cmd.Bytes != elems*eo {
							t.Fatalf("%v %+v: unexpected convert %+v", p, m, *cmd)
						}
						converted += elems
					case CmdMoveOut:
						if cmd.Bytes != elems*want {
							t.Fatalf("%v %+v: move_out %d (final %v) moves %d B, want %d", p, m, cmd.ID, cmd.Final, cmd.Bytes, elems*want)
						}
						conv := prev.Kind == CmdConvert && prev.ID == cmd.ID-1 && prev.Block == cmd.Block && prev.L2Slot == cmd.L2Slot && prev.Tile == cmd.Tile
						if conv != (cmd.Final && p.Narrow()) || (conv && !contains(cmd.Deps, prev.ID)) {
							t.Fatalf("%v %+v: move_out %+v after %+v", p, m, *cmd, prev)
						}
						lastOut[[2]int64{int64(cmd.L3Slot), cmd.Group}] = cmd.Final
					case CmdStore:
						if cmd.Bytes != elems*want {
							t.Fatalf("%v %+v: store %d (final %v) moves %d B, want %d", p, m, cmd.ID, cmd.Final, cmd.Bytes, elems*want)
						}
						if cmd.Final {
							if !lastOut[[2]int64{int64(cmd.L3Slot), cmd.Group}] {
								t.Fatalf("%v %+v: final store %d of a group whose last move_out was not final", p, m, cmd.ID)
							}
							stored += elems
						}
					}
					prev = *cmd
					prev.Deps = append([]int(nil), cmd.Deps...)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				wantConv := int64(0)
				if p.Narrow() {
					wantConv = p.Batch * p.M * p.N
				}
				if converted != wantConv || stored != p.Batch*p.M*p.N {
					t.Errorf("%v %+v: converted %d and stored %d elements finally, want %d and %d", p, m, converted, stored, wantConv, p.Batch*p.M*p.N)
				}
			}
		}
	}
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// splitK turns m into a mapping that splits K over up to 4 compute tiles
// (when the machine has tiles to spare), with the L2 k tile cut to fit a
// part.
func splitK(r *rand.Rand, m model.Mapping, cfg *kpu.Config) model.Mapping {
	spare := cfg.ComputeTiles / (m.Split.M * m.Split.N)
	if spare < 2 || m.L3.K < 2 {
		return m
	}
	m.Split.K = 2 + r.IntN(min(spare, int(m.L3.K), 4)-1)
	kp := (m.L3.K + int64(m.Split.K) - 1) / int64(m.Split.K)
	m.L2.K = min(m.L2.K, kp)
	return m
}

// newCmd resets every field of the reused command (field by field, see
// newCmd): a command whose fields all hold junk comes back as a fresh one,
// keeping only the backing array of its dependencies. Filling the fields by
// reflection makes a field added to Cmd but not to newCmd fail here.
func TestNewCmdResetsEveryField(t *testing.T) {
	w := &walker{next: 7}
	v := reflect.ValueOf(&w.cmd).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		f = reflect.NewAt(f.Type(), f.Addr().UnsafePointer()).Elem() // unexported fields too
		junk(t, f)
	}
	backing := &w.cmd.Deps[:1][0]
	c := w.newCmd(CmdFeed, OpB, 3)
	want := Cmd{ID: 7, Kind: CmdFeed, Operand: OpB, Tile: 3, Deps: []int{}, L3Slot: -1, Group: -1, L2Slot: -1, L1Slot: -1}
	if diff := cmp.Diff(want, *c, cmp.AllowUnexported(Cmd{}), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("newCmd left fields behind (-want +got):\n%s", diff)
	}
	if len(c.Deps) != 0 || cap(c.Deps) == 0 || &c.Deps[:1][0] != backing {
		t.Errorf("newCmd dropped the dependencies' backing array")
	}
}

// junk sets f to a non-zero value of its kind (recursing into structs).
func junk(t *testing.T, f reflect.Value) {
	t.Helper()
	switch f.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		f.SetInt(41)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		f.SetUint(5)
	case reflect.Bool:
		f.SetBool(true)
	case reflect.String:
		f.SetString("junk")
	case reflect.Slice:
		f.Set(reflect.MakeSlice(f.Type(), 2, 4))
	case reflect.Struct:
		for i := 0; i < f.NumField(); i++ {
			g := f.Field(i)
			junk(t, reflect.NewAt(g.Type(), g.Addr().UnsafePointer()).Elem())
		}
	default:
		t.Fatalf("junk: no value for a field of kind %s", f.Kind())
	}
}
