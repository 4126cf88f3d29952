package model

// The models committed under testdata/onnx/ (regenerate with
// go test ./model -run TestONNXTestdata -update). Each has a hand-written
// kpuopt JSON twin testdata/onnx/NAME.json that the import must equal (with
// the symbolic dims of onnxTestDims).

// onnxTestDims are the --dim values the models with symbolic dims import with.
var onnxTestDims = map[string]map[string]int64{"mlp_dynamic": {"batch": 3}}

func onnxTestModels() map[string]modelSpec {
	return map[string]modelSpec{
		// Two Gemm layers: the first ([16,32] weight, [32] bias) is a LINEAR
		// with bias, the second (transB=1, as PyTorch exports nn.Linear) a
		// MATMUL with transpose_b followed by an ADD of the bias.
		"mlp": {
			name: "mlp", opset: 17,
			inputs:  []valueSpec{vi("x", onnxFloat, 4, 16)},
			outputs: []valueSpec{vi("y", onnxFloat, 4, 8)},
			inits:   []tensorSpec{weight("fc1.weight", 16, 32), weight("fc1.bias", 32), weight("fc2.weight", 8, 32), weight("fc2.bias", 8)},
			nodes: []nodeSpec{
				node("Gemm", "fc1", []string{"x", "fc1.weight", "fc1.bias"}, []string{"h"}),
				node("Relu", "act", []string{"h"}, []string{"a"}),
				node("Gemm", "fc2", []string{"a", "fc2.weight", "fc2.bias"}, []string{"y"}, aInt("transB", 1), aFloat("alpha", 1), aFloat("beta", 1)),
			},
		},
		// Conv 3x3 (pads 1) + bias, Relu, MaxPool 2x2/2, GlobalAveragePool,
		// Flatten.
		"conv_block": {
			name: "conv_block", opset: 13,
			inputs:    []valueSpec{vi("image", onnxFloat, 1, 3, 16, 16)},
			outputs:   []valueSpec{vi("features", onnxFloat, 1, 8)},
			valueInfo: []valueSpec{vi("conv_out", onnxFloat, 1, 8, 16, 16), vi("pooled", onnxFloat, 1, 8, 8, 8)},
			inits:     []tensorSpec{weight("conv.weight", 8, 3, 3, 3), weight("conv.bias", 8)},
			nodes: []nodeSpec{
				node("Conv", "conv", []string{"image", "conv.weight", "conv.bias"}, []string{"conv_out"},
					aInts("kernel_shape", 3, 3), aInts("pads", 1, 1, 1, 1), aInts("strides", 1, 1)),
				node("Relu", "relu", []string{"conv_out"}, []string{"relu_out"}),
				node("MaxPool", "pool", []string{"relu_out"}, []string{"pooled"}, aInts("kernel_shape", 2, 2), aInts("strides", 2, 2)),
				node("GlobalAveragePool", "gap", []string{"pooled"}, []string{"gap_out"}),
				node("Flatten", "flatten", []string{"gap_out"}, []string{"features"}),
			},
		},
		// Single-head self-attention: Q, K, V projections, Q K^T scaled by a
		// Constant, Softmax, P V.
		"attention": {
			name: "attention", opset: 17,
			inputs:  []valueSpec{vi("x", onnxFloat, 1, 8, 16)},
			outputs: []valueSpec{vi("out", onnxFloat, 1, 8, 16)},
			inits:   []tensorSpec{weight("wq", 16, 16), weight("wk", 16, 16), weight("wv", 16, 16)},
			nodes: []nodeSpec{
				node("MatMul", "q_proj", []string{"x", "wq"}, []string{"q"}),
				node("MatMul", "k_proj", []string{"x", "wk"}, []string{"k"}),
				node("MatMul", "v_proj", []string{"x", "wv"}, []string{"v"}),
				node("Transpose", "k_t", []string{"k"}, []string{"kt"}, aInts("perm", 0, 2, 1)),
				node("MatMul", "scores", []string{"q", "kt"}, []string{"s"}),
				node("Constant", "scale_const", nil, []string{"scale"}, aTensor("value", scalar("", 0.25))),
				node("Mul", "scale", []string{"s", "scale"}, []string{"s_scaled"}),
				node("Softmax", "softmax", []string{"s_scaled"}, []string{"p"}, aInt("axis", -1)),
				node("MatMul", "context", []string{"p", "v"}, []string{"out"}),
			},
		},
		// A symbolic batch dimension: import with --dim batch=3.
		"mlp_dynamic": {
			name: "mlp_dynamic", opset: 17,
			inputs:  []valueSpec{vi("x", onnxFloat, "batch", 16)},
			outputs: []valueSpec{vi("y", onnxFloat, "batch", 32)},
			inits:   []tensorSpec{weight("fc1.weight", 16, 32), weight("fc1.bias", 32)},
			nodes: []nodeSpec{
				node("Gemm", "fc1", []string{"x", "fc1.weight", "fc1.bias"}, []string{"h"}),
				node("Sigmoid", "act", []string{"h"}, []string{"y"}),
			},
		},
		// LayerNormalization over the last axis, an Identity, and a Reshape
		// whose target shape is an int64 initializer.
		"layernorm": {
			name: "layernorm", opset: 17,
			inputs:  []valueSpec{vi("x", onnxFloat, 2, 4, 16)},
			outputs: []valueSpec{vi("y", onnxFloat, 8, 16)},
			inits:   []tensorSpec{weight("ln.gamma", 16), weight("ln.beta", 16), int64s("target_shape", -1, 16)},
			nodes: []nodeSpec{
				node("LayerNormalization", "ln", []string{"x", "ln.gamma", "ln.beta"}, []string{"normed"}, aInt("axis", -1), aFloat("epsilon", 0.5)),
				node("Identity", "alias", []string{"normed"}, []string{"normed_alias"}),
				node("Reshape", "flatten_tokens", []string{"normed_alias", "target_shape"}, []string{"y"}),
			},
		},
	}
}
