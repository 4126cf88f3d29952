package kpu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/stillwater-sc/kpuopt/model"
)

// Level names a level of the memory hierarchy.
type Level string

// Memory levels. Units: DRAM channel, L3 tile, L2 bank (global index: bank b
// belongs to compute tile b / L2BanksPerTile), L1 stream buffer (global index:
// buffer u belongs to compute tile u / L1BuffersPerTile).
const (
	DRAM Level = "dram"
	L3   Level = "l3"
	L2   Level = "l2"
	L1   Level = "l1"
)

// Op is what a command does. See docs/program-format.md for the engine that
// may run each op and the levels it may touch.
type Op string

// Command ops.
const (
	OpLoad      Op = "load"      // dma: DRAM -> L3
	OpStore     Op = "store"     // dma: L3 -> DRAM
	OpMove      Op = "move"      // block_mover: L3 <-> L2, identity layout
	OpTranspose Op = "transpose" // block_mover: L3 <-> L2, last two dims swapped
	OpFeedRows  Op = "feed_rows" // streamer: L2 -> L1 (A operand, west edge)
	OpFeedCols  Op = "feed_cols" // streamer: L2 -> L1 (B operand, north edge)
	OpDrain     Op = "drain"     // streamer: L1 -> L2 (C), optional conversion and epilogue
	OpCopy      Op = "copy"      // streamer: L2 -> L2 within one compute tile
	OpMatMul    Op = "matmul"    // fabric: C (+)= A x B
	OpVector    Op = "vector"    // vector: elementwise op or row reduction
)

// Engine names one engine: a kind and an index among the engines of that
// kind. Fabric and vector engines are indexed by compute tile.
type Engine struct {
	Kind  EngineKind `json:"kind"`
	Index int        `json:"index"`
}

func (e Engine) String() string { return fmt.Sprintf("%s %d", e.Kind, e.Index) }

// Access is a strided block of elements in one memory unit. Shape lists the
// elements per dimension, outermost first (1 to 3 dims); Strides lists the
// bytes between consecutive indices of each dimension (omitted: dense
// row-major). DType, when set, overrides the command's element type for this
// operand (conversions happen on drain and vector commands only).
type Access struct {
	Level   Level       `json:"level"`
	Unit    int         `json:"unit"`
	Addr    int64       `json:"addr"`
	Shape   []int64     `json:"shape"`
	Strides []int64     `json:"strides,omitempty"`
	DType   model.DType `json:"dtype,omitempty"`
}

// Epilogue is an elementwise vector op fused onto the drain path of a matmul
// or drain command: out = op(x + bias) where bias (optional) broadcasts over
// the output (same shape, one row [1, n] or one column [m, 1]).
type Epilogue struct {
	Op   string  `json:"op"` // a unary vector op, or "" / "none" for bias only
	Bias *Access `json:"bias,omitempty"`
}

// Command is one instruction of a program. Invariants checked by Simulate:
// IDs are unique, Deps name existing commands and form no cycle together with
// the engine queues, the engine exists and may run Op, accesses lie inside
// their units, and fabric/streamer/vector commands touch only their own
// compute tile's L1 buffers and L2 banks.
//
// Operands by op:
//   - transfers (load, store, move, transpose, feed_rows, feed_cols, drain,
//     copy): Src -> Dst, same shape (transpose: last two dims swapped).
//   - matmul: Src is A (m x k), Src2 is B (k x n), both in L1; Dst is C
//     (m x n, in AccDType) in L1 or L2 of the same compute tile; C = A x B,
//     or C += A x B when Accumulate.
//   - vector: Dst = VectorOp(Src[, Src2]) where Src2 broadcasts (each of its
//     dims equals Src's or is 1); row ops reduce along the last dim.
type Command struct {
	ID         int         `json:"id"`
	Label      string      `json:"label,omitempty"`
	Engine     Engine      `json:"engine"`
	Op         Op          `json:"op"`
	Deps       []int       `json:"deps"` // always present in JSON ([] when none)
	DType      model.DType `json:"dtype"`
	AccDType   model.DType `json:"acc_dtype,omitempty"`
	Src        *Access     `json:"src,omitempty"`
	Src2       *Access     `json:"src2,omitempty"`
	Dst        *Access     `json:"dst,omitempty"`
	Accumulate bool        `json:"accumulate,omitempty"`
	VectorOp   string      `json:"vector_op,omitempty"`
	Epsilon    float64     `json:"epsilon,omitempty"` // layernorm; default 1e-5
	Epilogue   *Epilogue   `json:"epilogue,omitempty"`
}

// TensorPlacement is where a graph tensor lives in DRAM: a channel, a byte
// address in it, its element type, shape and strides (omitted: dense
// row-major). Input marks a tensor that holds data before the program runs
// (graph inputs and weights); the simulator treats its bytes as written.
type TensorPlacement struct {
	Channel int         `json:"channel"`
	Addr    int64       `json:"addr"`
	DType   model.DType `json:"dtype"`
	Shape   []int64     `json:"shape"`
	Strides []int64     `json:"strides,omitempty"`
	Input   bool        `json:"input,omitempty"`
}

// Access returns the DRAM access covering the whole tensor.
func (t TensorPlacement) Access() *Access {
	return &Access{Level: DRAM, Unit: t.Channel, Addr: t.Addr, Shape: t.Shape, Strides: t.Strides, DType: t.DType}
}

// ConfigRef names the machine a program was built for: a preset name or
// config file (Name), or an embedded configuration (Spec). In JSON it is a
// string or an object.
type ConfigRef struct {
	Name string
	Spec *Config
}

// MarshalJSON writes the name as a string, or the embedded config.
func (r ConfigRef) MarshalJSON() ([]byte, error) {
	if r.Spec != nil {
		return json.Marshal(r.Spec)
	}
	return json.Marshal(r.Name)
}

// UnmarshalJSON accepts a string or a config object (kpuopt's config keys or
// kpu-sim's, as ParseConfig reads them: defaults filled, validated).
func (r *ConfigRef) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		r.Spec = nil
		return json.Unmarshal(b, &r.Name)
	}
	if string(b) == "null" {
		*r = ConfigRef{}
		return nil
	}
	c, _, err := ParseConfig(b, "embedded config")
	if err != nil {
		return err
	}
	r.Name, r.Spec = c.Name, c
	return nil
}

// Program is a list of engine commands plus the placement of the graph's
// tensors in DRAM. Commands are listed in engine queue order: each engine
// runs the commands naming it in the order they appear.
type Program struct {
	Name     string                     `json:"name,omitempty"`
	Config   ConfigRef                  `json:"config"`
	Graph    *model.Graph               `json:"graph,omitempty"`
	Tensors  map[string]TensorPlacement `json:"tensors,omitempty"`
	Commands []Command                  `json:"commands"`
}

// ParseProgram decodes a program from JSON; source names the input in
// errors. Unknown keys are rejected, and so is address arithmetic that
// overflows int64 (an access's size, a stride times its dimension, an
// address plus the span), named by command and field. An embedded graph is
// parsed and validated by model.Parse; its errors name the file once.
func ParseProgram(data []byte, source string) (*Program, error) {
	var raw struct {
		Program
		Graph json.RawMessage `json:"graph,omitempty"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: program: %w", source, err)
	}
	p := raw.Program
	if len(raw.Graph) > 0 && string(raw.Graph) != "null" {
		// model.Parse starts its errors with the source it is given, so
		// the file is named once ("x.json: program graph: ...").
		src := source + ": program graph"
		g, err := model.Parse(raw.Graph, src)
		if err != nil {
			if !strings.HasPrefix(err.Error(), src) {
				err = fmt.Errorf("%s: %w", src, err)
			}
			return nil, err
		}
		p.Graph = g
	}
	if p.Commands == nil {
		return nil, fmt.Errorf("%s: program: missing \"commands\"", source)
	}
	if err := checkArithmetic(&p); err != nil {
		return nil, fmt.Errorf("%s: program: %w", source, err)
	}
	return &p, nil
}

// LoadProgram reads and decodes a program file.
func LoadProgram(path string) (*Program, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read program: %w", err)
	}
	return ParseProgram(data, path)
}

// MarshalProgram encodes p as JSON: indented, with one command per line,
// and a trailing newline. The encoding is deterministic.
func MarshalProgram(p *Program) ([]byte, error) {
	head := *p
	head.Commands = []Command{}
	b, err := json.MarshalIndent(&head, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("program %q: encode: %w", p.Name, err)
	}
	const tail = "\"commands\": []\n}"
	if !bytes.HasSuffix(b, []byte(tail)) {
		return nil, fmt.Errorf("program %q: encode: unexpected layout", p.Name)
	}
	var out bytes.Buffer
	out.Write(b[:len(b)-len(tail)])
	out.WriteString("\"commands\": [")
	for i := range p.Commands {
		cmd := p.Commands[i]
		if cmd.Deps == nil {
			cmd.Deps = []int{}
		}
		c, err := json.Marshal(&cmd)
		if err != nil {
			return nil, fmt.Errorf("program %q: command %d: encode: %w", p.Name, p.Commands[i].ID, err)
		}
		if i > 0 {
			out.WriteByte(',')
		}
		out.WriteString("\n    ")
		out.Write(c)
	}
	if len(p.Commands) > 0 {
		out.WriteString("\n  ")
	}
	out.WriteString("]\n}\n")
	return out.Bytes(), nil
}
