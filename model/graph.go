package model

// Tensor is a named n-dimensional array of one element type.
// Shape entries are positive; a rank-0 tensor (scalar) has an empty shape.
type Tensor struct {
	Name   string  `json:"-"`
	Shape  []int64 `json:"shape"`
	DType  DType   `json:"dtype"`
	Layout string  `json:"layout,omitempty"` // "row_major" (default)
}

// Elements is the number of elements of t (1 for a scalar).
func (t *Tensor) Elements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Bytes is the storage size of t in bytes.
func (t *Tensor) Bytes() int64 { return t.Elements() * t.DType.Size() }

// OpType is the canonical operator type name (upper case, as in kpu-sim's
// graph files). Aliases accepted on input are mapped to these by the loader.
type OpType string

// Canonical operator types.
const (
	OpMatMul    OpType = "MATMUL"
	OpLinear    OpType = "LINEAR"
	OpConv2D    OpType = "CONV2D"
	OpConv2DDW  OpType = "CONV2D_DEPTHWISE"
	OpAdd       OpType = "ADD"
	OpSub       OpType = "SUB"
	OpMul       OpType = "MUL"
	OpDiv       OpType = "DIV"
	OpRelu      OpType = "RELU"
	OpGelu      OpType = "GELU"
	OpSigmoid   OpType = "SIGMOID"
	OpTanh      OpType = "TANH"
	OpExp       OpType = "EXP"
	OpClamp     OpType = "CLAMP"
	OpAbs       OpType = "ABS"
	OpNeg       OpType = "NEGATE"
	OpRecip     OpType = "RECIPROCAL"
	OpSoftmax   OpType = "SOFTMAX"
	OpLayerNorm OpType = "LAYERNORM"
	OpMaxPool   OpType = "MAXPOOL"
	OpAvgPool   OpType = "AVGPOOL"
	OpReshape   OpType = "RESHAPE"
	OpTranspose OpType = "TRANSPOSE"
)

// Attributes are an operator's named parameters as read from the graph file
// (numbers are float64, lists are []any, as decoded from JSON). Typed access
// goes through the accessor methods, which validate.
type Attributes map[string]any

// Operator is one node of the graph. Inputs and Outputs name tensors of the
// graph's tensor map, in the operator's positional order.
type Operator struct {
	Name    string     `json:"name"`
	Type    OpType     `json:"type"`
	Inputs  []string   `json:"inputs"`
	Outputs []string   `json:"outputs"`
	Attrs   Attributes `json:"attributes,omitempty"`
}

// Graph is a computational graph: tensors and the operators that produce and
// consume them. Invariants after a successful Validate: every tensor named by
// an operator exists, each tensor has at most one producer, there are no
// cycles, shapes agree with shape inference, and Operators is in topological
// order.
type Graph struct {
	Name        string             `json:"name"`
	Description string             `json:"description,omitempty"`
	Tensors     map[string]*Tensor `json:"tensors"`
	Operators   []*Operator        `json:"operators"`
	// Source is the file the graph was read from ("" if built in memory); it
	// prefixes error messages.
	Source string `json:"-"`
}
