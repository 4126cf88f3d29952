package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Limits on what a graph file may declare. They reject absurd inputs (such as
// a 2^62-element tensor) before anything allocates or multiplies.
const (
	MaxRank     = 8       // dims per tensor
	MaxElements = 1 << 40 // elements per tensor
)

// ErrInvalid marks a graph that breaks a structural or shape rule.
var ErrInvalid = errors.New("invalid graph")

func (g *Graph) where() string {
	if g.Source == "" {
		return "graph"
	}
	return g.Source
}

func (g *Graph) opErr(op *Operator, err error) error {
	return fmt.Errorf("%s: operator %q (%s): %w", g.where(), op.Name, op.Type, err)
}

// checkShape validates one tensor's shape against the limits and returns its
// element count.
func checkShape(shape []int64) (int64, error) {
	if len(shape) > MaxRank {
		return 0, fmt.Errorf("rank %d exceeds the limit %d", len(shape), MaxRank)
	}
	n := int64(1)
	for i, d := range shape {
		if d <= 0 {
			return 0, fmt.Errorf("shape %v: dim %d is %d, dims must be >= 1", shape, i, d)
		}
		if d > MaxElements || n > MaxElements/d {
			return 0, fmt.Errorf("shape %v exceeds the limit of %d elements per tensor", shape, int64(MaxElements))
		}
		n *= d
	}
	return n, nil
}

// Validate checks the graph's invariants (see Graph) and puts Operators in
// topological order (stable: independent operators keep their file order).
// Every error names the source file, the operator and the tensor involved.
func (g *Graph) Validate() error {
	w := g.where()
	if len(g.Operators) == 0 {
		return fmt.Errorf("%s: %w: no operators", w, ErrInvalid)
	}
	names := make([]string, 0, len(g.Tensors))
	for name := range g.Tensors {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t := g.Tensors[name]
		if t == nil {
			return fmt.Errorf("%s: %w: tensor %q is null", w, ErrInvalid, name)
		}
		t.Name = name
		if name == "" {
			return fmt.Errorf("%s: %w: a tensor has an empty name", w, ErrInvalid)
		}
		if _, err := checkShape(t.Shape); err != nil {
			return fmt.Errorf("%s: %w: tensor %q: %w", w, ErrInvalid, name, err)
		}
		if t.DType.Size() == 0 {
			return fmt.Errorf("%s: %w: tensor %q: unknown dtype %q", w, ErrInvalid, name, t.DType)
		}
		if t.Layout != "" && t.Layout != "row_major" {
			return fmt.Errorf("%s: %w: tensor %q: layout %q is not supported (only row_major)", w, ErrInvalid, name, t.Layout)
		}
	}
	producer := map[string]int{}
	opNames := map[string]bool{}
	for i, op := range g.Operators {
		if op == nil {
			return fmt.Errorf("%s: %w: operator %d is null", w, ErrInvalid, i)
		}
		if op.Name == "" {
			return fmt.Errorf("%s: %w: operator %d (%s) has no name", w, ErrInvalid, i, op.Type)
		}
		if opNames[op.Name] {
			return fmt.Errorf("%s: %w: operator name %q is used twice", w, ErrInvalid, op.Name)
		}
		opNames[op.Name] = true
		info, ok := opInfos[op.Type]
		if !ok {
			_, err := ParseOpType(string(op.Type))
			return g.opErr(op, err)
		}
		if n := len(op.Inputs); n < info.minIn || n > info.maxIn {
			want := fmt.Sprint(info.minIn)
			if info.maxIn != info.minIn {
				want = fmt.Sprintf("%d or %d", info.minIn, info.maxIn)
			}
			return g.opErr(op, fmt.Errorf("%w: has %d inputs %v, want %s", ErrInvalid, n, op.Inputs, want))
		}
		if len(op.Outputs) != 1 {
			return g.opErr(op, fmt.Errorf("%w: has %d outputs %v, want 1", ErrInvalid, len(op.Outputs), op.Outputs))
		}
		if err := normalizeAttrs(op); err != nil {
			return g.opErr(op, fmt.Errorf("%w: %w", ErrInvalid, err))
		}
		for _, k := range op.Attrs.Names() {
			if !slices.Contains(info.attrs, k) {
				known := "none"
				if len(info.attrs) > 0 {
					known = strings.Join(info.attrs, ", ")
				}
				return g.opErr(op, fmt.Errorf("%w: unknown attribute %q (known: %s)", ErrInvalid, k, known))
			}
		}
		for _, t := range op.Inputs {
			if _, ok := g.Tensors[t]; !ok {
				return g.opErr(op, fmt.Errorf("%w: input tensor %q is not declared in \"tensors\"", ErrInvalid, t))
			}
		}
		for _, t := range op.Outputs {
			if _, ok := g.Tensors[t]; !ok {
				return g.opErr(op, fmt.Errorf("%w: output tensor %q is not declared in \"tensors\"", ErrInvalid, t))
			}
			if p, dup := producer[t]; dup {
				return g.opErr(op, fmt.Errorf("%w: output tensor %q is also produced by operator %q", ErrInvalid, t, g.Operators[p].Name))
			}
			if slices.Contains(op.Inputs, t) {
				return g.opErr(op, fmt.Errorf("%w: tensor %q is both input and output (a cycle)", ErrInvalid, t))
			}
			producer[t] = i
		}
	}
	_, read := g.usage()
	for _, name := range names {
		if _, ok := producer[name]; !ok && !read[name] {
			return fmt.Errorf("%s: %w: tensor %q is declared but no operator reads or writes it", w, ErrInvalid, name)
		}
	}
	if err := g.sortTopological(producer); err != nil {
		return err
	}
	for _, op := range g.Operators {
		ins := make([]*Tensor, len(op.Inputs))
		for i, n := range op.Inputs {
			ins[i] = g.Tensors[n]
		}
		got, err := infer(op, ins)
		if err != nil {
			return g.opErr(op, fmt.Errorf("%w: %w", ErrInvalid, err))
		}
		out := g.Tensors[op.Outputs[0]]
		if !slices.Equal(out.Shape, got.shape) {
			return g.opErr(op, fmt.Errorf("%w: output tensor %q has shape %v, inferred %v from %s",
				ErrInvalid, out.Name, out.Shape, got.shape, describeInputs(ins)))
		}
		if err := checkWork(g, op, out); err != nil {
			return g.opErr(op, fmt.Errorf("%w: %w", ErrInvalid, err))
		}
		if !slices.Contains(got.dtypes, out.DType) {
			return g.opErr(op, fmt.Errorf("%w: output tensor %q has dtype %s, want %s",
				ErrInvalid, out.Name, out.DType, joinDTypes(got.dtypes)))
		}
	}
	return nil
}

// checkWork rejects an operator whose MAC or vector-operation count would
// exceed MaxWork.
func checkWork(g *Graph, op *Operator, out *Tensor) error {
	if s, ok, err := g.gemm(op); ok {
		if err != nil {
			return err
		}
		if _, ok := mulLimit(s.Batch, s.M, s.N, s.K); !ok {
			return fmt.Errorf("GEMM %dx%dx%dx%d exceeds the work limit of %d MACs", s.Batch, s.M, s.N, s.K, int64(MaxWork))
		}
		return nil
	}
	if opInfos[op.Type].kind == kindPool {
		p, err := poolGeom(op, g.Tensors[op.Inputs[0]])
		if err != nil {
			return err
		}
		if _, ok := mulLimit(out.Elements(), p.KH, p.KW); !ok {
			return fmt.Errorf("pooling %v with a %dx%d window exceeds the work limit of %d operations", out.Shape, p.KH, p.KW, int64(MaxWork))
		}
	}
	return nil
}

// normalizeAttrs rewrites attribute values built in Go (int, []int64, ...)
// into the form JSON decoding gives (float64, []any), so that in-memory and
// file graphs compare equal and write+read is the identity. An empty map
// becomes nil.
func normalizeAttrs(op *Operator) error {
	if len(op.Attrs) == 0 {
		op.Attrs = nil
		return nil
	}
	data, err := json.Marshal(op.Attrs)
	if err != nil {
		return fmt.Errorf("attributes are not JSON values: %w", err)
	}
	var norm Attributes
	if err := json.Unmarshal(data, &norm); err != nil {
		return fmt.Errorf("attributes: %w", err)
	}
	op.Attrs = norm
	return nil
}

func describeInputs(ins []*Tensor) string {
	parts := make([]string, len(ins))
	for i, t := range ins {
		parts[i] = fmt.Sprintf("%q %v", t.Name, t.Shape)
	}
	return strings.Join(parts, ", ")
}

func joinDTypes(ds []DType) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = string(d)
	}
	return strings.Join(parts, " or ")
}

// sortTopological reorders g.Operators so that every producer precedes its
// consumers (Kahn's algorithm, always taking the earliest ready operator in
// file order). A cycle is an error naming the operators on it.
func (g *Graph) sortTopological(producer map[string]int) error {
	n := len(g.Operators)
	indeg := make([]int, n)
	users := make([][]int, n)
	for i, op := range g.Operators {
		for _, t := range op.Inputs {
			if p, ok := producer[t]; ok {
				indeg[i]++
				users[p] = append(users[p], i)
			}
		}
	}
	done := make([]bool, n)
	order := make([]*Operator, 0, n)
	for len(order) < n {
		next := -1
		for i := 0; i < n; i++ {
			if !done[i] && indeg[i] == 0 {
				next = i
				break
			}
		}
		if next < 0 {
			var cyc []string
			for i := 0; i < n; i++ {
				if !done[i] {
					cyc = append(cyc, fmt.Sprintf("%q", g.Operators[i].Name))
				}
			}
			return fmt.Errorf("%s: %w: the operators %s form a cycle (each waits for a tensor another produces)",
				g.where(), ErrInvalid, strings.Join(cyc, ", "))
		}
		done[next] = true
		order = append(order, g.Operators[next])
		for _, u := range users[next] {
			indeg[u]--
		}
	}
	g.Operators = order
	return nil
}

// Producer returns the operator that writes tensor name, or nil for a graph
// input.
func (g *Graph) Producer(name string) *Operator {
	for _, op := range g.Operators {
		if slices.Contains(op.Outputs, name) {
			return op
		}
	}
	return nil
}

// Inputs lists the tensors no operator produces and some operator reads
// (sorted by name): the data a caller supplies.
func (g *Graph) Inputs() []string {
	produced, used := g.usage()
	var out []string
	for name := range used {
		if !produced[name] {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Outputs lists the produced tensors no operator reads (sorted by name).
func (g *Graph) Outputs() []string {
	produced, used := g.usage()
	var out []string
	for name := range produced {
		if !used[name] {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func (g *Graph) usage() (produced, used map[string]bool) {
	produced, used = map[string]bool{}, map[string]bool{}
	for _, op := range g.Operators {
		for _, t := range op.Outputs {
			produced[t] = true
		}
		for _, t := range op.Inputs {
			used[t] = true
		}
	}
	return produced, used
}
