package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
)

// MaxFileBytes bounds the size of a graph file LoadFile reads.
const MaxFileBytes = 256 << 20

// LoadFile reads, parses and validates the graph file at path (kpu-sim's
// JSON graph format or the single-operator shorthand), or imports it as an
// ONNX model when IsONNXFile says so (ParseONNX with default options).
func LoadFile(path string) (*Graph, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read graph: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read graph %s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s: file is larger than the limit of %d bytes", path, MaxFileBytes)
	}
	if IsONNXFile(path, data) {
		return ParseONNX(data, path, ONNXOptions{})
	}
	return Parse(data, path)
}

// Parse decodes and validates a graph. source names the input in error
// messages (usually the file path). Two forms are accepted:
//
//   - kpu-sim's graph JSON: {"name", "description", "tensors": {name: {shape,
//     dtype, layout}}, "operators": [{name, type, inputs, outputs,
//     attributes}], "kpu_config" (ignored)};
//   - the single-operator shorthand {"op": "matmul", "A": {shape, dtype},
//     "B": {...}, "C": {...}} (C may be omitted and is then inferred).
func Parse(data []byte, source string) (*Graph, error) {
	if source == "" {
		source = "graph"
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s: %w: the file is empty", source, ErrInvalid)
	}
	if t := bytes.TrimSpace(data); t[0] != '{' && json.Valid(t) {
		return nil, fmt.Errorf("%s: %w: the top level must be a JSON object", source, ErrInvalid)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("%s: %w", source, jsonError(data, err))
	}
	if top == nil {
		return nil, fmt.Errorf("%s: %w: the top level must be a JSON object, got null", source, ErrInvalid)
	}
	var g *Graph
	var err error
	if _, ok := top["op"]; ok {
		g, err = parseShorthand(top, source)
	} else {
		g, err = parseNative(top, source)
	}
	if err != nil {
		return nil, err
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return g, nil
}

// jsonError rewrites a decoding error with the line and column it occurred at.
func jsonError(data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var off int64 = -1
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "unexpected end of JSON input") {
		return fmt.Errorf("%w: truncated JSON (unexpected end of input)", ErrInvalid)
	}
	if off < 0 || off > int64(len(data)) {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := int(off) - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Errorf("%w: line %d, column %d: %w", ErrInvalid, line, col, err)
}

// decodeStrict decodes raw into v, rejecting unknown fields.
func decodeStrict(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fmt.Errorf("field %q: want %s, got JSON %s", te.Field, te.Type, te.Value)
		}
		return err
	}
	return nil
}

type tensorJSON struct {
	Shape  *[]int64 `json:"shape"`
	DType  *string  `json:"dtype"`
	Layout string   `json:"layout"`
}

func parseTensor(raw json.RawMessage, name string) (*Tensor, error) {
	var tj tensorJSON
	if err := decodeStrict(raw, &tj); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", name, err)
	}
	if tj.Shape == nil {
		return nil, fmt.Errorf("tensor %q: field \"shape\" is missing", name)
	}
	if tj.DType == nil {
		return nil, fmt.Errorf("tensor %q: field \"dtype\" is missing", name)
	}
	dt, err := ParseDType(*tj.DType)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: field \"dtype\": %w", name, err)
	}
	shape := *tj.Shape
	if shape == nil {
		shape = []int64{}
	}
	return &Tensor{Name: name, Shape: shape, DType: dt, Layout: tj.Layout}, nil
}

type operatorJSON struct {
	Name       string         `json:"name"`
	Type       *string        `json:"type"`
	Inputs     []string       `json:"inputs"`
	Outputs    []string       `json:"outputs"`
	Attributes map[string]any `json:"attributes"`
}

var nativeKeys = []string{"name", "description", "tensors", "operators", "kpu_config"}

func parseNative(top map[string]json.RawMessage, source string) (*Graph, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w: %s", source, ErrInvalid, fmt.Sprintf(format, args...))
	}
	for _, k := range sortedKeys(top) {
		if !slices.Contains(nativeKeys, k) {
			return nil, bad("unknown top-level field %q (known: %s; or \"op\" for the shorthand)", k, strings.Join(nativeKeys, ", "))
		}
	}
	g := &Graph{Source: source, Tensors: map[string]*Tensor{}}
	if raw, ok := top["name"]; ok {
		if err := json.Unmarshal(raw, &g.Name); err != nil {
			return nil, bad("field \"name\": want a string")
		}
	}
	if raw, ok := top["description"]; ok {
		if err := json.Unmarshal(raw, &g.Description); err != nil {
			return nil, bad("field \"description\": want a string")
		}
	}
	rawTensors, ok := top["tensors"]
	if !ok {
		return nil, bad("field \"tensors\" is missing")
	}
	var tensors map[string]json.RawMessage
	if err := json.Unmarshal(rawTensors, &tensors); err != nil || tensors == nil {
		return nil, bad("field \"tensors\": want an object mapping tensor names to {shape, dtype, layout}")
	}
	for _, name := range sortedKeys(tensors) {
		t, err := parseTensor(tensors[name], name)
		if err != nil {
			return nil, bad("%v", err)
		}
		g.Tensors[name] = t
	}
	rawOps, ok := top["operators"]
	if !ok {
		return nil, bad("field \"operators\" is missing")
	}
	var ops []json.RawMessage
	if err := json.Unmarshal(rawOps, &ops); err != nil {
		return nil, bad("field \"operators\": want a list of {name, type, inputs, outputs, attributes}")
	}
	for i, raw := range ops {
		var oj operatorJSON
		if err := decodeStrict(raw, &oj); err != nil {
			return nil, bad("operator %d: %v", i, err)
		}
		label := fmt.Sprintf("operator %d", i)
		if oj.Name != "" {
			label = fmt.Sprintf("operator %q", oj.Name)
		}
		if oj.Type == nil {
			return nil, bad("%s: field \"type\" is missing", label)
		}
		t, err := ParseOpType(*oj.Type)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", source, label, err)
		}
		op := &Operator{Name: oj.Name, Type: t, Inputs: oj.Inputs, Outputs: oj.Outputs}
		if len(oj.Attributes) > 0 {
			op.Attrs = Attributes(oj.Attributes)
		}
		if op.Inputs == nil {
			op.Inputs = []string{}
		}
		if op.Outputs == nil {
			op.Outputs = []string{}
		}
		g.Operators = append(g.Operators, op)
	}
	return g, nil
}

var shorthandKeys = []string{"op", "name", "A", "B", "C", "attributes"}

func parseShorthand(top map[string]json.RawMessage, source string) (*Graph, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w: %s", source, ErrInvalid, fmt.Sprintf(format, args...))
	}
	for _, k := range sortedKeys(top) {
		if !slices.Contains(shorthandKeys, k) {
			return nil, bad("shorthand: unknown field %q (known: %s)", k, strings.Join(shorthandKeys, ", "))
		}
	}
	var opName string
	if err := json.Unmarshal(top["op"], &opName); err != nil {
		return nil, bad("shorthand: field \"op\": want a string")
	}
	t, err := ParseOpType(opName)
	if err != nil {
		return nil, fmt.Errorf("%s: shorthand: %w", source, err)
	}
	if t != OpMatMul {
		return nil, fmt.Errorf("%s: shorthand: %w: op %q (the shorthand covers matmul; write other operators in the graph format)", source, ErrUnsupportedOp, opName)
	}
	g := &Graph{Name: "matmul", Source: source, Tensors: map[string]*Tensor{}}
	if raw, ok := top["name"]; ok {
		if err := json.Unmarshal(raw, &g.Name); err != nil {
			return nil, bad("shorthand: field \"name\": want a string")
		}
	}
	for _, n := range []string{"A", "B"} {
		raw, ok := top[n]
		if !ok {
			return nil, bad("shorthand: operand %q is missing", n)
		}
		tt, err := parseTensor(raw, n)
		if err != nil {
			return nil, bad("shorthand: %v", err)
		}
		g.Tensors[n] = tt
	}
	op := &Operator{Name: "matmul", Type: OpMatMul, Inputs: []string{"A", "B"}, Outputs: []string{"C"}}
	if raw, ok := top["attributes"]; ok {
		var attrs map[string]any
		if err := json.Unmarshal(raw, &attrs); err != nil {
			return nil, bad("shorthand: field \"attributes\": want an object")
		}
		if len(attrs) > 0 {
			op.Attrs = attrs
		}
	}
	g.Operators = []*Operator{op}
	if raw, ok := top["C"]; ok {
		tt, err := parseTensor(raw, "C")
		if err != nil {
			return nil, bad("shorthand: %v", err)
		}
		g.Tensors["C"] = tt
		return g, nil
	}
	// C omitted: infer it from A and B.
	a, b := g.Tensors["A"], g.Tensors["B"]
	for _, tt := range []*Tensor{a, b} {
		if _, err := checkShape(tt.Shape); err != nil {
			return nil, bad("shorthand: tensor %q: %v", tt.Name, err)
		}
	}
	got, err := infer(op, []*Tensor{a, b})
	if err != nil {
		return nil, g.opErr(op, fmt.Errorf("%w: %w", ErrInvalid, err))
	}
	g.Tensors["C"] = &Tensor{Name: "C", Shape: got.shape, DType: got.dtypes[0]}
	return g, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
