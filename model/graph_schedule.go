package model

// GraphSchedule is the decision for a whole graph: the execution order, one
// entry per operator (its GEMM mapping, or how a vector operator runs), which
// intermediate tensors stay resident in L3 and which elementwise operators
// are fused into the drain path of their producer. The lowering consumes it;
// search/graph produces it (docs/graph-optimization.md).
//
// Invariants: Ops is in execution order, which is a topological order of the
// graph; an operator named in some entry's FusedOps has no entry of its own
// and runs on the vector engine of that entry's GEMM while the GEMM drains its
// output; a tensor listed in Resident is produced by an operator of the graph,
// consumed by at least one, and lives in L3 (at the L3 offset given, when the
// memory planner has assigned one) from the start of its producer's entry to
// the end of its last consumer's entry, never touching DRAM.
type GraphSchedule struct {
	Graph     string           `json:"graph"`
	Config    string           `json:"config"`
	Mode      string           `json:"mode"`      // "optimal" (joint) or "layerwise"
	Objective string           `json:"objective"` // latency, energy, edp or traffic
	Status    string           `json:"status"`    // "optimal" (proven within the candidate sets) or "feasible"
	Engine    string           `json:"engine"`    // what proved or found the result, e.g. "dp" or "sat"
	Ops       []ScheduledOp    `json:"ops"`
	Resident  []ResidentTensor `json:"resident,omitempty"`
	Predicted Figures          `json:"predicted"`
	Bound     Figures          `json:"lower_bound"`
	Gap       float64          `json:"gap"` // (predicted - bound) / predicted of the objective
	L3Peak    int64            `json:"l3_peak_bytes"`
	// L3Plan says how the memory planner laid out the resident tensors and
	// the working sets in L3 ("" when nothing is resident).
	L3Plan  string  `json:"l3_plan,omitempty"`
	Seconds float64 `json:"solve_seconds"`
}

// Figures are the predicted (or bounding) costs of a schedule or one step.
type Figures struct {
	LatencyCycles int64   `json:"latency_cycles"`
	EnergyPJ      float64 `json:"energy_pj"`
	DRAMBytes     int64   `json:"dram_bytes"`
}

// ScheduledOp is one step of the execution order.
type ScheduledOp struct {
	Name string `json:"name"`
	Type OpType `json:"type"`
	// Mapping is the GEMM mapping (GEMM-like operators only).
	Mapping *Mapping `json:"mapping,omitempty"`
	// ResidentA, ResidentB and ResidentC say which GEMM operands are read
	// from (or written to) their L3 home directly, with no DMA traffic.
	ResidentA bool `json:"resident_a,omitempty"`
	ResidentB bool `json:"resident_b,omitempty"`
	ResidentC bool `json:"resident_c,omitempty"`
	// ResidentIn and ResidentOut list the tensors a vector operator reads
	// from and writes to L3 directly.
	ResidentIn  []string `json:"resident_in,omitempty"`
	ResidentOut []string `json:"resident_out,omitempty"`
	// FusedOps are the elementwise operators applied, in order, by the
	// vector engine on this GEMM's drain path; Output is then the tensor the
	// drain writes (the last fused operator's output).
	FusedOps []string `json:"fused_ops,omitempty"`
	Output   string   `json:"output"`
	// WorkingSetBytes is the L3 staging this step needs besides resident
	// tensors; L3LiveBytes the resident tensors live during it.
	WorkingSetBytes int64   `json:"working_set_bytes"`
	L3LiveBytes     int64   `json:"l3_live_bytes"`
	Predicted       Figures `json:"predicted"`
}

// ResidentTensor is an intermediate tensor kept in L3 over [First, Last]
// (indices into GraphSchedule.Ops).
type ResidentTensor struct {
	Tensor  string   `json:"tensor"`
	Aliases []string `json:"aliases,omitempty"` // RESHAPE outputs sharing its storage
	Bytes   int64    `json:"bytes"`
	First   int      `json:"first"`
	Last    int      `json:"last"`
	// L3Offset is the byte offset of its home in L3, -1 until planned.
	L3Offset int64 `json:"l3_offset"`
}
