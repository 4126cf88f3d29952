package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func arr(dt DType, shape []int64, data ...float64) *Array {
	return &Array{Shape: shape, DType: dt, Data: data}
}

// runOne builds a one-operator graph with inputs in0, in1, ... and output
// "out", validates it and evaluates it.
func runOne(typ OpType, attrs Attributes, outShape []int64, outDT DType, ins ...*Array) (*Array, error) {
	g := &Graph{Name: string(typ), Tensors: map[string]*Tensor{}}
	op := &Operator{Name: "op", Type: typ, Attrs: attrs, Outputs: []string{"out"}}
	inputs := map[string]*Array{}
	for i, a := range ins {
		name := fmt.Sprintf("in%d", i)
		g.Tensors[name] = &Tensor{Shape: a.Shape, DType: a.DType}
		op.Inputs = append(op.Inputs, name)
		inputs[name] = a
	}
	g.Tensors["out"] = &Tensor{Shape: outShape, DType: outDT}
	g.Operators = []*Operator{op}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	vals, err := Evaluate(context.Background(), g, inputs)
	if err != nil {
		return nil, err
	}
	return vals["out"], nil
}

func TestEvaluateOps(t *testing.T) {
	f32, i8, i32 := Float32, Int8, Int32
	sq := func(v float64) float64 { return Round(Float32, v) }
	ln := func(v float64) float64 { return Round(Float32, (v-2.5)/math.Sqrt(1.25+1e-5)*2+1) }
	tests := []struct {
		name  string
		typ   OpType
		attrs Attributes
		ins   []*Array
		want  *Array
	}{
		{"matmul", OpMatMul, nil,
			[]*Array{arr(f32, []int64{2, 3}, 1, 2, 3, 4, 5, 6), arr(f32, []int64{3, 2}, 7, 8, 9, 10, 11, 12)},
			arr(f32, []int64{2, 2}, 58, 64, 139, 154)},
		{"matmul transpose_b", OpMatMul, Attributes{"transpose_b": true},
			[]*Array{arr(f32, []int64{2, 3}, 1, 2, 3, 4, 5, 6), arr(f32, []int64{2, 3}, 7, 9, 11, 8, 10, 12)},
			arr(f32, []int64{2, 2}, 58, 64, 139, 154)},
		{"matmul transpose_a", OpMatMul, Attributes{"transpose_a": 1.0},
			[]*Array{arr(f32, []int64{3, 2}, 1, 4, 2, 5, 3, 6), arr(f32, []int64{3, 2}, 7, 8, 9, 10, 11, 12)},
			arr(f32, []int64{2, 2}, 58, 64, 139, 154)},
		{"matmul batched broadcast B", OpMatMul, nil,
			[]*Array{arr(f32, []int64{2, 1, 2}, 1, 2, 3, 4), arr(f32, []int64{2, 2}, 2, 0, 0, 2)},
			arr(f32, []int64{2, 1, 2}, 2, 4, 6, 8)},
		{"matmul batched broadcast A", OpMatMul, nil,
			[]*Array{arr(f32, []int64{1, 2}, 1, 2), arr(f32, []int64{2, 2, 1}, 1, 1, 10, 100)},
			arr(f32, []int64{2, 1, 1}, 3, 210)},
		{"matmul int8 to int32", OpMatMul, nil,
			[]*Array{arr(i8, []int64{2, 2}, 127, 127, -128, -128), arr(i8, []int64{2, 1}, 127, 1)},
			arr(i32, []int64{2, 1}, 16256, -16384)},
		{"matmul int8 saturates", OpMatMul, nil,
			[]*Array{arr(i8, []int64{2, 2}, 127, 127, -128, -128), arr(i8, []int64{2, 1}, 127, 1)},
			arr(i8, []int64{2, 1}, 127, -128)},
		{"matmul int32 wraps", OpMatMul, nil,
			[]*Array{arr(i32, []int64{1, 2}, 65536, 65536), arr(i32, []int64{2, 1}, 32768, 32768)},
			arr(i32, []int64{1, 1}, 0)},
		{"matmul float16 rounds", OpMatMul, nil,
			[]*Array{arr(Float16, []int64{1, 2}, 1, 1), arr(Float16, []int64{2, 1}, 1, math.Ldexp(1, -11))},
			arr(Float16, []int64{1, 1}, 1)},
		{"matmul float16 to float32", OpMatMul, nil,
			[]*Array{arr(Float16, []int64{1, 2}, 1, 1), arr(Float16, []int64{2, 1}, 1, math.Ldexp(1, -11))},
			arr(f32, []int64{1, 1}, 1+math.Ldexp(1, -11))},
		{"linear", OpLinear, nil,
			[]*Array{arr(f32, []int64{1, 2}, 1, 2), arr(f32, []int64{2, 3}, 1, 0, 1, 0, 1, 1), arr(f32, []int64{3}, 10, 20, 30)},
			arr(f32, []int64{1, 3}, 11, 22, 33)},
		{"linear int8 bias int32", OpLinear, nil,
			[]*Array{arr(i8, []int64{2}, 100, 100), arr(i8, []int64{2, 1}, 100, 100), arr(i32, []int64{1}, -5)},
			arr(i32, []int64{1}, 19995)},
		{"conv2d", OpConv2D, nil,
			[]*Array{arr(f32, []int64{1, 1, 3, 3}, 1, 2, 3, 4, 5, 6, 7, 8, 9), arr(f32, []int64{1, 1, 2, 2}, 1, 1, 1, 1)},
			arr(f32, []int64{1, 1, 2, 2}, 12, 16, 24, 28)},
		{"conv2d pads strides", OpConv2D, Attributes{"pads": []any{1.0, 1.0, 1.0, 1.0}, "strides": []any{2.0, 2.0}, "kernel_shape": []any{2.0, 2.0}},
			[]*Array{arr(f32, []int64{1, 1, 3, 3}, 1, 2, 3, 4, 5, 6, 7, 8, 9), arr(f32, []int64{1, 1, 2, 2}, 1, 1, 1, 1)},
			arr(f32, []int64{1, 1, 2, 2}, 1, 5, 11, 28)},
		{"conv2d dilation", OpConv2D, Attributes{"dilations": []any{2.0, 2.0}},
			[]*Array{arr(f32, []int64{1, 1, 3, 3}, 1, 2, 3, 4, 5, 6, 7, 8, 9), arr(f32, []int64{1, 1, 2, 2}, 1, 1, 1, 1)},
			arr(f32, []int64{1, 1, 1, 1}, 20)},
		{"conv2d two channels two filters", OpConv2D, nil,
			[]*Array{arr(f32, []int64{1, 2, 1, 1}, 3, 5), arr(f32, []int64{2, 2, 1, 1}, 1, 1, 1, -1)},
			arr(f32, []int64{1, 2, 1, 1}, 8, -2)},
		{"conv2d group 2", OpConv2D, Attributes{"group": 2.0},
			[]*Array{arr(f32, []int64{1, 2, 1, 1}, 3, 5), arr(f32, []int64{2, 1, 1, 1}, 2, 10)},
			arr(f32, []int64{1, 2, 1, 1}, 6, 50)},
		{"depthwise with bias", OpConv2DDW, nil,
			[]*Array{arr(f32, []int64{1, 2, 2, 2}, 1, 2, 3, 4, 5, 6, 7, 8), arr(f32, []int64{2, 1, 1, 1}, 2, 3), arr(f32, []int64{2}, 1, -1)},
			arr(f32, []int64{1, 2, 2, 2}, 3, 5, 7, 9, 14, 17, 20, 23)},
		{"conv2d int8 to int32 with bias", OpConv2D, nil,
			[]*Array{arr(i8, []int64{1, 2, 1, 2}, 100, -100, 50, 1), arr(i8, []int64{1, 2, 1, 2}, 127, 127, 2, -128), arr(i32, []int64{1}, 1000)},
			arr(i32, []int64{1, 1, 1, 1}, 100*127-100*127+50*2-128+1000)},
		{"add bfloat16 ties to even", OpAdd, nil,
			[]*Array{arr(BFloat16, []int64{2}, 1, 1), arr(BFloat16, []int64{2}, math.Ldexp(1, -8), 3*math.Ldexp(1, -8))},
			arr(BFloat16, []int64{2}, 1, 1+math.Ldexp(1, -6))},
		{"mul float16 overflows to inf", OpMul, nil,
			[]*Array{arr(Float16, []int64{2}, 256, -256), arr(Float16, []int64{1}, 512)},
			arr(Float16, []int64{2}, math.Inf(1), math.Inf(-1))},
		{"softmax float16", OpSoftmax, nil,
			[]*Array{arr(Float16, []int64{3}, 0, 0, 1)},
			arr(Float16, []int64{3}, Round(Float16, 1/(2+math.E)), Round(Float16, 1/(2+math.E)), Round(Float16, math.E/(2+math.E)))},
		{"relu", OpRelu, nil, []*Array{arr(f32, []int64{3}, -1, 0, 2)}, arr(f32, []int64{3}, 0, 0, 2)},
		{"relu int8", OpRelu, nil, []*Array{arr(i8, []int64{2}, -7, 7)}, arr(i8, []int64{2}, 0, 7)},
		{"gelu", OpGelu, nil, []*Array{arr(f32, []int64{3}, -1, 0, 1)}, arr(f32, []int64{3}, sq(-0.15865525393145707), 0, sq(0.8413447460685429))},
		{"sigmoid", OpSigmoid, nil, []*Array{arr(f32, []int64{2}, 0, 2)}, arr(f32, []int64{2}, 0.5, sq(0.8807970779778823))},
		{"tanh", OpTanh, nil, []*Array{arr(f32, []int64{2}, 0, 1)}, arr(f32, []int64{2}, 0, sq(0.7615941559557649))},
		{"exp", OpExp, nil, []*Array{arr(f32, []int64{2}, 0, 1)}, arr(f32, []int64{2}, 1, sq(math.E))},
		{"clamp", OpClamp, Attributes{"min": -1.0, "max": 1.0}, []*Array{arr(f32, []int64{3}, -2, 0.5, 3)}, arr(f32, []int64{3}, -1, 0.5, 1)},
		{"clamp int8", OpClamp, Attributes{"min": -1.5, "max": 2.5}, []*Array{arr(i8, []int64{3}, -5, 1, 5)}, arr(i8, []int64{3}, -1, 1, 2)},
		{"abs int8 saturates", OpAbs, nil, []*Array{arr(i8, []int64{2}, -128, -3)}, arr(i8, []int64{2}, 127, 3)},
		{"negate int8 saturates", OpNeg, nil, []*Array{arr(i8, []int64{2}, -128, 5)}, arr(i8, []int64{2}, 127, -5)},
		{"reciprocal", OpRecip, nil, []*Array{arr(f32, []int64{3}, 2, 4, 0)}, arr(f32, []int64{3}, 0.5, 0.25, math.Inf(1))},
		{"add broadcast row", OpAdd, nil,
			[]*Array{arr(f32, []int64{2, 3}, 1, 2, 3, 4, 5, 6), arr(f32, []int64{3}, 10, 20, 30)},
			arr(f32, []int64{2, 3}, 11, 22, 33, 14, 25, 36)},
		{"mul broadcast column", OpMul, nil,
			[]*Array{arr(f32, []int64{2, 3}, 1, 2, 3, 4, 5, 6), arr(f32, []int64{2, 1}, 100, 200)},
			arr(f32, []int64{2, 3}, 100, 200, 300, 800, 1000, 1200)},
		{"sub both broadcast", OpSub, nil,
			[]*Array{arr(f32, []int64{2, 1}, 10, 20), arr(f32, []int64{1, 3}, 1, 2, 3)},
			arr(f32, []int64{2, 3}, 9, 8, 7, 19, 18, 17)},
		{"add int8 saturates", OpAdd, nil, []*Array{arr(i8, []int64{2}, 100, -100), arr(i8, []int64{2}, 100, -100)}, arr(i8, []int64{2}, 127, -128)},
		{"div int32 truncates", OpDiv, nil, []*Array{arr(i32, []int64{2}, 7, -7), arr(i32, []int64{1}, 2)}, arr(i32, []int64{2}, 3, -3)},
		{"div float", OpDiv, nil, []*Array{arr(f32, []int64{2}, 1, 3)}, nil},
		{"softmax", OpSoftmax, nil, []*Array{arr(f32, []int64{2, 2}, 0, 0, 5, 5)}, arr(f32, []int64{2, 2}, 0.5, 0.5, 0.5, 0.5)},
		{"softmax axis 0", OpSoftmax, Attributes{"axis": 0.0},
			[]*Array{arr(f32, []int64{2, 2}, 0, 1, 0, 1)}, arr(f32, []int64{2, 2}, 0.5, 0.5, 0.5, 0.5)},
		{"softmax uneven", OpSoftmax, nil,
			[]*Array{arr(f32, []int64{3}, 0, 0, 1)}, arr(f32, []int64{3}, sq(1/(2+math.E)), sq(1/(2+math.E)), sq(math.E/(2+math.E)))},
		{"layernorm", OpLayerNorm, nil,
			[]*Array{arr(f32, []int64{1, 4}, 1, 2, 3, 4), arr(f32, []int64{4}, 2, 2, 2, 2), arr(f32, []int64{4}, 1, 1, 1, 1)},
			arr(f32, []int64{1, 4}, ln(1), ln(2), ln(3), ln(4))},
		{"maxpool", OpMaxPool, Attributes{"kernel_shape": []any{2.0, 2.0}, "strides": []any{2.0, 2.0}},
			[]*Array{arr(f32, []int64{1, 1, 4, 4}, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)},
			arr(f32, []int64{1, 1, 2, 2}, 6, 8, 14, 16)},
		{"avgpool", OpAvgPool, Attributes{"kernel_shape": []any{2.0, 2.0}, "strides": []any{2.0, 2.0}},
			[]*Array{arr(f32, []int64{1, 1, 4, 4}, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)},
			arr(f32, []int64{1, 1, 2, 2}, 3.5, 5.5, 11.5, 13.5)},
		{"avgpool pads", OpAvgPool, Attributes{"kernel_shape": []any{2.0, 2.0}, "strides": []any{2.0, 2.0}, "pads": []any{1.0, 1.0, 1.0, 1.0}},
			[]*Array{arr(f32, []int64{1, 1, 3, 3}, 1, 2, 3, 4, 5, 6, 7, 8, 9)},
			arr(f32, []int64{1, 1, 2, 2}, 1, 2.5, 5.5, 7)},
		{"avgpool count_include_pad", OpAvgPool, Attributes{"kernel_shape": []any{2.0, 2.0}, "strides": []any{2.0, 2.0}, "pads": []any{1.0, 1.0, 1.0, 1.0}, "count_include_pad": true},
			[]*Array{arr(f32, []int64{1, 1, 3, 3}, 1, 2, 3, 4, 5, 6, 7, 8, 9)},
			arr(f32, []int64{1, 1, 2, 2}, 0.25, 1.25, 2.75, 7)},
		{"maxpool int8 pads", OpMaxPool, Attributes{"kernel_shape": []any{2.0, 2.0}, "pads": []any{1.0, 1.0, 0.0, 0.0}},
			[]*Array{arr(i8, []int64{1, 1, 2, 2}, -5, -6, -7, -8)},
			arr(i8, []int64{1, 1, 2, 2}, -5, -5, -5, -5)},
		{"reshape 0 and -1", OpReshape, Attributes{"shape": []any{0.0, -1.0}},
			[]*Array{arr(f32, []int64{2, 1, 3}, 1, 2, 3, 4, 5, 6)}, arr(f32, []int64{2, 3}, 1, 2, 3, 4, 5, 6)},
		{"transpose 2d default perm", OpTranspose, nil,
			[]*Array{arr(f32, []int64{2, 3}, 1, 2, 3, 4, 5, 6)}, arr(f32, []int64{3, 2}, 1, 4, 2, 5, 3, 6)},
		{"transpose 3d", OpTranspose, Attributes{"perm": []any{1.0, 0.0, 2.0}},
			[]*Array{arr(f32, []int64{2, 2, 2}, 0, 1, 2, 3, 4, 5, 6, 7)}, arr(f32, []int64{2, 2, 2}, 0, 1, 4, 5, 2, 3, 6, 7)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == nil { // DIV float: 1/3 rounded to float32
				tc.ins = append(tc.ins, arr(Float32, []int64{1}, 3))
				tc.want = arr(Float32, []int64{2}, sq(1.0/3), 1)
			}
			got, err := runOne(tc.typ, tc.attrs, tc.want.Shape, tc.want.DType, tc.ins...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluateErrors(t *testing.T) {
	if _, err := runOne(OpDiv, nil, []int64{1}, Int8, arr(Int8, []int64{1}, 4), arr(Int8, []int64{1}, 0)); err == nil ||
		!strings.Contains(err.Error(), "division by zero") {
		t.Errorf("int division by zero: err = %v", err)
	}
	if _, err := runOne(OpRelu, nil, []int64{1}, Float16, arr(Float16, []int64{1}, 0.1)); err == nil ||
		!strings.Contains(err.Error(), "not a float16 value") {
		t.Errorf("unrepresentable input: err = %v", err)
	}
	if _, err := runOne(OpRelu, nil, []int64{1}, Int8, arr(Int8, []int64{1}, 300)); err == nil {
		t.Error("int8 input 300 accepted")
	}
	g, err := LoadFile(filepath.Join("..", "testdata", "mlp.json"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := RandomInputs(g, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Evaluate(ctx, g, in); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v", err)
	}
	delete(in, "W1")
	if _, err := Evaluate(context.Background(), g, in); err == nil || !strings.Contains(err.Error(), `"W1" is missing`) {
		t.Errorf("missing input: err = %v", err)
	}
	in["bogus"] = arr(Float32, []int64{1}, 0)
	if _, err := Evaluate(context.Background(), g, in); err == nil || !strings.Contains(err.Error(), `"bogus" is not an input`) {
		t.Errorf("extra input: err = %v", err)
	}
}

func TestRandomInputsDeterministic(t *testing.T) {
	g, err := LoadFile(filepath.Join("..", "testdata", "mlp.json"))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := RandomInputs(g, 7)
	b, _ := RandomInputs(g, 7)
	c, _ := RandomInputs(g, 8)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed differs:\n%s", diff)
	}
	if cmp.Equal(a, c) {
		t.Error("seeds 7 and 8 give the same inputs")
	}
	if diff := cmp.Diff([]string{"W1", "W2", "W3", "b1", "b2", "b3", "x"}, sortedKeys(a)); diff != "" {
		t.Errorf("inputs (-want +got):\n%s", diff)
	}
}

// TestEvaluateTransformer runs the shipped encoder layer and checks properties
// the hand cases do not reach: softmax rows sum to 1, layernorm rows have mean
// ~0 and (with random gamma/beta) stay finite.
func TestEvaluateTransformer(t *testing.T) {
	g, err := LoadFile(filepath.Join("..", "testdata", "transformer_encoder.json"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := RandomInputs(g, 42)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := Evaluate(context.Background(), g, in)
	if err != nil {
		t.Fatal(err)
	}
	probs := vals["probs"]
	for r := 0; r < len(probs.Data)/128; r++ {
		sum := 0.0
		for _, v := range probs.Data[r*128 : (r+1)*128] {
			sum += v
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Fatalf("softmax row %d sums to %v", r, sum)
		}
	}
	for _, v := range vals["y"].Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("output holds %v", v)
		}
	}
	if diff := cmp.Diff([]string{"y"}, g.Outputs()); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
}

// BenchmarkEvaluateResNetBlock evaluates the shipped 1x64x56x56 basic block
// (231 M MACs) on seeded inputs.
func BenchmarkEvaluateResNetBlock(b *testing.B) {
	g, err := LoadFile(filepath.Join("..", "testdata", "resnet_block.json"))
	if err != nil {
		b.Fatal(err)
	}
	in, err := RandomInputs(g, 1)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Evaluate(context.Background(), g, in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseTransformer(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "transformer_encoder.json"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Parse(data, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}
