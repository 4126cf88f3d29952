package graph

import (
	"fmt"
	"sort"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// StepKind says how a step executes.
type StepKind int

// Step kinds.
const (
	StepGEMM   StepKind = iota // on the fabric, one mapping from the candidate set
	StepVector                 // a pass of the vector engine (or a BlockMover layout change)
	StepAlias                  // no data moves: the output shares the input's storage
)

func (k StepKind) String() string { return [...]string{"gemm", "vector", "alias"}[k] }

// Storage is one intermediate buffer: the output of an operator together with
// every RESHAPE (and strided-read TRANSPOSE) view of it. It may be resident in
// L3 from its producer's step to its last consumer's step.
type Storage struct {
	ID       int
	Name     string   // the producing operator's output tensor
	Aliases  []string // views sharing it, in execution order
	Bytes    int64
	Producer int  // step index
	Last     int  // step index of the last consumer (of any view)
	Eligible bool // produced and consumed inside the graph, never a graph output
	Output   bool // one of its names is a graph output (written to DRAM)
}

// Step is one operator in execution order.
type Step struct {
	Op   *model.Operator
	Kind StepKind
	// In holds the storage id of each input (-1: a weight, a graph input or
	// a view of one; read from DRAM).
	In []int
	// Out is the storage id of the output (-1: a graph output).
	Out int
	// GEMM view (StepGEMM).
	Problem constraints.Problem
	// Chain is the number of following steps that may fuse, in order, into
	// this GEMM's drain path (StepGEMM only).
	Chain int
	// ExtInBytes are the bytes of inputs read from DRAM that the GEMM
	// candidate's replay does not count (a bias); for a vector step, all of
	// its external inputs.
	ExtInBytes int64
	// VectorOps is the vector-engine work of the step (for a GEMM: its
	// bias epilogue).
	VectorOps int64
}

// Problem is a graph prepared for joint optimization: steps in execution
// order and the intermediate storages.
type Problem struct {
	Graph    *model.Graph
	Steps    []Step
	Storages []Storage
	// Outputs are the graph's output tensors (never consumed), written to DRAM.
	Outputs []string
}

// consumers maps each tensor to the operators that read it, in graph order.
func consumers(g *model.Graph) map[string][]*model.Operator {
	c := map[string][]*model.Operator{}
	for _, op := range g.Operators {
		seen := map[string]bool{}
		for _, in := range op.Inputs {
			if !seen[in] {
				seen[in] = true
				c[in] = append(c[in], op)
			}
		}
	}
	return c
}

// fusableChain lists the elementwise operators that may run in the drain of
// GEMM op: each the only consumer of the previous output, reading it alone or
// with a broadcast operand that no operator produces (a bias or a constant).
func fusableChain(g *model.Graph, op *model.Operator, cons map[string][]*model.Operator) []*model.Operator {
	var chain []*model.Operator
	t := op.Outputs[0]
	for {
		cs := cons[t]
		if len(cs) != 1 || !cs[0].Type.IsElementwise() || len(cs[0].Outputs) != 1 {
			return chain
		}
		e := cs[0]
		out := g.Tensors[e.Outputs[0]]
		if out == nil || g.Tensors[t] == nil || out.Elements() != g.Tensors[t].Elements() {
			return chain
		}
		for _, in := range e.Inputs {
			if in == t {
				continue
			}
			x := g.Tensors[in]
			if x == nil || g.Producer(in) != nil || x.Elements() >= out.Elements() {
				return chain
			}
		}
		chain = append(chain, e)
		t = e.Outputs[0]
	}
}

// NewProblem orders the operators (the graph's topological order, each
// fusable chain moved right behind its GEMM), classifies every step and
// builds the storages. g must be validated.
func NewProblem(g *model.Graph) (*Problem, error) {
	cons := consumers(g)
	chainOf := map[*model.Operator][]*model.Operator{}
	inChain := map[*model.Operator]bool{}
	for _, op := range g.Operators {
		if op.Type.IsGEMMLike() {
			c := fusableChain(g, op, cons)
			chainOf[op] = c
			for _, e := range c {
				inChain[e] = true
			}
		}
	}
	var order []*model.Operator
	for _, op := range g.Operators {
		if inChain[op] {
			continue
		}
		order = append(order, op)
		order = append(order, chainOf[op]...)
	}
	pr := &Problem{Graph: g}
	stepOf := map[*model.Operator]int{}
	for i, op := range order {
		stepOf[op] = i
	}
	// RESHAPE outputs are views of their input (no data moves); a
	// TRANSPOSE is a pass of its own, as the lowering emits it.
	isAlias := func(op *model.Operator) bool { return op.Type == model.OpReshape }
	storageOf := map[string]int{} // tensor -> storage id; absent: external
	for i, op := range order {
		st := Step{Op: op, Out: -1}
		for _, in := range op.Inputs {
			id, ok := storageOf[in]
			if !ok {
				id = -1
			}
			st.In = append(st.In, id)
		}
		if len(op.Outputs) != 1 {
			return nil, fmt.Errorf("graph %s: operator %s has %d outputs, joint optimization handles one", g.Name, op.Name, len(op.Outputs))
		}
		out := op.Outputs[0]
		w := g.Work(op)
		switch {
		case isAlias(op):
			st.Kind = StepAlias
			if st.In[0] >= 0 {
				s := &pr.Storages[st.In[0]]
				s.Aliases = append(s.Aliases, out)
				storageOf[out] = st.In[0]
				st.Out = st.In[0]
			}
		case op.Type.IsGEMMLike():
			shape, ok, err := g.GEMM(op)
			if err != nil || !ok {
				return nil, fmt.Errorf("graph %s: operator %s: GEMM view: %v", g.Name, op.Name, err)
			}
			p, err := constraints.NewProblem(op.Name, shape)
			if err != nil {
				return nil, fmt.Errorf("graph %s: %w", g.Name, err)
			}
			st.Kind, st.Problem, st.Chain = StepGEMM, p, len(chainOf[op])
			st.VectorOps = w.VectorOps
			for j := 2; j < len(op.Inputs); j++ {
				if t := g.Tensors[op.Inputs[j]]; t != nil {
					st.ExtInBytes += t.Bytes()
				}
			}
		default:
			st.Kind = StepVector
			st.VectorOps = w.VectorOps
			for j, in := range op.Inputs {
				if st.In[j] < 0 {
					st.ExtInBytes += g.Tensors[in].Bytes()
				}
			}
		}
		if st.Kind != StepAlias || st.In[0] < 0 {
			if st.Kind == StepAlias {
				st.Kind = StepVector // a view of a weight: nothing to do, but keep it visible
			}
			t := g.Tensors[out]
			bytes := t.Bytes()
			if st.Kind == StepGEMM || (i > 0 && pr.producedByChain(i)) {
				bytes = max(bytes, t.Elements()*t.DType.Accumulator().Size())
			}
			id := len(pr.Storages)
			pr.Storages = append(pr.Storages, Storage{ID: id, Name: out, Bytes: bytes, Producer: i, Last: i})
			storageOf[out] = id
			st.Out = id
		}
		pr.Steps = append(pr.Steps, st)
	}
	// lifetimes and eligibility
	for i := range pr.Storages {
		pr.Storages[i].Eligible = true
	}
	for name, id := range storageOf {
		cs := cons[name]
		if len(cs) == 0 {
			pr.Storages[id].Eligible = false
			pr.Storages[id].Output = true
			pr.Outputs = append(pr.Outputs, name)
		}
		for _, c := range cs {
			pr.Storages[id].Last = max(pr.Storages[id].Last, stepOf[c])
		}
	}
	sort.Strings(pr.Outputs)
	return pr, nil
}

// producedByChain reports whether step i is an elementwise step in the
// fusable chain of an earlier GEMM (its output may be a GEMM drain).
// reserve is the L3 capacity storage id takes while resident: its bytes, or
// the whole tiles of a striped home (constraints.HomeReserve).
func (pr *Problem) reserve(id int, cfg *kpu.Config) int64 {
	return constraints.HomeReserve(pr.Storages[id].Bytes, cfg)
}

func (pr *Problem) producedByChain(i int) bool {
	for j := i - 1; j >= 0; j-- {
		s := &pr.Steps[j]
		if s.Kind == StepGEMM {
			return j+s.Chain >= i
		}
		if s.Kind != StepVector || !s.Op.Type.IsElementwise() {
			return false
		}
	}
	return false
}
