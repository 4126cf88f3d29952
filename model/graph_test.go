package model

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTopologicalOrder(t *testing.T) {
	src := `{"name": "rev", "tensors": {
	  "x": {"shape": [4], "dtype": "float32"}, "y": {"shape": [4], "dtype": "float32"},
	  "z": {"shape": [4], "dtype": "float32"}, "w": {"shape": [4], "dtype": "float32"},
	  "u": {"shape": [4], "dtype": "float32"}},
	 "operators": [
	  {"name": "last", "type": "add", "inputs": ["z", "w"], "outputs": ["u"]},
	  {"name": "second", "type": "relu", "inputs": ["y"], "outputs": ["z"]},
	  {"name": "first", "type": "ABS", "inputs": ["x"], "outputs": ["y"]},
	  {"name": "other", "type": "Negate", "inputs": ["x"], "outputs": ["w"]}]}`
	g, err := Parse([]byte(src), "rev.json")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, op := range g.Operators {
		names = append(names, op.Name)
	}
	if diff := cmp.Diff([]string{"first", "second", "other", "last"}, names); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"x"}, g.Inputs()); diff != "" {
		t.Errorf("inputs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"u"}, g.Outputs()); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
	if p := g.Producer("z"); p == nil || p.Name != "second" {
		t.Errorf("Producer(z) = %v", p)
	}
	if g.Operators[0].Type != OpAbs || g.Operators[3].Type != OpAdd {
		t.Errorf("types not canonical: %s, %s", g.Operators[0].Type, g.Operators[3].Type)
	}
}

func TestShorthandInfersC(t *testing.T) {
	g, err := Parse([]byte(`{"op": "GEMM", "A": {"shape": [8, 3, 5], "dtype": "int8"}, "B": {"shape": [4, 5], "dtype": "int8"},
	  "attributes": {"transpose_b": true}}`), "sh.json")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&Tensor{Name: "C", Shape: []int64{8, 3, 4}, DType: Int8}, g.Tensors["C"]); diff != "" {
		t.Errorf("C (-want +got):\n%s", diff)
	}
	s, ok, err := g.GEMM(g.Operators[0])
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	if diff := cmp.Diff(GEMMShape{Batch: 8, M: 3, N: 4, K: 5, DType: Int8, TransB: true}, s); diff != "" {
		t.Errorf("GEMM (-want +got):\n%s", diff)
	}
}

func TestGEMMViews(t *testing.T) {
	src := `{"name": "views", "tensors": {
	  "x": {"shape": [2, 8, 10, 10], "dtype": "bfloat16"},
	  "w": {"shape": [16, 4, 3, 3], "dtype": "bfloat16"},
	  "y": {"shape": [2, 16, 5, 5], "dtype": "float32"},
	  "wd": {"shape": [8, 1, 3, 3], "dtype": "bfloat16"},
	  "yd": {"shape": [2, 8, 10, 10], "dtype": "bfloat16"},
	  "a": {"shape": [3, 1, 6, 7], "dtype": "float16"}, "b": {"shape": [4, 7, 9], "dtype": "float16"},
	  "c": {"shape": [3, 4, 6, 9], "dtype": "float16"},
	  "l": {"shape": [2, 3, 7], "dtype": "float32"}, "lw": {"shape": [7, 5], "dtype": "float32"},
	  "lo": {"shape": [2, 3, 5], "dtype": "float32"}, "r": {"shape": [2, 3, 5], "dtype": "float32"}},
	 "operators": [
	  {"name": "conv", "type": "CONV2D", "inputs": ["x", "w"], "outputs": ["y"],
	   "attributes": {"group": 2, "strides": [2, 2], "pads": [1, 1, 0, 0]}},
	  {"name": "dw", "type": "CONV2D_DEPTHWISE", "inputs": ["x", "wd"], "outputs": ["yd"], "attributes": {"pads": [1, 1, 1, 1]}},
	  {"name": "bmm", "type": "MATMUL", "inputs": ["a", "b"], "outputs": ["c"]},
	  {"name": "fc", "type": "FC", "inputs": ["l", "lw"], "outputs": ["lo"]},
	  {"name": "act", "type": "RELU", "inputs": ["lo"], "outputs": ["r"]}]}`
	g, err := Parse([]byte(src), "views.json")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]GEMMShape{
		"conv": {Batch: 2, M: 2 * 5 * 5, N: 8, K: 4 * 9, DType: BFloat16},
		"dw":   {Batch: 8, M: 2 * 10 * 10, N: 1, K: 9, DType: BFloat16},
		"bmm":  {Batch: 12, M: 6, N: 9, K: 7, DType: Float16},
		"fc":   {Batch: 1, M: 6, N: 5, K: 7, DType: Float32},
	}
	for _, op := range g.Operators {
		s, ok, err := g.GEMM(op)
		if err != nil {
			t.Fatalf("%s: %v", op.Name, err)
		}
		w, isGEMM := want[op.Name]
		if ok != isGEMM {
			t.Errorf("%s: ok = %v, want %v", op.Name, ok, isGEMM)
		}
		if diff := cmp.Diff(w, s); diff != "" {
			t.Errorf("%s (-want +got):\n%s", op.Name, diff)
		}
		if ok && g.Work(op).MACs != s.MACs() {
			t.Errorf("%s: Work MACs %d != GEMM MACs %d", op.Name, g.Work(op).MACs, s.MACs())
		}
	}
	if diff := cmp.Diff(OpWork{VectorOps: 30, Bytes: 240}, g.Work(g.Operators[4])); diff != "" {
		t.Errorf("relu work (-want +got):\n%s", diff)
	}
}

func TestNormalizeAttrs(t *testing.T) {
	g := &Graph{Name: "n", Tensors: map[string]*Tensor{
		"x": {Shape: []int64{2, 3}, DType: Float32}, "y": {Shape: []int64{3, 2}, DType: Float32}}}
	g.Operators = []*Operator{{Name: "t", Type: OpTranspose, Inputs: []string{"x"}, Outputs: []string{"y"},
		Attrs: Attributes{"perm": []int64{1, 0}}}}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Attributes{"perm": []any{1.0, 0.0}}, g.Operators[0].Attrs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	data, err := Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(data, "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(g.Operators, back.Operators); diff != "" {
		t.Errorf("(-built +reread):\n%s", diff)
	}
}
