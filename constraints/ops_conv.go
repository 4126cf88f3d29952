package constraints

import (
	"context"
	"fmt"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// Conv is a CONV2D as an implicit GEMM (docs/graph-schedules.md): product b
// is group b; A[M, K] has one row per output pixel (n, oh, ow) and one column
// per reduction index k = (c, kh, kw) of the group's input channels; B[K, N]
// is the group's weights read through a transposed view of [OC, C/g*KH*KW];
// C[M, N] lands in the NCHW output. A is never materialized in DRAM: each A
// block is gathered from the input by strided DMA loads (Im2col), with the
// padding produced on chip by a fill.
type Conv struct {
	Win     model.Window
	Problem Problem
}

// NewConv resolves the implicit GEMM of a convolution operator of g.
func NewConv(g *model.Graph, op *model.Operator) (Conv, error) {
	w, err := g.Window(op)
	if err != nil {
		return Conv{}, err
	}
	shape, ok, err := g.GEMM(op)
	if err != nil {
		return Conv{}, err
	}
	if !ok {
		return Conv{}, fmt.Errorf("operator %q (%s) is not a convolution", op.Name, op.Type)
	}
	p, err := NewProblem(op.Name, shape)
	if err != nil {
		return Conv{}, err
	}
	return Conv{Win: w, Problem: p}, nil
}

// Im2colPart is one strided DMA gather of an A block: Shape elements over
// (input channels, output rows, output cols) read from SrcOff (bytes from
// the input tensor's base) with SrcStrides; its first element is the block's
// element (Row, Col), and moving one step along the three dims moves KH*KW
// columns, OW rows and one row of the block.
type Im2colPart struct {
	SrcOff     int64
	Shape      [3]int64
	SrcStrides [3]int64
	Row, Col   int64
}

// Elems is the number of elements the part moves.
func (p Im2colPart) Elems() int64 { return p.Shape[0] * p.Shape[1] * p.Shape[2] }

// Im2col decomposes A block blk (product = group) into gathers, one per
// kernel tap (kh, kw) and run of output pixels (a partial first row, whole
// rows, a partial last row, per image), clipped to the pixels whose tap falls
// inside the input. padded reports that some element of the block is
// padding (it must be zero-filled before the gathers).
func (cv Conv) Im2col(blk Block) (parts []Im2colPart, padded bool) {
	w := cv.Win
	es := cv.Problem.ElemBytes()
	cg := w.C / w.Group
	kk := w.KH * w.KW
	ohw := w.OH * w.OW
	k0, k1 := blk.Col, blk.Col+blk.Cols
	var valid int64
	for kh := int64(0); kh < w.KH; kh++ {
		ohLo := max(0, -floorDiv(-(w.PT-kh*w.DH), w.SH))
		ohHi := min(w.OH, floorDiv(w.H-1+w.PT-kh*w.DH, w.SH)+1)
		for kw := int64(0); kw < w.KW; kw++ {
			owLo := max(0, -floorDiv(-(w.PL-kw*w.DW), w.SW))
			owHi := min(w.OW, floorDiv(w.W-1+w.PL-kw*w.DW, w.SW)+1)
			khw := kh*w.KW + kw
			cLo := max(0, -floorDiv(-(k0-khw), kk))
			cHi := min(cg, floorDiv(k1-1-khw, kk)+1)
			if cLo >= cHi || ohLo >= ohHi || owLo >= owHi {
				continue
			}
			// runs of output pixels in the block
			for p := blk.Row; p < blk.Row+blk.Rows; {
				n, pix := p/ohw, p%ohw
				oh, ow := pix/w.OW, pix%w.OW
				left := blk.Row + blk.Rows - p
				var nr, c0, nc int64
				if ow == 0 && left >= w.OW {
					nr, c0, nc = min(left/w.OW, w.OH-oh), 0, w.OW
				} else {
					nr, c0, nc = 1, ow, min(w.OW-ow, left)
				}
				r0, r1 := max(oh, ohLo), min(oh+nr, ohHi)
				a0, a1 := max(c0, owLo), min(c0+nc, owHi)
				if r0 < r1 && a0 < a1 {
					ih := r0*w.SH - w.PT + kh*w.DH
					iw := a0*w.SW - w.PL + kw*w.DW
					part := Im2colPart{
						SrcOff:     (((n*w.C+blk.Batch*cg+cLo)*w.H+ih)*w.W + iw) * es,
						Shape:      [3]int64{cHi - cLo, r1 - r0, a1 - a0},
						SrcStrides: [3]int64{w.H * w.W * es, w.SH * w.W * es, w.SW * es},
						Row:        p - blk.Row + (r0-oh)*w.OW + (a0 - c0),
						Col:        cLo*kk + khw - k0,
					}
					parts = append(parts, part)
					valid += part.Elems()
				}
				p += nr * nc
			}
		}
	}
	return parts, valid < blk.Rows*blk.Cols
}

// OutPart is the part of a C block that falls in one image: block rows
// [Row, Row+Rows) (output pixels), all block columns (output channels); its
// element (r, c) lies at Off + r*es + c*OH*OW*es bytes from the output's base.
type OutPart struct {
	Off       int64
	Row, Rows int64
}

// OutParts splits C block blk (in elements of es bytes) into its images.
func (cv Conv) OutParts(blk Block, es int64) []OutPart {
	w := cv.Win
	ohw := w.OH * w.OW
	ocg := w.OC / w.Group
	var out []OutPart
	for p := blk.Row; p < blk.Row+blk.Rows; {
		n, pix := p/ohw, p%ohw
		r := min(ohw-pix, blk.Row+blk.Rows-p)
		out = append(out, OutPart{Off: ((n*w.OC+blk.Batch*ocg+blk.Col)*ohw + pix) * es, Row: p - blk.Row, Rows: r})
		p += r
	}
	return out
}

// EvaluateConv judges mapping m of a convolution (output in the
// accumulator type, no bias) exactly: the command stream of Walk where every
// A load becomes a fill (if the block holds padding) and its gathers, and
// every C load or store one transfer per image, all on the DMA engine Walk
// chose, in order; bytes as the simulator counts them. EvaluateGEMMOp is the
// general form (narrow outputs, fused drain work).
func EvaluateConv(ctx context.Context, cv Conv, m model.Mapping, cfg *kpu.Config) (*Cost, error) {
	return evaluateGEMM(ctx, cv.Problem, &cv, nil, cv.Problem.DType.Accumulator(), m, cfg)
}
