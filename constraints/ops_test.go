package constraints

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

func convGraph(t *testing.T, x, w, y []int64, attrs string) (*model.Graph, *model.Operator) {
	t.Helper()
	src := fmt.Sprintf(`{"name":"c","tensors":{"x":{"shape":%v,"dtype":"float32"},"w":{"shape":%v,"dtype":"float32"},"y":{"shape":%v,"dtype":"float32"}},
"operators":[{"name":"conv","type":"CONV2D","inputs":["x","w"],"outputs":["y"],"attributes":{%s}}]}`,
		jsonInts(x), jsonInts(w), jsonInts(y), attrs)
	g, err := model.Parse([]byte(src), "conv")
	if err != nil {
		t.Fatal(err)
	}
	return g, g.Operators[0]
}

func jsonInts(s []int64) string {
	out := "["
	for i, v := range s {
		if i > 0 {
			out += ","
		}
		out += fmt.Sprint(v)
	}
	return out + "]"
}

// TestIm2colCoverage checks the gathers of every block against a direct
// evaluation: each in-input element of the block is written exactly once,
// from the right input address, nothing else is written, and padded is set
// exactly when some element of the block is padding.
func TestIm2colCoverage(t *testing.T) {
	cases := []struct {
		x, w, y []int64
		attrs   string
	}{
		{[]int64{1, 3, 8, 8}, []int64{4, 3, 3, 3}, []int64{1, 4, 8, 8}, `"pads":[1,1,1,1]`},
		{[]int64{2, 4, 11, 9}, []int64{6, 2, 3, 3}, []int64{2, 6, 4, 3}, `"strides":[2,2],"dilations":[2,2],"group":2`},
		{[]int64{1, 3, 16, 16}, []int64{8, 3, 7, 7}, []int64{1, 8, 8, 8}, `"strides":[2,2],"pads":[3,3,3,3]`},
		{[]int64{2, 2, 5, 6}, []int64{3, 2, 3, 2}, []int64{2, 3, 4, 6}, `"pads":[0,1,1,0]`},
		{[]int64{1, 4, 7, 7}, []int64{4, 1, 3, 3}, []int64{1, 4, 7, 7}, `"pads":[1,1,1,1],"group":4`},
	}
	for ci, c := range cases {
		g, op := convGraph(t, c.x, c.w, c.y, c.attrs)
		cv, err := NewConv(g, op)
		if err != nil {
			t.Fatal(err)
		}
		w := cv.Win
		p := cv.Problem
		es := p.ElemBytes()
		cg, kk := w.C/w.Group, w.KH*w.KW
		for _, tile := range [][2]int64{{1, 1}, {5, 7}, {w.OW + 3, 4}, {p.M, p.K}, {3 * w.OW, kk + 1}} {
			for b := int64(0); b < p.Batch; b++ {
				for r0 := int64(0); r0 < p.M; r0 += tile[0] {
					for k0 := int64(0); k0 < p.K; k0 += tile[1] {
						blk := Block{Batch: b, Row: r0, Col: k0, Rows: min(tile[0], p.M-r0), Cols: min(tile[1], p.K-k0)}
						parts, padded := cv.Im2col(blk)
						got := map[[2]int64]int64{} // (row, col) -> source offset
						for _, pt := range parts {
							for i := int64(0); i < pt.Shape[0]; i++ {
								for j := int64(0); j < pt.Shape[1]; j++ {
									for k := int64(0); k < pt.Shape[2]; k++ {
										key := [2]int64{pt.Row + j*w.OW + k, pt.Col + i*kk}
										if _, dup := got[key]; dup {
											t.Fatalf("case %d block %+v: element %v written twice", ci, blk, key)
										}
										got[key] = pt.SrcOff + i*pt.SrcStrides[0] + j*pt.SrcStrides[1] + k*pt.SrcStrides[2]
									}
								}
							}
						}
						want := map[[2]int64]int64{}
						for r := int64(0); r < blk.Rows; r++ {
							pix := blk.Row + r
							n, oh, ow := pix/(w.OH*w.OW), pix/w.OW%w.OH, pix%w.OW
							for cc := int64(0); cc < blk.Cols; cc++ {
								k := blk.Col + cc
								cl, kh, kw := k/kk, k%kk/w.KW, k%w.KW
								ih, iw := oh*w.SH-w.PT+kh*w.DH, ow*w.SW-w.PL+kw*w.DW
								if ih < 0 || ih >= w.H || iw < 0 || iw >= w.W {
									continue
								}
								want[[2]int64{r, cc}] = (((n*w.C+b*cg+cl)*w.H+ih)*w.W + iw) * es
							}
						}
						if diff := cmp.Diff(want, got); diff != "" {
							t.Fatalf("case %d block %+v: gathers differ (-want +got):\n%s", ci, blk, diff)
						}
						if wantPad := int64(len(want)) < blk.Rows*blk.Cols; padded != wantPad {
							t.Fatalf("case %d block %+v: padded %v, want %v", ci, blk, padded, wantPad)
						}
					}
				}
			}
		}
	}
}

// TestSegments checks the runs of constant valid taps against the
// definition, tap by tap.
func TestSegments(t *testing.T) {
	for _, c := range []struct{ o0, o1, k, s, p, d, n int64 }{
		{0, 56, 3, 2, 1, 1, 112}, {0, 8, 7, 2, 3, 1, 16}, {2, 5, 3, 1, 1, 2, 6}, {0, 4, 2, 3, 0, 1, 10}, {0, 9, 5, 1, 4, 1, 5},
	} {
		segs := segments(c.o0, c.o1, c.k, c.s, c.p, c.d, c.n)
		next := c.o0
		for _, sg := range segs {
			if sg.a != next || sg.b <= sg.a {
				t.Fatalf("%+v: segments %+v do not tile [%d, %d)", c, segs, c.o0, c.o1)
			}
			next = sg.b
			for o := sg.a; o < sg.b; o++ {
				for tap := int64(0); tap < c.k; tap++ {
					in := o*c.s - c.p + tap*c.d
					valid := in >= 0 && in < c.n
					if valid != (tap >= sg.t0 && tap < sg.t1 && sg.t0 >= 0) {
						t.Fatalf("%+v: output %d tap %d valid=%v, segment %+v", c, o, tap, valid, sg)
					}
				}
			}
		}
		if next != c.o1 {
			t.Fatalf("%+v: segments end at %d", c, next)
		}
	}
}

func TestBroadcastGroups(t *testing.T) {
	cases := []struct {
		a, b, out []int64
		want      []bgroup
	}{
		{[]int64{2, 3, 4, 5}, []int64{3, 1, 5}, []int64{2, 3, 4, 5}, []bgroup{
			{size: 2, full: [2]bool{true, false}, strides: [3]int64{60, 0, 60}},
			{size: 3, full: [2]bool{true, true}, strides: [3]int64{20, 5, 20}},
			{size: 4, full: [2]bool{true, false}, strides: [3]int64{5, 0, 5}},
			{size: 5, full: [2]bool{true, true}, strides: [3]int64{1, 1, 1}},
		}},
		{[]int64{8, 16}, []int64{16}, []int64{8, 16}, []bgroup{
			{size: 8, full: [2]bool{true, false}, strides: [3]int64{16, 0, 16}},
			{size: 16, full: [2]bool{true, true}, strides: [3]int64{1, 1, 1}},
		}},
		{[]int64{1, 64, 7, 7}, []int64{64, 1, 1}, []int64{1, 64, 7, 7}, []bgroup{
			{size: 64, full: [2]bool{true, true}, strides: [3]int64{49, 1, 49}},
			{size: 49, full: [2]bool{true, false}, strides: [3]int64{1, 0, 1}},
		}},
	}
	for _, c := range cases {
		got, err := broadcastGroups(c.a, c.b, c.out)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(c.want, got, cmp.AllowUnexported(bgroup{})); diff != "" {
			t.Errorf("%v + %v: (-want +got)\n%s", c.a, c.b, diff)
		}
	}
	if _, err := broadcastGroups([]int64{3, 4}, []int64{5}, []int64{3, 4}); err == nil {
		t.Error("shape [5] broadcast to [3 4]: want an error")
	}
}

// TestPlanOpErrors checks the operators the vector engine cannot run.
func TestPlanOpErrors(t *testing.T) {
	cfg, _, err := kpu.Resolve("edge_ai")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ typ, dtype, attrs, want string }{
		{"DIV", "int32", "", "integer DIV"},
		{"CLAMP", "float32", `,"attributes":{"min":-1,"max":1}`, "CLAMP to [-1, 1]"},
	} {
		ins, extra := `"a","b"`, fmt.Sprintf(`,"b":{"shape":[4],"dtype":%q}`, c.dtype)
		if c.typ == "CLAMP" {
			ins, extra = `"a"`, ""
		}
		src := fmt.Sprintf(`{"name":"e","tensors":{"a":{"shape":[4],"dtype":%q}%s,"y":{"shape":[4],"dtype":%q}},"operators":[{"name":"op","type":%q,"inputs":[%s],"outputs":["y"]%s}]}`,
			c.dtype, extra, c.dtype, c.typ, ins, c.attrs)
		g, err := model.Parse([]byte(src), "e")
		if err != nil {
			t.Fatal(err)
		}
		_, err = PlanOp(context.Background(), g, g.Operators[0], cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: error %v, want one mentioning %q", c.typ, c.dtype, err, c.want)
		}
	}
}
