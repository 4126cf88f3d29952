package model

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const onnxDir = "../testdata/onnx"

// TestONNXTestdata: the committed models are what the writer produces, each
// imports to exactly its hand-written JSON twin, and both evaluate to the
// same values.
func TestONNXTestdata(t *testing.T) {
	models := onnxTestModels()
	for _, name := range sortedKeys(models) {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(onnxDir, name+".onnx")
			data := models[name].encode()
			if *update {
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			disk, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(disk, data) {
				t.Fatalf("%s differs from the writer's output (run with -update)", path)
			}
			got, err := LoadONNXFile(path, ONNXOptions{Dims: onnxTestDims[name]})
			if err != nil {
				t.Fatalf("LoadONNXFile: %v", err)
			}
			want, err := LoadFile(filepath.Join(onnxDir, name+".json"))
			if err != nil {
				t.Fatalf("LoadFile twin: %v", err)
			}
			got.Source, want.Source = "", ""
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("import differs from %s.json (-want +got):\n%s", name, d)
			}
			in, err := RandomInputs(got, 7)
			if err != nil {
				t.Fatal(err)
			}
			gv, err := Evaluate(context.Background(), got, in)
			if err != nil {
				t.Fatal(err)
			}
			wv, err := Evaluate(context.Background(), want, in)
			if err != nil {
				t.Fatal(err)
			}
			for _, out := range want.Outputs() {
				if d := cmp.Diff(wv[out], gv[out]); d != "" {
					t.Errorf("output %q differs (-json +onnx):\n%s", out, d)
				}
			}
			// The imported graph writes and re-reads as itself.
			js, err := Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(js, "")
			if err != nil {
				t.Fatalf("re-reading the written import: %v", err)
			}
			back.Source = ""
			if d := cmp.Diff(got, back); d != "" {
				t.Errorf("write+read changed the graph:\n%s", d)
			}
		})
	}
}

// evalONNX imports spec and evaluates it on the given inputs (missing
// inputs are drawn at random with seed 3).
func evalONNX(t *testing.T, spec modelSpec, opts ONNXOptions, given map[string]*Array) (*Graph, map[string]*Array) {
	t.Helper()
	g, err := ParseONNX(spec.encode(), spec.name+".onnx", opts)
	if err != nil {
		t.Fatalf("ParseONNX: %v", err)
	}
	in, err := RandomInputs(g, 3)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range given {
		in[k] = v
	}
	vals, err := Evaluate(context.Background(), g, in)
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	for k, v := range in {
		vals[k] = v
	}
	return g, vals
}

func approx(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-5*(1+math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// TestONNXSemantics checks imports against ONNX semantics computed by hand
// in the test (not through kpuopt's operators).
func TestONNXSemantics(t *testing.T) {
	t.Run("gemm transB with [1,N] bias", func(t *testing.T) {
		spec := modelSpec{name: "g", opset: 13,
			inputs:  []valueSpec{vi("a", onnxFloat, 3, 4)},
			outputs: []valueSpec{vi("y", onnxFloat, 3, 2)},
			inits:   []tensorSpec{weight("b", 2, 4), weight("c", 1, 2)},
			nodes:   []nodeSpec{node("Gemm", "gemm", []string{"a", "b", "c"}, []string{"y"}, aInt("transB", 1))},
		}
		g, v := evalONNX(t, spec, ONNXOptions{}, nil)
		if types := opTypes(g); !slices.Equal(types, []OpType{OpMatMul, OpAdd}) {
			t.Fatalf("ops %v, want MATMUL, ADD", types)
		}
		a, b, c := v["a"].Data, v["b"].Data, v["c"].Data
		want := make([]float64, 6)
		for i := 0; i < 3; i++ {
			for j := 0; j < 2; j++ {
				s := c[j]
				for k := 0; k < 4; k++ {
					s += a[i*4+k] * b[j*4+k]
				}
				want[i*2+j] = s
			}
		}
		approx(t, "y", v["y"].Data, want)
	})
	t.Run("softmax opset 11 over a 2-D view", func(t *testing.T) {
		spec := modelSpec{name: "s", opset: 11,
			inputs:  []valueSpec{vi("x", onnxFloat, 2, 3, 2)},
			outputs: []valueSpec{vi("y", onnxFloat, 2, 3, 2)},
			nodes:   []nodeSpec{node("Softmax", "sm", []string{"x"}, []string{"y"})}, // axis 1 by default
		}
		g, v := evalONNX(t, spec, ONNXOptions{}, nil)
		if types := opTypes(g); !slices.Equal(types, []OpType{OpReshape, OpSoftmax, OpReshape}) {
			t.Fatalf("ops %v, want RESHAPE, SOFTMAX, RESHAPE", types)
		}
		x := v["x"].Data
		want := make([]float64, 12)
		for r := 0; r < 2; r++ {
			sum := 0.0
			for i := 0; i < 6; i++ {
				sum += math.Exp(x[r*6+i])
			}
			for i := 0; i < 6; i++ {
				want[r*6+i] = math.Exp(x[r*6+i]) / sum
			}
		}
		approx(t, "y", v["y"].Data, want)
	})
	t.Run("clip bounds from constant inputs, global average pool, flatten", func(t *testing.T) {
		spec := modelSpec{name: "c", opset: 13,
			inputs:  []valueSpec{vi("x", onnxFloat, 1, 2, 2, 2)},
			outputs: []valueSpec{vi("y", onnxFloat, 1, 2)},
			inits:   []tensorSpec{scalar("lo", -0.25), scalar("hi", 0.5)},
			nodes: []nodeSpec{
				node("Clip", "clip", []string{"x", "lo", "hi"}, []string{"c"}),
				node("GlobalAveragePool", "gap", []string{"c"}, []string{"p"}),
				node("Flatten", "flat", []string{"p"}, []string{"y"}),
			},
		}
		x := &Array{Shape: []int64{1, 2, 2, 2}, DType: Float32, Data: []float64{-1, 0, 0.25, 1, 0.5, 0.5, -0.5, 0}}
		_, v := evalONNX(t, spec, ONNXOptions{}, map[string]*Array{"x": x})
		approx(t, "y", v["y"].Data, []float64{(-0.25 + 0 + 0.25 + 0.5) / 4, (0.5 + 0.5 - 0.25 + 0) / 4})
	})
	t.Run("conv auto_pad SAME_UPPER", func(t *testing.T) {
		spec := modelSpec{name: "c", opset: 13,
			inputs:  []valueSpec{vi("x", onnxFloat, 1, 1, 5, 5)},
			outputs: []valueSpec{vi("y", onnxFloat, 1, 2, 3, 3)},
			inits:   []tensorSpec{weight("w", 2, 1, 2, 2)},
			nodes: []nodeSpec{node("Conv", "conv", []string{"x", "w"}, []string{"y"},
				aStr("auto_pad", "SAME_UPPER"), aInts("strides", 2, 2))},
		}
		g, _ := evalONNX(t, spec, ONNXOptions{}, nil)
		pads, err := g.Operators[0].Attrs.Ints("pads", nil)
		if err != nil {
			t.Fatal(err)
		}
		// out = ceil(5/2) = 3; total pad = (3-1)*2 + 2 - 5 = 1, the extra at the end.
		if d := cmp.Diff([]int64{0, 0, 1, 1}, pads); d != "" {
			t.Fatalf("pads (-want +got):\n%s", d)
		}
	})
	t.Run("batchnorm folds to MUL and ADD", func(t *testing.T) {
		spec := modelSpec{name: "bn", opset: 15,
			inputs:  []valueSpec{vi("x", onnxFloat, 1, 4, 3, 3)},
			outputs: []valueSpec{vi("y", onnxFloat, 1, 4, 3, 3)},
			inits:   []tensorSpec{weight("s", 4), weight("b", 4), weight("m", 4), weight("v", 4)},
			nodes:   []nodeSpec{node("BatchNormalization", "bn", []string{"x", "s", "b", "m", "v"}, []string{"y"}, aFloat("epsilon", 1e-3))},
		}
		g, _ := evalONNX(t, spec, ONNXOptions{}, nil)
		if types := opTypes(g); !slices.Equal(types, []OpType{OpMul, OpAdd}) {
			t.Fatalf("ops %v, want MUL, ADD", types)
		}
		want := map[string][]int64{"bn.folded_scale": {4, 1, 1}, "bn.folded_shift": {4, 1, 1}}
		for name, shape := range want {
			if tt := g.Tensors[name]; tt == nil || !slices.Equal(tt.Shape, shape) {
				t.Errorf("tensor %q = %v, want shape %v", name, tt, shape)
			}
		}
		if _, ok := g.Tensors["m"]; ok {
			t.Errorf("the running mean should be folded away, not a graph tensor")
		}
	})
}

func opTypes(g *Graph) []OpType {
	var out []OpType
	for _, op := range g.Operators {
		out = append(out, op.Type)
	}
	return out
}

func TestONNXSymbolicDims(t *testing.T) {
	spec := modelSpec{name: "dyn", opset: 17,
		inputs:    []valueSpec{vi("x", onnxFloat, "batch", 16)},
		outputs:   []valueSpec{vi("y", onnxFloat, "batch", 8)},
		valueInfo: []valueSpec{vi("h", onnxFloat, "batch", "hidden")},
		inits:     []tensorSpec{weight("w1", 16, 8)},
		nodes: []nodeSpec{
			node("MatMul", "mm", []string{"x", "w1"}, []string{"h"}),
			node("Tanh", "act", []string{"h"}, []string{"y"}),
		},
	}
	data := spec.encode()
	tests := []struct {
		name    string
		dims    map[string]int64
		want    []int64
		wantErr string
	}{
		{name: "missing", wantErr: `graph input "x": dim 0 is the symbolic "batch": give it a value (kpuopt import --dim batch=N`},
		{name: "given", dims: map[string]int64{"batch": 5}, want: []int64{5, 8}},
		{name: "intermediate dim given too", dims: map[string]int64{"batch": 2, "hidden": 8}, want: []int64{2, 8}},
		{name: "intermediate dim disagrees", dims: map[string]int64{"batch": 2, "hidden": 9}, wantErr: `output "h" is declared with shape [2 9], inferred [2 8]`},
		{name: "unknown name", dims: map[string]int64{"batch": 2, "seq": 3}, wantErr: `dim override "seq" does not name a symbolic dimension`},
		{name: "zero", dims: map[string]int64{"batch": 0}, wantErr: `dim override batch=0: dims must be >= 1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := ParseONNX(data, "dyn.onnx", ONNXOptions{Dims: tc.dims})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "dyn.onnx: ") || !errors.Is(err, ErrONNX) {
					t.Fatalf("error %q should start with the file name and wrap ErrONNX", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, g.Tensors["y"].Shape); d != "" {
				t.Fatalf("y shape (-want +got):\n%s", d)
			}
		})
	}
}

// TestONNXErrors: every rejected model gets an error naming the file and
// what is wrong (the node and its type where there is one).
func TestONNXErrors(t *testing.T) {
	base := func() modelSpec {
		return modelSpec{name: "m", opset: 17,
			inputs:  []valueSpec{vi("x", onnxFloat, 2, 4)},
			outputs: []valueSpec{vi("y", onnxFloat, 2, 4)},
			inits:   []tensorSpec{weight("w", 4, 4)},
			nodes:   []nodeSpec{node("MatMul", "mm", []string{"x", "w"}, []string{"y"})},
		}
	}
	with := func(f func(*modelSpec)) []byte {
		m := base()
		f(&m)
		return m.encode()
	}
	withNode := func(n nodeSpec) []byte {
		return with(func(m *modelSpec) { m.nodes = []nodeSpec{n} })
	}
	valid := base().encode()
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "the file is empty"},
		{"truncated", valid[:len(valid)-3], "malformed ONNX protobuf"},
		{"absurd length", append([]byte{0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f}, valid...), "truncated or absurd length"},
		{"wrong wire type", append(pb(nil).varint(7, 3), valid...), "ModelProto.graph (field 7) has wire type 0, want 2"},
		{"bad tag", []byte{0x08, 0x01, 0x80}, "bad field tag"},
		{"json named .onnx", []byte(`{"op": "matmul"}`), "the file looks like JSON: name it .json"},
		{"no graph", pb(nil).varint(1, 8), "the model has no graph"},
		{"old opset", with(func(m *modelSpec) { m.opset = 6 }), "opset 6 is older than the oldest supported opset 7"},
		{"unsupported op", withNode(node("Erf", "erf1", []string{"x"}, []string{"y"})), `node "erf1" (Erf): unsupported operator type: ONNX operator "Erf" is not supported`},
		{"unnamed node", withNode(node("Sin", "", []string{"x"}, []string{"y"})), `node 0 (Sin): unsupported operator type`},
		{"int64 input", with(func(m *modelSpec) { m.inputs[0].elem = onnxInt64 }), `graph input "x": element type INT64 is not supported`},
		{"unknown input", withNode(node("Relu", "r", []string{"nope"}, []string{"y"})), `node "r" (Relu): input "nope" is not a graph input, an initializer or the output of an earlier node`},
		{"gemm alpha", withNode(node("Gemm", "g", []string{"x", "w"}, []string{"y"}, aFloat("alpha", 2))), `node "g" (Gemm): attribute "alpha" = 2: only 1 is supported`},
		{"gelu tanh", with(func(m *modelSpec) {
			m.opset = 20
			m.nodes = []nodeSpec{node("Gelu", "g", []string{"x"}, []string{"y"}, aStr("approximate", "tanh"))}
		}), `node "g" (Gelu): attribute "approximate" = "tanh"`},
		{"unknown attribute", withNode(node("Relu", "r", []string{"x"}, []string{"y"}, aInt("alpha", 1))), `node "r" (Relu): attribute "alpha" is not supported`},
		{"reshape shape not constant", withNode(node("Reshape", "rs", []string{"x", "x"}, []string{"y"})), `node "rs" (Reshape): input "x" (shape) must be an initializer or a Constant`},
		{"declared shape disagrees", with(func(m *modelSpec) { m.outputs[0].dims = []any{2, 5} }), `node "mm" (MatMul): output "y" is declared with shape [2 5], inferred [2 4]`},
		{"shape mismatch", with(func(m *modelSpec) { m.inits[0].dims = []int64{3, 4} }), `node "mm" (MatMul): as MATMUL: reduction dims differ`},
		{"training batchnorm", with(func(m *modelSpec) {
			m.inputs[0].dims = []any{2, 4, 3, 3}
			m.outputs[0].dims = []any{2, 4, 3, 3}
			m.inits = []tensorSpec{weight("s", 4), weight("b", 4), weight("m", 4), weight("v", 4)}
			m.nodes = []nodeSpec{node("BatchNormalization", "bn", []string{"x", "s", "b", "m", "v"}, []string{"y"}, aInt("training_mode", 1))}
		}), `attribute "training_mode" = 1: only inference-mode`},
		{"maxpool indices used", with(func(m *modelSpec) {
			m.inputs[0].dims = []any{1, 1, 4, 4}
			m.outputs = []valueSpec{vi("idx", onnxInt64, 1, 1, 2, 2)}
			m.nodes = []nodeSpec{node("MaxPool", "mp", []string{"x"}, []string{"y", "idx"}, aInts("kernel_shape", 2, 2), aInts("strides", 2, 2))}
		}), `graph output "idx" is output 1 of node "mp" (MaxPool), which kpuopt does not compute`},
		{"ceil mode changes size", with(func(m *modelSpec) {
			m.inputs[0].dims = []any{1, 1, 5, 5}
			m.outputs[0].dims = []any{1, 1, 3, 3}
			m.nodes = []nodeSpec{node("MaxPool", "mp", []string{"x"}, []string{"y"}, aInts("kernel_shape", 2, 2), aInts("strides", 2, 2), aInt("ceil_mode", 1))}
		}), `"ceil_mode" = 1 changes the output size`},
		{"conv 1-D", with(func(m *modelSpec) {
			m.inputs[0].dims = []any{1, 4, 8}
			m.inits = []tensorSpec{weight("w", 4, 4, 3)}
			m.nodes = []nodeSpec{node("Conv", "c", []string{"x", "w"}, []string{"y"})}
		}), `node "c" (Conv): weight "w" has shape [4 4 3]: only 2-D convolutions`},
		{"custom domain", with(func(m *modelSpec) { m.nodes[0].domain = "com.microsoft" }), `node "mm" (MatMul): unsupported operator type: domain "com.microsoft" is not supported`},
		{"ai.onnx domain", with(func(m *modelSpec) { m.nodes[0].domain = "ai.onnx" }), ""},
		{"asymmetric MatMulInteger", with(func(m *modelSpec) {
			m.inputs[0].elem = onnxInt8
			m.outputs[0].elem = onnxInt32
			m.inits = []tensorSpec{{name: "w", elem: onnxInt8, dims: []int64{4, 4}}, {name: "bz", elem: onnxInt64, ints: []int64{3}}}
			m.nodes = []nodeSpec{node("MatMulInteger", "mmi", []string{"x", "w", "", "bz"}, []string{"y"})}
		}), `node "mmi" (MatMulInteger): input 3 "bz": zero point 3: only zero points of 0`},
		{"graph output never produced", with(func(m *modelSpec) { m.outputs = append(m.outputs, vi("z", onnxFloat, 2)) }), `graph output "z" is not produced by any node`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseONNX(tc.data, "bad.onnx", ONNXOptions{})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "bad.onnx: ") {
				t.Fatalf("error\n  %v\nwant it to start with \"bad.onnx: \" and contain\n  %s", err, tc.want)
			}
		})
	}
}

func TestIsONNXFile(t *testing.T) {
	tests := []struct {
		path string
		data []byte
		want bool
	}{
		{"m.onnx", []byte("{}"), true},
		{"M.ONNX", nil, true},
		{"graph.json", []byte(`{"op": "matmul"}`), false},
		{"model.bin", []byte{0x08, 0x08, 0x12}, true},
		{"empty", nil, false},
	}
	for _, tc := range tests {
		if got := IsONNXFile(tc.path, tc.data); got != tc.want {
			t.Errorf("IsONNXFile(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

// TestONNXOpMapping: each ONNX operator maps to the kpuopt operators and
// attributes docs/onnx.md lists.
func TestONNXOpMapping(t *testing.T) {
	x4 := []valueSpec{vi("x", onnxFloat, 1, 2, 4, 4)}
	x2 := []valueSpec{vi("x", onnxFloat, 3, 4)}
	one := func(opset int64, ins []valueSpec, inits []tensorSpec, n nodeSpec) modelSpec {
		return modelSpec{name: "m", opset: opset, inputs: ins, inits: inits, nodes: []nodeSpec{n}}
	}
	tests := []struct {
		name  string
		spec  modelSpec
		types []OpType
		attrs Attributes // of the first operator (JSON form)
	}{
		{"Abs", one(13, x2, nil, node("Abs", "n", []string{"x"}, []string{"y"})), []OpType{OpAbs}, nil},
		{"Neg", one(13, x2, nil, node("Neg", "n", []string{"x"}, []string{"y"})), []OpType{OpNeg}, nil},
		{"Reciprocal", one(13, x2, nil, node("Reciprocal", "n", []string{"x"}, []string{"y"})), []OpType{OpRecip}, nil},
		{"Exp", one(13, x2, nil, node("Exp", "n", []string{"x"}, []string{"y"})), []OpType{OpExp}, nil},
		{"Sub with a row", one(13, x2, []tensorSpec{weight("r", 4)}, node("Sub", "n", []string{"x", "r"}, []string{"y"})), []OpType{OpSub}, nil},
		{"Div by a scalar", one(13, x2, []tensorSpec{scalar("s", 2)}, node("Div", "n", []string{"x", "s"}, []string{"y"})), []OpType{OpDiv}, nil},
		{"Gelu exact", one(20, x2, nil, node("Gelu", "n", []string{"x"}, []string{"y"})), []OpType{OpGelu}, nil},
		{"Clip opset 10 attributes", one(10, x2, nil, node("Clip", "n", []string{"x"}, []string{"y"}, aFloat("min", 0), aFloat("max", 6))),
			[]OpType{OpClamp}, Attributes{"min": 0.0, "max": 6.0}},
		{"Clip opset 13 min only", one(13, x2, []tensorSpec{scalar("lo", -1)}, node("Clip", "n", []string{"x", "lo"}, []string{"y"})),
			[]OpType{OpClamp}, Attributes{"min": -1.0}},
		{"GlobalMaxPool", one(13, x4, nil, node("GlobalMaxPool", "n", []string{"x"}, []string{"y"})),
			[]OpType{OpMaxPool}, Attributes{"kernel_shape": []any{4.0, 4.0}}},
		{"AveragePool count_include_pad", one(13, x4, nil, node("AveragePool", "n", []string{"x"}, []string{"y"},
			aInts("kernel_shape", 3, 3), aInts("pads", 1, 1, 1, 1), aInt("count_include_pad", 1))),
			[]OpType{OpAvgPool}, Attributes{"kernel_shape": []any{3.0, 3.0}, "pads": []any{1.0, 1.0, 1.0, 1.0}, "count_include_pad": true}},
		{"MaxPool ceil_mode where it does not matter", one(13, x4, nil, node("MaxPool", "n", []string{"x"}, []string{"y"},
			aInts("kernel_shape", 2, 2), aInts("strides", 2, 2), aInt("ceil_mode", 1))),
			[]OpType{OpMaxPool}, Attributes{"kernel_shape": []any{2.0, 2.0}, "strides": []any{2.0, 2.0}}},
		{"Conv depthwise VALID", one(13, x4, []tensorSpec{weight("w", 2, 1, 3, 3)}, node("Conv", "n", []string{"x", "w"}, []string{"y"},
			aInt("group", 2), aStr("auto_pad", "VALID"))),
			[]OpType{OpConv2D}, Attributes{"kernel_shape": []any{3.0, 3.0}, "group": 2.0}},
		{"Flatten axis 2", one(13, x4, nil, node("Flatten", "n", []string{"x"}, []string{"y"}, aInt("axis", 2))),
			[]OpType{OpReshape}, Attributes{"shape": []any{2.0, 16.0}}},
		{"Transpose default perm", one(13, x2, nil, node("Transpose", "n", []string{"x"}, []string{"y"})), []OpType{OpTranspose}, nil},
		{"Reshape from Constant", modelSpec{name: "m", opset: 13, inputs: x2, nodes: []nodeSpec{
			node("Constant", "c", nil, []string{"shape"}, aInts("value_ints", 0, 2, -1)),
			node("Reshape", "n", []string{"x", "shape"}, []string{"y"}),
		}}, []OpType{OpReshape}, Attributes{"shape": []any{0.0, 2.0, -1.0}}},
		{"Gemm transA without C", one(13, x2, []tensorSpec{weight("w", 3, 5)}, node("Gemm", "n", []string{"x", "w"}, []string{"y"}, aInt("transA", 1))),
			[]OpType{OpMatMul}, Attributes{"transpose_a": true}},
		{"Gemm beta 0 drops C", one(13, x2, []tensorSpec{weight("w", 4, 5), weight("c", 5)}, node("Gemm", "n", []string{"x", "w", "c"}, []string{"y"}, aFloat("beta", 0))),
			[]OpType{OpLinear}, nil},
		{"Softmax opset 11 on the last axis", one(11, x2, nil, node("Softmax", "n", []string{"x"}, []string{"y"})),
			[]OpType{OpSoftmax}, Attributes{"axis": 1.0}},
		{"MatMulInteger with zero points 0", modelSpec{name: "m", opset: 13,
			inputs: []valueSpec{vi("a", onnxInt8, 2, 3)},
			inits:  []tensorSpec{{name: "b", elem: onnxInt8, dims: []int64{3, 4}}, {name: "az", elem: onnxInt64, ints: []int64{0}}},
			nodes:  []nodeSpec{node("MatMulInteger", "n", []string{"a", "b", "az"}, []string{"y"})},
		}, []OpType{OpMatMul}, nil},
		{"Identity chain", modelSpec{name: "m", opset: 13, inputs: x2, nodes: []nodeSpec{
			node("Identity", "i1", []string{"x"}, []string{"a"}),
			node("Identity", "i2", []string{"a"}, []string{"b"}),
			node("Relu", "n", []string{"b"}, []string{"y"}),
		}}, []OpType{OpRelu}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := ParseONNX(tc.spec.encode(), "m.onnx", ONNXOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.types, opTypes(g)); d != "" {
				t.Fatalf("operator types (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.attrs, g.Operators[0].Attrs); d != "" {
				t.Errorf("attributes (-want +got):\n%s", d)
			}
			if tc.name == "MatMulInteger with zero points 0" && g.Tensors["y"].DType != Int32 {
				t.Errorf("y has dtype %s, want int32", g.Tensors["y"].DType)
			}
			if tc.name == "Identity chain" && !slices.Equal(g.Operators[0].Inputs, []string{"x"}) {
				t.Errorf("Relu reads %v, want the aliased [x]", g.Operators[0].Inputs)
			}
		})
	}
}

// BenchmarkParseONNX imports an 8-layer MLP with 1024x1024 float weights
// (32 MiB of initializers): decoding skips the weight payloads.
func BenchmarkParseONNX(b *testing.B) {
	spec := modelSpec{name: "big", opset: 17, inputs: []valueSpec{vi("x0", onnxFloat, 64, 1024)}}
	for i := 0; i < 8; i++ {
		w := "w" + string(rune('0'+i))
		spec.inits = append(spec.inits, weight(w, 1024, 1024))
		spec.nodes = append(spec.nodes, node("MatMul", "mm"+w, []string{"x" + string(rune('0'+i)), w}, []string{"x" + string(rune('1'+i))}))
	}
	data := spec.encode()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseONNX(data, "big.onnx", ONNXOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
