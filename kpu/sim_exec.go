package kpu

import (
	"context"
	"fmt"
	"math"

	"github.com/stillwater-sc/kpuopt/model"
)

// vecInfo describes a vector-engine op. passes is the number of sweeps over
// the elements the timing charges (VectorCycles(passes x elements)).
type vecInfo struct {
	binary  bool
	rowwise bool // operates along the last dim
	reduce  bool // writes one value per row
	passes  int
	unary   func(x float64) float64
	bin     func(x, y float64) float64
}

// vectorOps is the vector engine's instruction set. Row ops: softmax and
// layernorm take 2 passes (one for the running max / sum or mean / variance,
// one to normalize); reductions take 1.
var vectorOps = map[string]vecInfo{
	"copy":    {passes: 1, unary: func(x float64) float64 { return x }},
	"relu":    {passes: 1, unary: func(x float64) float64 { return math.Max(x, 0) }},
	"gelu":    {passes: 1, unary: func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }},
	"sigmoid": {passes: 1, unary: func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }},
	"tanh":    {passes: 1, unary: math.Tanh},
	"exp":     {passes: 1, unary: math.Exp},
	"neg":     {passes: 1, unary: func(x float64) float64 { return -x }},
	"abs":     {passes: 1, unary: math.Abs},
	"recip":   {passes: 1, unary: func(x float64) float64 { return 1 / x }},
	"sqrt":    {passes: 1, unary: math.Sqrt},
	"add":     {binary: true, passes: 1, bin: func(x, y float64) float64 { return x + y }},
	"sub":     {binary: true, passes: 1, bin: func(x, y float64) float64 { return x - y }},
	"mul":     {binary: true, passes: 1, bin: func(x, y float64) float64 { return x * y }},
	"div":     {binary: true, passes: 1, bin: func(x, y float64) float64 { return x / y }},
	"max":     {binary: true, passes: 1, bin: math.Max},
	"min":     {binary: true, passes: 1, bin: math.Min},

	"softmax":     {rowwise: true, passes: 2},
	"layernorm":   {rowwise: true, passes: 2},
	"reduce_sum":  {rowwise: true, reduce: true, passes: 1},
	"reduce_max":  {rowwise: true, reduce: true, passes: 1},
	"reduce_mean": {rowwise: true, reduce: true, passes: 1},
}

// VectorOps lists the vector engine's op names in a fixed order.
var VectorOps = []string{"copy", "relu", "gelu", "sigmoid", "tanh", "exp", "neg", "abs", "recip", "sqrt",
	"add", "sub", "mul", "div", "max", "min", "softmax", "layernorm", "reduce_sum", "reduce_max", "reduce_mean"}

// gather reads f's elements into a dense row-major byte slice.
func (mem *memory) gather(f *footprint, buf []byte) []byte {
	buf = grow(buf, f.bytes)
	u := mem.unit(f.gunit)
	off := int64(0)
	f.eachRun(func(lo, hi int64) {
		u.read(lo, buf[off:off+hi-lo])
		off += hi - lo
	})
	return buf
}

// scatter writes dense row-major bytes to f's elements.
func (mem *memory) scatter(f *footprint, data []byte) {
	u := mem.unit(f.gunit)
	off := int64(0)
	f.eachRun(func(lo, hi int64) {
		u.write(lo, data[off:off+hi-lo])
		off += hi - lo
	})
}

func grow(b []byte, n int64) []byte {
	if int64(cap(b)) < n {
		return make([]byte, n)
	}
	return b[:n]
}

type executor struct {
	cp   *compiled
	prog *Program
	mem  *memory
	buf  [4][]byte
	fa   []float32
	fb   []float32
	fc   []float32
}

// execute runs every command on real bytes in topological order, after
// placing the inputs in DRAM, and reads every placed tensor back.
func (cp *compiled) execute(ctx context.Context, prog *Program, mem *memory, inputs map[string][]byte, res *SimResult) error {
	for _, name := range cp.tensors {
		if data, ok := inputs[name]; ok {
			f := cp.tfoot[name]
			mem.scatter(&f, data)
		}
	}
	ex := &executor{cp: cp, prog: prog, mem: mem}
	for k, i := range cp.order {
		if k&0xff == 0xff {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("functional simulation: %w", err)
			}
		}
		if err := ex.run(int(i)); err != nil {
			return fmt.Errorf("command %d: %w", cp.ids[i], err)
		}
	}
	res.Tensors = map[string][]byte{}
	for _, name := range cp.tensors {
		f := cp.tfoot[name]
		res.Tensors[name] = mem.gather(&f, nil)
	}
	return nil
}

func (ex *executor) run(i int) error {
	cmd := &ex.prog.Commands[i]
	reads, writes := ex.cp.readsOf(i), ex.cp.writesOf(i)
	if cmd.Op == OpFill {
		ex.buf[0] = grow(ex.buf[0], writes[0].bytes)
		clear(ex.buf[0])
		ex.mem.scatter(&writes[0], ex.buf[0])
		return nil
	}
	src, dst := &reads[0], &writes[0]
	switch cmd.Op {
	case OpMatMul:
		return ex.matmul(cmd, reads, dst)
	case OpVector:
		return ex.vector(cmd, reads, dst)
	case OpTranspose:
		// View dst with its last two dims swapped so it walks in src order.
		v := *dst
		v.shape[1], v.shape[2] = dst.shape[2], dst.shape[1]
		v.strides[1], v.strides[2] = dst.strides[2], dst.strides[1]
		ex.buf[0] = ex.mem.gather(src, ex.buf[0])
		ex.mem.scatter(&v, ex.buf[0])
		return nil
	case OpDrain:
		if cmd.Epilogue != nil || src.dtype() != dst.dtype() {
			vals := DecodeElements(src.dtype(), ex.mem.gather(src, ex.buf[0]))
			if err := ex.epilogue(cmd, reads, dst, vals); err != nil {
				return err
			}
			ex.buf[1] = grow(ex.buf[1], dst.bytes)
			encodeFrom(dst.dtype(), vals, ex.buf[1])
			ex.mem.scatter(dst, ex.buf[1])
			return nil
		}
	}
	ex.buf[0] = ex.mem.gather(src, ex.buf[0])
	ex.mem.scatter(dst, ex.buf[0])
	return nil
}

// epilogue applies cmd's fused epilogue to vals (dense, dst's shape): add the
// bias (the last read footprint), then the op.
func (ex *executor) epilogue(cmd *Command, reads []footprint, dst *footprint, vals []float64) error {
	e := cmd.Epilogue
	if e == nil {
		return nil
	}
	if e.Bias != nil {
		bf := &reads[len(reads)-1]
		bias := DecodeElements(bf.dtype(), ex.mem.gather(bf, ex.buf[2]))
		broadcast(vals, dst.shape, bias, bf.shape, func(x, y float64) float64 { return x + y })
	}
	if e.Op != "" && e.Op != "none" {
		f := vectorOps[e.Op].unary
		for j, v := range vals {
			vals[j] = f(v)
		}
	}
	return nil
}

// broadcast applies vals[i] = fn(vals[i], b[broadcast i]).
func broadcast(vals []float64, shape [3]int64, b []float64, bshape [3]int64, fn func(x, y float64) float64) {
	var st [3]int64
	s := int64(1)
	for d := 2; d >= 0; d-- {
		if bshape[d] != 1 {
			st[d] = s
		}
		s *= bshape[d]
	}
	j := 0
	for x := int64(0); x < shape[0]; x++ {
		for y := int64(0); y < shape[1]; y++ {
			base := x*st[0] + y*st[1]
			for z := int64(0); z < shape[2]; z++ {
				vals[j] = fn(vals[j], b[base+z*st[2]])
				j++
			}
		}
	}
}

func growF32(b []float32, n int64) []float32 {
	if int64(cap(b)) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// matmul computes C (+)= A x B: float inputs multiply and sum in float32,
// integer inputs in int32 (wrapping), then the epilogue runs in float64 on C.
func (ex *executor) matmul(cmd *Command, reads []footprint, cf *footprint) error {
	af, bf := &reads[0], &reads[1]
	m, k, n := af.shape[1], af.shape[2], bf.shape[2]
	ab := ex.mem.gather(af, ex.buf[0])
	bb := ex.mem.gather(bf, ex.buf[1])
	ex.buf[0], ex.buf[1] = ab, bb
	var out []float64
	if !af.dtype().IsInteger() {
		a := growF32(ex.fa, m*k)
		b := growF32(ex.fb, k*n)
		c := growF32(ex.fc, m*n)
		ex.fa, ex.fb, ex.fc = a, b, c
		decodeF32(af.dtype(), ab, a)
		decodeF32(bf.dtype(), bb, b)
		if cmd.Accumulate {
			cb := ex.mem.gather(cf, ex.buf[3])
			ex.buf[3] = cb
			if cf.dtype() == model.Float32 {
				decodeF32(cf.dtype(), cb, c)
			} else {
				tmp := DecodeElements(cf.dtype(), cb)
				for j, v := range tmp {
					c[j] = float32(v)
				}
			}
		} else {
			clear(c)
		}
		matmulF32(a, b, c, int(m), int(n), int(k))
		if cmd.Epilogue == nil && cf.dtype() == model.Float32 {
			ex.buf[3] = grow(ex.buf[3], cf.bytes)
			for j, v := range c {
				putF32(ex.buf[3][4*j:], v)
			}
			ex.mem.scatter(cf, ex.buf[3])
			return nil
		}
		out = make([]float64, len(c))
		for j, v := range c {
			out[j] = float64(v)
		}
	} else {
		a := make([]int32, m*k)
		b := make([]int32, k*n)
		c := make([]int32, m*n)
		decodeI32(af.dtype(), ab, a)
		decodeI32(bf.dtype(), bb, b)
		if cmd.Accumulate {
			decodeI32(cf.dtype(), ex.mem.gather(cf, nil), c)
		}
		for i := int64(0); i < m; i++ {
			crow := c[i*n : (i+1)*n]
			for p := int64(0); p < k; p++ {
				av := a[i*k+p]
				brow := b[p*n : (p+1)*n]
				for j := range crow {
					crow[j] += av * brow[j]
				}
			}
		}
		out = make([]float64, len(c))
		for j, v := range c {
			out[j] = float64(v)
		}
	}
	if err := ex.epilogue(cmd, reads, cf, out); err != nil {
		return err
	}
	ex.mem.scatter(cf, EncodeElements(cf.dtype(), out))
	return nil
}

func putF32(b []byte, v float32) {
	u := math.Float32bits(v)
	b[0], b[1], b[2], b[3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
}

// matmulF32 computes c += a x b for row-major a (m x k), b (k x n), c (m x n).
func matmulF32(a, b, c []float32, m, n, k int) {
	for i := 0; i < m; i++ {
		crow := c[i*n : (i+1)*n]
		for p := 0; p < k; p++ {
			av := a[i*k+p]
			brow := b[p*n : (p+1)*n]
			for j := range crow {
				crow[j] += av * brow[j]
			}
		}
	}
}

// vector runs a vector-engine op in float64 and stores in dst's dtype.
func (ex *executor) vector(cmd *Command, reads []footprint, dst *footprint) error {
	info := vectorOps[cmd.VectorOp]
	src := &reads[0]
	x := DecodeElements(src.dtype(), ex.mem.gather(src, ex.buf[0]))
	var out []float64
	switch {
	case info.binary:
		bf := &reads[1]
		y := DecodeElements(bf.dtype(), ex.mem.gather(bf, ex.buf[1]))
		broadcast(x, src.shape, y, bf.shape, info.bin)
		out = x
	case info.rowwise:
		out = rowOp(cmd, x, src.shape[2])
	default:
		for j, v := range x {
			x[j] = info.unary(v)
		}
		out = x
	}
	ex.buf[2] = grow(ex.buf[2], dst.bytes)
	encodeFrom(dst.dtype(), out, ex.buf[2])
	ex.mem.scatter(dst, ex.buf[2])
	return nil
}

// rowOp applies a row op to rows of length w.
func rowOp(cmd *Command, x []float64, w int64) []float64 {
	rows := int64(len(x)) / w
	var out []float64
	if vectorOps[cmd.VectorOp].reduce {
		out = make([]float64, rows)
	} else {
		out = x
	}
	eps := cmd.Epsilon
	if eps == 0 {
		eps = 1e-5
	}
	for r := int64(0); r < rows; r++ {
		row := x[r*w : (r+1)*w]
		switch cmd.VectorOp {
		case "softmax":
			mx := math.Inf(-1)
			for _, v := range row {
				mx = math.Max(mx, v)
			}
			var s float64
			for j, v := range row {
				row[j] = math.Exp(v - mx)
				s += row[j]
			}
			for j := range row {
				row[j] /= s
			}
		case "layernorm":
			var mean, sq float64
			for _, v := range row {
				mean += v
			}
			mean /= float64(w)
			for _, v := range row {
				sq += (v - mean) * (v - mean)
			}
			inv := 1 / math.Sqrt(sq/float64(w)+eps)
			for j, v := range row {
				row[j] = (v - mean) * inv
			}
		case "reduce_sum", "reduce_mean":
			var s float64
			for _, v := range row {
				s += v
			}
			if cmd.VectorOp == "reduce_mean" {
				s /= float64(w)
			}
			out[r] = s
		case "reduce_max":
			mx := math.Inf(-1)
			for _, v := range row {
				mx = math.Max(mx, v)
			}
			out[r] = mx
		}
	}
	return out
}
