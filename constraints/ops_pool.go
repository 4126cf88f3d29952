package constraints

import (
	"fmt"
	"sort"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// segment is a run [a, b) of output positions along one axis over which the
// same window taps [t0, t1) fall inside the input (the others on padding).
type segment struct{ a, b, t0, t1 int64 }

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// segments cuts output positions [o0, o1) along an axis of input size n
// (taps k, stride s, leading pad p, dilation d) into runs with a constant
// set of valid taps. The valid taps of a run are contiguous.
func segments(o0, o1, k, s, p, d, n int64) []segment {
	lo := make([]int64, k)
	hi := make([]int64, k)
	cuts := []int64{o0, o1}
	for t := int64(0); t < k; t++ {
		lo[t] = -floorDiv(-(p - t*d), s) // ceil
		hi[t] = floorDiv(n-1+p-t*d, s) + 1
		for _, c := range []int64{lo[t], hi[t]} {
			if c > o0 && c < o1 {
				cuts = append(cuts, c)
			}
		}
	}
	sort.Slice(cuts, func(i, j int) bool { return cuts[i] < cuts[j] })
	var out []segment
	for i := 0; i+1 < len(cuts); i++ {
		a, b := cuts[i], cuts[i+1]
		if a == b {
			continue
		}
		sg := segment{a: a, b: b, t0: -1}
		for t := int64(0); t < k; t++ {
			if lo[t] <= a && b <= hi[t] {
				if sg.t0 < 0 {
					sg.t0 = t
				}
				sg.t1 = t + 1
			}
		}
		out = append(out, sg)
	}
	return out
}

// poolJobs plans MAXPOOL and AVGPOOL over the N*C planes of an NCHW tensor.
// A job is a block of planes x output rows; its input rows (with the window
// halo) are staged whole. MAXPOOL copies the first valid tap of every region
// of constant valid taps and takes the max with the others (strided views of
// the staged rows: address generation, no copies). AVGPOOL of the whole
// plane is one row mean per plane; a smaller window (no padding counted)
// takes means over kw per kh into a float32 scratch, then over kh.
func poolJobs(op *model.Operator, g *model.Graph, in, out *model.Tensor) (func(int64) (*pipeline, error), int64, error) {
	w, err := g.Window(op)
	if err != nil {
		return nil, 0, err
	}
	isMax := op.Type == model.OpMaxPool
	inclPad, err := op.Attrs.Bool("count_include_pad", false)
	if err != nil {
		return nil, 0, err
	}
	padded := w.PT+w.PL+w.PB+w.PR > 0
	if !isMax && inclPad && padded {
		return nil, 0, fmt.Errorf("AVGPOOL with count_include_pad and padding is not lowered (the vector engine has no constant divisor)")
	}
	P := w.N * w.C
	es, eo := in.DType.Size(), out.DType.Size()
	global := !isMax && !padded && w.KH == w.H && w.KW == w.W && w.OH == 1 && w.OW == 1
	if global {
		hw := w.H * w.W
		build := func(u int64) (*pipeline, error) {
			rt := min(P, max(1, u/hw))
			p := &pipeline{}
			for r0 := int64(0); r0 < P; r0 += rt {
				nr := min(rt, P-r0)
				p.jobs = append(p.jobs, job{
					ins: []ioSpec{{t: 0, off: r0 * hw * es, shape: []int64{nr, hw}, dtype: in.DType}},
					out: ioSpec{t: 1, off: r0 * eo, shape: []int64{nr, 1}, dtype: out.DType},
					vec: func(ins []*kpu.Access, o *kpu.Access, _ []*kpu.Access) []kpu.Command {
						return []kpu.Command{{Op: kpu.OpVector, VectorOp: "reduce_mean", DType: in.DType, Src: ins[0], Dst: o}}
					},
				})
			}
			return p, nil
		}
		return build, P * w.H * w.W, nil
	}
	colSegs := segments(0, w.OW, w.KW, w.SW, w.PL, w.DW, w.W)
	build := func(u int64) (*pipeline, error) {
		var pc, ohc int64
		if w.OH*w.OW <= u {
			ohc, pc = w.OH, min(P, max(1, u/(w.OH*w.OW)))
		} else {
			pc, ohc = 1, min(w.OH, max(1, u/w.OW))
		}
		p := &pipeline{}
		if !isMax {
			p.scratch = []int64{pc * ohc * w.OW * w.KH * 4}
		}
		for p0 := int64(0); p0 < P; p0 += pc {
			np := min(pc, P-p0)
			for oh0 := int64(0); oh0 < w.OH; oh0 += ohc {
				oh1 := min(w.OH, oh0+ohc)
				ih0 := max(0, oh0*w.SH-w.PT)
				ih1 := min(w.H, (oh1-1)*w.SH-w.PT+(w.KH-1)*w.DH+1)
				rin := ih1 - ih0
				rows := segments(oh0, oh1, w.KH, w.SH, w.PT, w.DH, w.H)
				for _, r := range rows {
					for _, c := range colSegs {
						if r.t0 < 0 || c.t0 < 0 {
							return nil, fmt.Errorf("output window at row %d, col %d covers only padding", r.a, c.a)
						}
					}
				}
				nrow := oh1 - oh0
				p.jobs = append(p.jobs, job{
					ins: []ioSpec{{t: 0, off: (p0*w.H*w.W + ih0*w.W) * es, shape: []int64{np, rin, w.W},
						strides: []int64{w.H * w.W * es, w.W * es, es}, dtype: in.DType}},
					out: ioSpec{t: 1, off: (p0*w.OH*w.OW + oh0*w.OW) * eo, shape: []int64{np, nrow, w.OW},
						strides: []int64{w.OH * w.OW * eo, w.OW * eo, eo}, dtype: out.DType},
					vec: func(ins []*kpu.Access, o *kpu.Access, scratch []*kpu.Access) []kpu.Command {
						src := ins[0]
						tap := func(plane, a, c0, kh, kw int64) int64 {
							return src.Addr + ((plane*rin+a*w.SH-w.PT+kh*w.DH-ih0)*w.W+c0*w.SW-w.PL+kw*w.DW)*es
						}
						var cmds []kpu.Command
						for _, r := range rows {
							for _, c := range colSegs {
								nr, nc := r.b-r.a, c.b-c.a
								if isMax {
									dst := &kpu.Access{Level: kpu.L2, Unit: o.Unit, Addr: o.Addr + ((r.a-oh0)*w.OW+c.a)*eo,
										Shape: []int64{np, nr, nc}, Strides: []int64{nrow * w.OW * eo, w.OW * eo, eo}, DType: out.DType}
									first := true
									for kh := r.t0; kh < r.t1; kh++ {
										for kw := c.t0; kw < c.t1; kw++ {
											v := &kpu.Access{Level: kpu.L2, Unit: src.Unit, Addr: tap(0, r.a, c.a, kh, kw),
												Shape: []int64{np, nr, nc}, Strides: []int64{rin * w.W * es, w.SH * w.W * es, w.SW * es}, DType: in.DType}
											if first {
												cmds = append(cmds, kpu.Command{Op: kpu.OpVector, VectorOp: "copy", DType: in.DType, Src: v, Dst: dst})
												first = false
											} else {
												cmds = append(cmds, kpu.Command{Op: kpu.OpVector, VectorOp: "max", DType: out.DType, Src: dst, Src2: v, Dst: dst})
											}
										}
									}
									continue
								}
								tmp := scratch[0]
								for pl := int64(0); pl < np; pl++ {
									tbase := tmp.Addr + (((pl*nrow+r.a-oh0)*w.OW+c.a)*w.KH)*4
									for kh := r.t0; kh < r.t1; kh++ {
										cmds = append(cmds, kpu.Command{Op: kpu.OpVector, VectorOp: "reduce_mean", DType: in.DType,
											Src: &kpu.Access{Level: kpu.L2, Unit: src.Unit, Addr: tap(pl, r.a, c.a, kh, c.t0),
												Shape: []int64{nr, nc, c.t1 - c.t0}, Strides: []int64{w.SH * w.W * es, w.SW * es, w.DW * es}, DType: in.DType},
											Dst: &kpu.Access{Level: kpu.L2, Unit: tmp.Unit, Addr: tbase + kh*4,
												Shape: []int64{nr, nc, 1}, Strides: []int64{w.OW * w.KH * 4, w.KH * 4, 4}, DType: model.Float32}})
									}
									cmds = append(cmds, kpu.Command{Op: kpu.OpVector, VectorOp: "reduce_mean", DType: model.Float32,
										Src: &kpu.Access{Level: kpu.L2, Unit: tmp.Unit, Addr: tbase + r.t0*4,
											Shape: []int64{nr, nc, r.t1 - r.t0}, Strides: []int64{w.OW * w.KH * 4, w.KH * 4, 4}, DType: model.Float32},
										Dst: &kpu.Access{Level: kpu.L2, Unit: o.Unit, Addr: o.Addr + ((pl*nrow+r.a-oh0)*w.OW+c.a)*eo,
											Shape: []int64{nr, nc, 1}, Strides: []int64{w.OW * eo, eo, eo}, DType: out.DType}})
								}
							}
						}
						return cmds
					},
				})
			}
		}
		return p, nil
	}
	return build, out.Elements(), nil
}
