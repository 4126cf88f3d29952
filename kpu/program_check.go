package kpu

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/stillwater-sc/kpuopt/model"
)

// Violation is one failed check of a program: the command (by id; -1 for the
// program as a whole), a kind, and a message naming the unit and address range.
type Violation struct {
	Command int    `json:"command"`
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// Violation kinds.
const (
	VEngine    = "unknown_engine"   // engine kind or index not in the config
	VOp        = "bad_op"           // op not runnable on the engine, or bad operands
	VUnit      = "bad_unit"         // unit index not in the config
	VRange     = "out_of_range"     // access starts outside its unit
	VCapacity  = "capacity"         // access extends beyond its unit's capacity
	VCrossTile = "cross_tile"       // fabric/streamer/vector touching another compute tile
	VDep       = "missing_dep"      // dep names no command, or duplicate id
	VCycle     = "cycle"            // deps + engine queues contain a cycle
	VUninit    = "uninitialized"    // read of bytes never written
	VRace      = "race"             // conflicting accesses not ordered by deps or queues
	VTensor    = "tensor"           // bad tensor placement
	VOutput    = "output_unwritten" // reserved for verification of outputs
)

// CheckError reports every violation found in a program (up to a limit).
type CheckError struct {
	Program    string
	Violations []Violation
}

func (e *CheckError) Error() string {
	var b strings.Builder
	name := e.Program
	if name == "" {
		name = "program"
	}
	fmt.Fprintf(&b, "%s: %d check violation(s): ", name, len(e.Violations))
	for i, v := range e.Violations {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more", len(e.Violations)-5)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(v.Message)
	}
	return b.String()
}

// maxViolations bounds the number of violations collected before giving up.
const maxViolations = 50

type checker struct {
	vs []Violation
}

func (c *checker) add(id int, kind, format string, args ...any) {
	if len(c.vs) >= maxViolations {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if id >= 0 {
		msg = fmt.Sprintf("command %d: %s", id, msg)
	}
	c.vs = append(c.vs, Violation{Command: id, Kind: kind, Message: msg})
}

func (c *checker) full() bool { return len(c.vs) >= maxViolations }

// levelIndex orders the levels for per-level tables.
func levelIndex(l Level) int {
	switch l {
	case DRAM:
		return 0
	case L3:
		return 1
	case L2:
		return 2
	case L1:
		return 3
	}
	return -1
}

var levelNames = [4]Level{DRAM, L3, L2, L1}

func unitName(l Level) string {
	switch l {
	case DRAM:
		return "DRAM channel"
	case L3:
		return "L3 tile"
	case L2:
		return "L2 bank"
	case L1:
		return "L1 buffer"
	}
	return string(l)
}

// footprint is a validated access: up to 3 dims of elements (outermost
// first, padded with leading 1s), byte strides, the element type.
type footprint struct {
	level   int // levelIndex
	unit    int // index within the level
	gunit   int // global unit index (levelBase + unit)
	addr    int64
	shape   [3]int64
	strides [3]int64
	dt      uint8 // index into model.DTypes, plus 1; see dtype
	esize   int64
	elems   int64
	bytes   int64 // elems * esize
	lo, hi  int64 // bounding byte range
}

// dtype is the element type of f. Footprints hold no pointers, so the
// garbage collector need not scan the per-program footprint array.
func (f *footprint) dtype() model.DType {
	if f.dt == 0 {
		return ""
	}
	return model.DTypes[f.dt-1]
}

func dtypeCode(d model.DType) uint8 {
	for i, x := range model.DTypes {
		if x == d {
			return uint8(i + 1)
		}
	}
	return 0
}

// run returns the contiguous run length in bytes and the loop dims: the
// innermost dim is one run when its stride equals the element size.
func (f *footprint) runLen() int64 {
	if f.strides[2] == f.esize {
		return f.shape[2] * f.esize
	}
	return f.esize
}

// eachRun calls fn for every contiguous byte run of f, in loop order.
func (f *footprint) eachRun(fn func(lo, hi int64)) {
	rl := f.runLen()
	inner := int64(1)
	if rl == f.esize {
		inner = f.shape[2]
	}
	for i := int64(0); i < f.shape[0]; i++ {
		a0 := f.addr + i*f.strides[0]
		for j := int64(0); j < f.shape[1]; j++ {
			a1 := a0 + j*f.strides[1]
			for k := int64(0); k < inner; k++ {
				a := a1 + k*f.strides[2]
				fn(a, a+rl)
			}
		}
	}
}

// describe names the unit and bounding range of f.
func (f *footprint) describe() string {
	return fmt.Sprintf("%s %d bytes [%d, %d)", unitName(levelNames[f.level]), f.unit, f.lo, f.hi)
}

// compiled is a validated program ready for simulation: flat per-command
// arrays indexed by command position.
type compiled struct {
	cfg      *Config
	n        int
	ids      []int
	engine   []int32 // dense engine id
	engines  []Engine
	qpos     []int32 // position in the engine's queue
	prevEng  []int32 // previous command on the same engine, or -1
	predOff  []int32 // CSR of predecessors (deps + prevEng)
	preds    []int32
	order    []int32 // a topological order
	topo     []int32 // position of each command in order
	dur      []int64
	macs     []int64
	foot     []footprint // all operands; see readsOf, writesOf
	fOff     []int32     // reads of i: foot[fOff[2i]:fOff[2i+1]], writes: foot[fOff[2i+1]:fOff[2i+2]]
	unitBase [4]int
	unitCap  [4]int64
	units    int
	tensors  []string // sorted tensor names
	tfoot    map[string]footprint
}

func (p *Program) engineTile(cfg *Config, e Engine) int {
	switch e.Kind {
	case Fabric, Vector:
		return e.Index
	case Streamer:
		per := cfg.Streamers / cfg.ComputeTiles
		if per < 1 {
			return e.Index % cfg.ComputeTiles
		}
		return e.Index / per
	}
	return -1
}

// unitTile is the compute tile owning an L2 bank or L1 buffer, or -1.
func unitTile(cfg *Config, f *footprint) int {
	switch levelNames[f.level] {
	case L2:
		if per := cfg.L2BanksPerTile(); per > 0 {
			return f.unit / per
		}
	case L1:
		if per := cfg.L1BuffersPerTile(); per > 0 {
			return f.unit / per
		}
	}
	return -1
}

func (cp *compiled) readsOf(i int) []footprint  { return cp.foot[cp.fOff[2*i]:cp.fOff[2*i+1]] }
func (cp *compiled) writesOf(i int) []footprint { return cp.foot[cp.fOff[2*i+1]:cp.fOff[2*i+2]] }

// footprintOf validates an access against cfg.
func footprintOf(c *checker, cp *compiled, id int, what string, a *Access, def model.DType) (footprint, bool) {
	var f footprint
	li := levelIndex(a.Level)
	if li < 0 {
		c.add(id, VOp, "%s: unknown level %q (want dram, l3, l2 or l1)", what, a.Level)
		return f, false
	}
	f.level = li
	nUnits := cp.units - cp.unitBase[li]
	if li < 3 {
		nUnits = cp.unitBase[li+1] - cp.unitBase[li]
	}
	if a.Unit < 0 || a.Unit >= nUnits {
		c.add(id, VUnit, "%s: %s %d does not exist (config has %d)", what, unitName(a.Level), a.Unit, nUnits)
		return f, false
	}
	f.unit, f.gunit = a.Unit, cp.unitBase[li]+a.Unit
	dt := a.DType
	if dt == "" {
		dt = def
	}
	f.dt = dtypeCode(dt)
	f.esize = dt.Size()
	if f.esize == 0 || f.dt == 0 {
		c.add(id, VOp, "%s: unknown dtype %q", what, dt)
		return f, false
	}
	r := len(a.Shape)
	if r < 1 || r > 3 {
		c.add(id, VOp, "%s: shape %v must have 1 to 3 dims", what, a.Shape)
		return f, false
	}
	if len(a.Strides) != 0 && len(a.Strides) != r {
		c.add(id, VOp, "%s: %d strides for %d dims", what, len(a.Strides), r)
		return f, false
	}
	f.shape = [3]int64{1, 1, 1}
	off := 3 - r
	f.elems = 1
	for i, d := range a.Shape {
		if d <= 0 || d > 1<<31 {
			c.add(id, VOp, "%s: shape %v has a dim outside [1, 2^31]", what, a.Shape)
			return f, false
		}
		f.shape[off+i] = d
		f.elems *= d
		if f.elems > 1<<40 {
			c.add(id, VOp, "%s: shape %v too large", what, a.Shape)
			return f, false
		}
	}
	dense := f.esize
	for i := 2; i >= 0; i-- {
		if i >= off && len(a.Strides) != 0 {
			s := a.Strides[i-off]
			if s <= 0 || s > 1<<40 {
				c.add(id, VOp, "%s: stride %d is outside [1, 2^40]", what, s)
				return f, false
			}
			f.strides[i] = s
		} else {
			f.strides[i] = dense
		}
		dense = f.strides[i] * f.shape[i]
	}
	f.bytes = f.elems * f.esize
	f.addr = a.Addr
	f.lo = a.Addr
	capacity := cp.unitCap[li]
	if a.Addr < 0 || a.Addr >= capacity {
		c.add(id, VRange, "%s: address %d is outside %s %d (capacity %d bytes)", what, a.Addr, unitName(a.Level), a.Unit, capacity)
		return f, false
	}
	// The extent is summed with overflow guards: every term is bounded by
	// 2^61 before it is added.
	extent := f.esize
	for i := 0; i < 3; i++ {
		if f.shape[i] > 1 && f.strides[i] > (int64(1)<<61)/(f.shape[i]-1) {
			c.add(id, VCapacity, "%s: shape %v with strides %v spans more than 2^61 bytes, beyond %s %d capacity of %d bytes", what, a.Shape, a.Strides, unitName(a.Level), a.Unit, capacity)
			return f, false
		}
		extent += (f.shape[i] - 1) * f.strides[i]
	}
	f.hi = a.Addr + extent
	if f.hi > capacity || f.bytes > capacity {
		c.add(id, VCapacity, "%s: %s exceeds %s %d capacity of %d bytes", what, f.describe(), unitName(a.Level), a.Unit, capacity)
		return f, false
	}
	return f, true
}

// opRule says which engine runs an op and between which levels.
type opRule struct {
	engine   EngineKind
	src, dst []Level
}

var (
	lvDRAM, lvL3, lvL2, lvL1 = []Level{DRAM}, []Level{L3}, []Level{L2}, []Level{L1}
	lvL3L2, lvL2L3, lvL1L2   = []Level{L3, L2}, []Level{L2, L3}, []Level{L1, L2}
)

func ruleFor(op Op) (opRule, bool) {
	switch op {
	case OpLoad:
		return opRule{DMA, lvDRAM, lvL3}, true
	case OpStore:
		return opRule{DMA, lvL3, lvDRAM}, true
	case OpMove, OpTranspose:
		return opRule{BlockMover, lvL3L2, lvL2L3}, true
	case OpFeedRows, OpFeedCols:
		return opRule{Streamer, lvL2, lvL1}, true
	case OpDrain:
		return opRule{Streamer, lvL1, lvL2}, true
	case OpCopy:
		return opRule{Streamer, lvL2, lvL2}, true
	case OpMatMul:
		return opRule{Fabric, lvL1, lvL1L2}, true
	case OpVector:
		return opRule{Vector, lvL1L2, lvL1L2}, true
	case OpFill:
		return opRule{DMA, nil, lvL3}, true
	}
	return opRule{}, false
}

func hasLevel(ls []Level, l Level) bool {
	for _, x := range ls {
		if x == l {
			return true
		}
	}
	return false
}

// compile validates p against cfg and builds the simulation arrays. It
// returns nil and the violations when the program is malformed.
func compile(p *Program, cfg *Config) (*compiled, []Violation) {
	c := &checker{}
	n := len(p.Commands)
	cp := &compiled{cfg: cfg, n: n}
	counts := [4]int{cfg.DRAMChannels, cfg.L3Tiles, cfg.L2Banks, cfg.L1Buffers}
	caps := [4]int64{cfg.DRAMChannelBytes, cfg.L3TileBytes, cfg.L2BankBytes, cfg.L1BufferBytes}
	for i := 0; i < 4; i++ {
		if i > 0 {
			cp.unitBase[i] = cp.unitBase[i-1] + counts[i-1]
		}
		cp.unitCap[i] = caps[i]
	}
	cp.units = cp.unitBase[3] + counts[3]

	// Tensor placements.
	cp.tfoot = map[string]footprint{}
	for name := range p.Tensors {
		cp.tensors = append(cp.tensors, name)
	}
	sort.Strings(cp.tensors)
	for _, name := range cp.tensors {
		t := p.Tensors[name]
		if t.DType.Size() == 0 {
			c.add(-1, VTensor, "tensor %q: unknown dtype %q", name, t.DType)
			continue
		}
		if p.Graph != nil {
			if gt, ok := p.Graph.Tensors[name]; ok && (gt.DType != t.DType || !slices.Equal(gt.Shape, t.Shape) && !slices.Equal(PlacementShape(gt.Shape), t.Shape)) {
				c.add(-1, VTensor, "tensor %q: placed as %s %v but the graph has %s %v", name, t.DType, t.Shape, gt.DType, gt.Shape)
				continue
			}
		}
		f, ok := footprintOf(c, cp, -1, fmt.Sprintf("tensor %q", name), t.Access(), t.DType)
		if ok {
			cp.tfoot[name] = f
		}
	}

	// Engines and ids.
	// Ids equal to positions (the common case) need no map.
	sequential := true
	for i := range p.Commands {
		if p.Commands[i].ID != i {
			sequential = false
			break
		}
	}
	var index map[int]int
	if !sequential {
		index = make(map[int]int, n)
	}
	lookup := func(id int) (int, bool) {
		if sequential {
			return id, id >= 0 && id < n
		}
		j, ok := index[id]
		return j, ok
	}
	var kindBase [5]int
	totalEngines := 0
	for k, kind := range []EngineKind{DMA, BlockMover, Streamer, Fabric, Vector} {
		kindBase[k] = totalEngines
		totalEngines += max(cfg.EngineCount(kind), 0)
	}
	engID := make([]int32, totalEngines)
	for i := range engID {
		engID[i] = -1
	}
	cp.ids = make([]int, n)
	cp.engine = make([]int32, n)
	cp.qpos = make([]int32, n)
	cp.prevEng = make([]int32, n)
	var lastOnEngine []int32
	var queueLen []int32
	for i := range p.Commands {
		cmd := &p.Commands[i]
		cp.ids[i] = cmd.ID
		if !sequential {
			if j, dup := index[cmd.ID]; dup {
				c.add(cmd.ID, VDep, "duplicate id (commands at positions %d and %d)", j, i)
			} else {
				index[cmd.ID] = i
			}
		}
		e := cmd.Engine
		cnt := cfg.EngineCount(e.Kind)
		if cnt == 0 && e.Kind != DMA && e.Kind != BlockMover && e.Kind != Streamer && e.Kind != Fabric && e.Kind != Vector {
			c.add(cmd.ID, VEngine, "unknown engine kind %q (want dma, block_mover, streamer, fabric or vector)", e.Kind)
			cp.prevEng[i] = -1
			cp.engine[i] = -1
			continue
		}
		if e.Index < 0 || e.Index >= cnt {
			c.add(cmd.ID, VEngine, "engine %s does not exist (config %q has %d %s engines)", e, cfg.Name, cnt, e.Kind)
			cp.prevEng[i] = -1
			cp.engine[i] = -1
			continue
		}
		slot := kindBase[kindRank(e.Kind)] + e.Index
		id := engID[slot]
		if id < 0 {
			id = int32(len(cp.engines))
			engID[slot] = id
			cp.engines = append(cp.engines, e)
			lastOnEngine = append(lastOnEngine, -1)
			queueLen = append(queueLen, 0)
		}
		cp.engine[i] = id
		cp.prevEng[i] = lastOnEngine[id]
		cp.qpos[i] = queueLen[id]
		lastOnEngine[id] = int32(i)
		queueLen[id]++
	}

	// Predecessors (CSR).
	cp.predOff = make([]int32, n+1)
	cp.preds = make([]int32, 0, n*2)
	for i := range p.Commands {
		cmd := &p.Commands[i]
		if cp.prevEng[i] >= 0 {
			cp.preds = append(cp.preds, cp.prevEng[i])
		}
		for _, d := range cmd.Deps {
			j, ok := lookup(d)
			if !ok {
				c.add(cmd.ID, VDep, "dep %d names no command", d)
				continue
			}
			if j == i {
				c.add(cmd.ID, VCycle, "depends on itself")
				continue
			}
			cp.preds = append(cp.preds, int32(j))
		}
		cp.predOff[i+1] = int32(len(cp.preds))
	}

	// Operands.
	cp.fOff = make([]int32, 2*n+1)
	nf := 0
	for i := range p.Commands {
		cmd := &p.Commands[i]
		nf += 2
		if cmd.Src2 != nil {
			nf++
		}
		if cmd.Accumulate {
			nf++
		}
		if cmd.Epilogue != nil && cmd.Epilogue.Bias != nil {
			nf++
		}
	}
	cp.foot = make([]footprint, 0, nf)
	cp.dur = make([]int64, n)
	cp.macs = make([]int64, n)
	for i := range p.Commands {
		if c.full() {
			break
		}
		cp.fOff[2*i] = int32(len(cp.foot))
		cp.fOff[2*i+1] = int32(len(cp.foot))
		if cp.engine[i] >= 0 {
			compileOperands(c, cp, p, i)
		}
		cp.fOff[2*i+2] = int32(len(cp.foot))
	}
	if len(c.vs) > 0 {
		return nil, c.vs
	}
	if !cp.topoSort(c) {
		return nil, c.vs
	}
	return cp, nil
}

// compileOperands validates one command's operands and precomputes its
// footprints, duration and MACs.
func compileOperands(c *checker, cp *compiled, p *Program, i int) {
	cmd := &p.Commands[i]
	cfg := cp.cfg
	id := cmd.ID
	rule, ok := ruleFor(cmd.Op)
	if !ok {
		c.add(id, VOp, "unknown op %q", cmd.Op)
		return
	}
	if rule.engine != cmd.Engine.Kind {
		c.add(id, VOp, "op %q runs on %s engines, not %s", cmd.Op, rule.engine, cmd.Engine)
		return
	}
	if cmd.DType.Size() == 0 {
		c.add(id, VOp, "unknown dtype %q", cmd.DType)
		return
	}
	if cmd.Op == OpFill {
		compileFill(c, cp, cmd, i)
		return
	}
	if cmd.Src == nil || cmd.Dst == nil {
		c.add(id, VOp, "op %q needs src and dst", cmd.Op)
		return
	}
	acc := cmd.AccDType
	if acc == "" {
		acc = cmd.DType.Accumulator()
	}
	if acc.Size() == 0 {
		c.add(id, VOp, "unknown acc_dtype %q", acc)
		return
	}
	if cmd.Op == OpMatMul && acc.IsInteger() != cmd.DType.IsInteger() {
		c.add(id, VOp, "matmul: accumulator %s does not suit %s inputs (integer inputs accumulate in integers, floats in floats)", acc, cmd.DType)
		return
	}
	srcDef, dstDef := cmd.DType, cmd.DType
	switch cmd.Op {
	case OpMatMul:
		dstDef = acc
	case OpDrain:
		if cmd.AccDType != "" {
			srcDef = cmd.AccDType
		}
	}
	src, ok1 := footprintOf(c, cp, id, "src", cmd.Src, srcDef)
	dst, ok2 := footprintOf(c, cp, id, "dst", cmd.Dst, dstDef)
	if !ok1 || !ok2 {
		return
	}
	if !hasLevel(rule.src, cmd.Src.Level) || !hasLevel(rule.dst, cmd.Dst.Level) {
		c.add(id, VOp, "op %q moves %v -> %v, not %s -> %s", cmd.Op, rule.src, rule.dst, cmd.Src.Level, cmd.Dst.Level)
		return
	}
	if cmd.Op == OpMove || cmd.Op == OpTranspose {
		if cmd.Src.Level == cmd.Dst.Level {
			c.add(id, VOp, "op %q must move between L3 and L2, not %s -> %s", cmd.Op, cmd.Src.Level, cmd.Dst.Level)
			return
		}
	}
	var rbuf [4]footprint
	reads := append(rbuf[:0], src)
	writes := [1]footprint{dst}
	convert := cmd.Op == OpDrain || cmd.Op == OpVector || cmd.Op == OpMatMul
	if !convert && src.dtype() != dst.dtype() {
		c.add(id, VOp, "op %q cannot convert %s to %s (only drain and vector convert)", cmd.Op, src.dtype(), dst.dtype())
		return
	}
	switch cmd.Op {
	case OpTranspose:
		if src.shape[0] != dst.shape[0] || src.shape[1] != dst.shape[2] || src.shape[2] != dst.shape[1] {
			c.add(id, VOp, "transpose: dst shape %v is not src shape %v with the last two dims swapped", cmd.Dst.Shape, cmd.Src.Shape)
			return
		}
		cp.dur[i] = cfg.TransferCycles(cmd.Engine.Kind, src.bytes, src.esize)
	case OpMatMul:
		if cmd.Src2 == nil {
			c.add(id, VOp, "matmul needs src2 (the B operand)")
			return
		}
		b, ok := footprintOf(c, cp, id, "src2", cmd.Src2, cmd.DType)
		if !ok {
			return
		}
		if cmd.Src2.Level != L1 {
			c.add(id, VOp, "matmul: B operand must be in l1, not %s", cmd.Src2.Level)
			return
		}
		if src.shape[0] != 1 || b.shape[0] != 1 || dst.shape[0] != 1 {
			c.add(id, VOp, "matmul operands must be 2-D (A %v, B %v, C %v)", cmd.Src.Shape, cmd.Src2.Shape, cmd.Dst.Shape)
			return
		}
		m, k, n := src.shape[1], src.shape[2], b.shape[2]
		if b.shape[1] != k || dst.shape[1] != m || dst.shape[2] != n {
			c.add(id, VOp, "matmul shapes disagree: A %v x B %v -> C %v", cmd.Src.Shape, cmd.Src2.Shape, cmd.Dst.Shape)
			return
		}
		if src.dtype() != b.dtype() {
			c.add(id, VOp, "matmul: A is %s but B is %s", src.dtype(), b.dtype())
			return
		}
		reads = append(reads, b)
		if cmd.Accumulate {
			reads = append(reads, dst)
		}
		cp.macs[i] = m * n * k
		cp.dur[i] = cfg.FabricCycles(m, n, k)
	case OpVector:
		info, ok := vectorOps[cmd.VectorOp]
		if !ok {
			c.add(id, VOp, "unknown vector_op %q", cmd.VectorOp)
			return
		}
		if info.reduce && (dst.shape[0] != src.shape[0] || dst.shape[1] != src.shape[1] || dst.shape[2] != 1) {
			c.add(id, VOp, "vector %s: dst shape %v must be src shape %v with the last dim 1", cmd.VectorOp, cmd.Dst.Shape, cmd.Src.Shape)
			return
		}
		if !info.reduce && src.shape != dst.shape {
			c.add(id, VOp, "vector %s: dst shape %v differs from src shape %v", cmd.VectorOp, cmd.Dst.Shape, cmd.Src.Shape)
			return
		}
		if info.binary != (cmd.Src2 != nil) {
			if info.binary {
				c.add(id, VOp, "vector %s needs src2", cmd.VectorOp)
			} else {
				c.add(id, VOp, "vector %s takes no src2", cmd.VectorOp)
			}
			return
		}
		if cmd.Src2 != nil {
			b, ok := footprintOf(c, cp, id, "src2", cmd.Src2, src.dtype())
			if !ok {
				return
			}
			if !hasLevel(rule.src, cmd.Src2.Level) {
				c.add(id, VOp, "vector: src2 must be in l1 or l2, not %s", cmd.Src2.Level)
				return
			}
			if !broadcastable(b.shape, src.shape) {
				c.add(id, VOp, "vector %s: src2 shape %v does not broadcast to %v", cmd.VectorOp, cmd.Src2.Shape, cmd.Src.Shape)
				return
			}
			reads = append(reads, b)
		}
		cp.dur[i] = cfg.VectorCycles(int64(info.passes) * src.elems)
	default:
		if src.shape != dst.shape {
			c.add(id, VOp, "%s: dst shape %v differs from src shape %v", cmd.Op, cmd.Dst.Shape, cmd.Src.Shape)
			return
		}
		cp.dur[i] = cfg.TransferCycles(cmd.Engine.Kind, src.bytes, src.esize)
	}
	if cmd.Epilogue != nil {
		if cmd.Op != OpMatMul && cmd.Op != OpDrain {
			c.add(id, VOp, "epilogue only on matmul and drain, not %q", cmd.Op)
			return
		}
		if op := cmd.Epilogue.Op; op != "" && op != "none" {
			info, ok := vectorOps[op]
			if !ok || info.binary || info.rowwise {
				c.add(id, VOp, "epilogue op %q is not a unary elementwise vector op", op)
				return
			}
		}
		if bias := cmd.Epilogue.Bias; bias != nil {
			bf, ok := footprintOf(c, cp, id, "epilogue bias", bias, dst.dtype())
			if !ok {
				return
			}
			if bias.Level != L1 && bias.Level != L2 {
				c.add(id, VOp, "epilogue bias must be in l1 or l2, not %s", bias.Level)
				return
			}
			if !broadcastable(bf.shape, dst.shape) {
				c.add(id, VOp, "epilogue bias shape %v does not broadcast to %v", bias.Shape, cmd.Dst.Shape)
				return
			}
			reads = append(reads, bf)
		}
	}
	// Tile ownership for per-tile engines.
	if t := p.engineTile(cfg, cmd.Engine); t >= 0 {
		for k := 0; k <= len(reads); k++ {
			f := &writes[0]
			if k < len(reads) {
				f = &reads[k]
			}
			if ut := unitTile(cfg, f); ut >= 0 && ut != t {
				c.add(id, VCrossTile, "%s on compute tile %d touches %s of compute tile %d", cmd.Engine, t, f.describe(), ut)
				return
			}
		}
	}
	cp.foot = append(cp.foot, reads...)
	cp.fOff[2*i+1] = int32(len(cp.foot))
	cp.foot = append(cp.foot, writes[0])
}

// compileFill validates a fill: a DMA command that writes zeros to an L3
// block, reads nothing, and lasts as long as a DMA transfer of those bytes.
func compileFill(c *checker, cp *compiled, cmd *Command, i int) {
	id := cmd.ID
	if cmd.Dst == nil || cmd.Src != nil || cmd.Src2 != nil || cmd.Epilogue != nil {
		c.add(id, VOp, "fill takes a dst and nothing else")
		return
	}
	dst, ok := footprintOf(c, cp, id, "dst", cmd.Dst, cmd.DType)
	if !ok {
		return
	}
	if cmd.Dst.Level != L3 {
		c.add(id, VOp, "fill writes l3, not %s", cmd.Dst.Level)
		return
	}
	cp.dur[i] = cp.cfg.TransferCycles(DMA, dst.bytes, dst.esize)
	cp.foot = append(cp.foot, dst) // no reads: fOff[2i] == fOff[2i+1]
}

func broadcastable(b, to [3]int64) bool {
	for i := 0; i < 3; i++ {
		if b[i] != to[i] && b[i] != 1 {
			return false
		}
	}
	return true
}

// topoSort orders the commands so that every predecessor comes first; it
// reports a cycle (naming commands on it) when none exists. The program order
// is used when it already is topological.
func (cp *compiled) topoSort(c *checker) bool {
	n := cp.n
	cp.order = make([]int32, n)
	cp.topo = make([]int32, n)
	inOrder := true
	for i := 0; i < n && inOrder; i++ {
		for _, p := range cp.preds[cp.predOff[i]:cp.predOff[i+1]] {
			if int(p) > i {
				inOrder = false
				break
			}
		}
	}
	if inOrder {
		for i := 0; i < n; i++ {
			cp.order[i] = int32(i)
			cp.topo[i] = int32(i)
		}
		return true
	}
	// Kahn's algorithm; ready commands are taken in program order.
	indeg := make([]int32, n)
	succOff := make([]int32, n+1)
	for _, p := range cp.preds {
		succOff[p+1]++
	}
	for i := 0; i < n; i++ {
		succOff[i+1] += succOff[i]
	}
	succ := make([]int32, len(cp.preds))
	fill := append([]int32(nil), succOff[:n]...)
	for i := 0; i < n; i++ {
		for _, p := range cp.preds[cp.predOff[i]:cp.predOff[i+1]] {
			succ[fill[p]] = int32(i)
			fill[p]++
			indeg[i]++
		}
	}
	h := &intHeap{}
	for i := 0; i < n; i++ {
		if indeg[i] == 0 {
			h.push(int32(i))
		}
	}
	k := 0
	for h.len() > 0 {
		i := h.pop()
		cp.order[k] = i
		cp.topo[i] = int32(k)
		k++
		for _, s := range succ[succOff[i]:succOff[i+1]] {
			indeg[s]--
			if indeg[s] == 0 {
				h.push(s)
			}
		}
	}
	if k == n {
		return true
	}
	var stuck []string
	for i := 0; i < n && len(stuck) < 8; i++ {
		if indeg[i] > 0 {
			stuck = append(stuck, fmt.Sprint(cp.ids[i]))
		}
	}
	first := -1
	for i := 0; i < n; i++ {
		if indeg[i] > 0 {
			first = cp.ids[i]
			break
		}
	}
	c.add(first, VCycle, "dependency cycle (deps and engine queue order) among %d commands, including ids %s", n-k, strings.Join(stuck, ", "))
	return false
}

// intHeap is a min-heap of command positions.
type intHeap struct{ a []int32 }

func (h *intHeap) len() int { return len(h.a) }

func (h *intHeap) push(x int32) {
	h.a = append(h.a, x)
	i := len(h.a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h.a[p] <= h.a[i] {
			break
		}
		h.a[p], h.a[i] = h.a[i], h.a[p]
		i = p
	}
}

func (h *intHeap) pop() int32 {
	top := h.a[0]
	last := len(h.a) - 1
	h.a[0] = h.a[last]
	h.a = h.a[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && h.a[l] < h.a[m] {
			m = l
		}
		if r < last && h.a[r] < h.a[m] {
			m = r
		}
		if m == i {
			break
		}
		h.a[m], h.a[i] = h.a[i], h.a[m]
		i = m
	}
	return top
}
