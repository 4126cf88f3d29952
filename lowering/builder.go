package lowering

import (
	"fmt"
	"sort"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// DRAMAlign is the byte alignment of every tensor placed in DRAM.
const DRAMAlign = 64

// Builder accumulates a program: it owns the command ids, the DRAM
// allocation and, per tensor, the commands that wrote it last (one per
// engine), so that a command reading a tensor can depend on exactly the
// writes it needs. Commands are appended in engine queue order.
type Builder struct {
	cfg  *kpu.Config
	prog *kpu.Program
	// next free byte per DRAM channel
	dramNext []int64
	// writers[tensor] maps an engine to the last command of that engine that
	// wrote the tensor in DRAM.
	writers map[string]map[kpu.Engine]int
	// fullFence makes every operator start after the last command of every
	// engine (beginOp), set when operators may end without DMA stores
	// (L3-resident outputs).
	fullFence bool
}

// NewBuilder starts a program for graph g (embedded in the program; may be
// nil) on machine cfg. The program embeds cfg so that it is self-contained.
func NewBuilder(name string, g *model.Graph, cfg *kpu.Config) (*Builder, error) {
	if cfg == nil {
		return nil, fmt.Errorf("lowering %q: no machine config", name)
	}
	if cfg.DRAMChannels < 1 || cfg.DRAMChannelBytes < 1 {
		return nil, fmt.Errorf("lowering %q: machine %s has no DRAM (dram_channels = %d, dram_channel_bytes = %d)", name, cfg.Name, cfg.DRAMChannels, cfg.DRAMChannelBytes)
	}
	spec := *cfg
	return &Builder{
		cfg:      cfg,
		prog:     &kpu.Program{Name: name, Config: kpu.ConfigRef{Name: cfg.Name, Spec: &spec}, Graph: g, Tensors: map[string]kpu.TensorPlacement{}, Commands: []kpu.Command{}},
		dramNext: make([]int64, cfg.DRAMChannels),
		writers:  map[string]map[kpu.Engine]int{},
	}, nil
}

// Config is the machine the program is built for.
func (b *Builder) Config() *kpu.Config { return b.cfg }

// Program returns the program built so far (not a copy).
func (b *Builder) Program() *kpu.Program { return b.prog }

// NextID is the id the next emitted command gets.
func (b *Builder) NextID() int { return len(b.prog.Commands) }

// Emit appends c with the next id and returns that id.
func (b *Builder) Emit(c kpu.Command) int {
	c.ID = len(b.prog.Commands)
	b.prog.Commands = append(b.prog.Commands, c)
	return c.ID
}

// PlaceTensor allocates a dense row-major tensor in DRAM: the first channel
// with room, at the next DRAMAlign-aligned address. input marks data present
// before the program runs (graph inputs and weights). Placing a name twice
// returns the first placement if shape and dtype agree. See kpu.PlacementShape
// for tensors of rank > 3.
func (b *Builder) PlaceTensor(name string, shape []int64, dt model.DType, input bool) (kpu.TensorPlacement, error) {
	if t, ok := b.prog.Tensors[name]; ok {
		if t.DType != dt || !equalShape(t.Shape, kpu.PlacementShape(shape)) {
			return t, fmt.Errorf("tensor %q: placed as %s %v, asked again as %s %v", name, t.DType, t.Shape, dt, shape)
		}
		return t, nil
	}
	if dt.Size() == 0 {
		return kpu.TensorPlacement{}, fmt.Errorf("tensor %q: unknown dtype %q", name, dt)
	}
	bytes := dt.Size()
	for _, d := range shape {
		bytes *= d
	}
	shape = kpu.PlacementShape(shape)
	for ch := range b.dramNext {
		addr := alignUp(b.dramNext[ch], DRAMAlign)
		if addr+bytes <= b.cfg.DRAMChannelBytes {
			b.dramNext[ch] = addr + bytes
			t := kpu.TensorPlacement{Channel: ch, Addr: addr, DType: dt, Shape: shape, Input: input}
			b.prog.Tensors[name] = t
			return t, nil
		}
	}
	return kpu.TensorPlacement{}, fmt.Errorf("tensor %q (%d bytes): no DRAM channel has room (machine %s: %d channels of %d bytes)", name, bytes, b.cfg.Name, b.cfg.DRAMChannels, b.cfg.DRAMChannelBytes)
}

// Tensor returns the placement of a tensor.
func (b *Builder) Tensor(name string) (kpu.TensorPlacement, bool) {
	t, ok := b.prog.Tensors[name]
	return t, ok
}

// ReadDeps returns the commands a read of tensor name in DRAM must depend
// on: the last writer of the tensor on each engine (engine queue order
// covers the earlier ones), sorted by id.
func (b *Builder) ReadDeps(name string) []int {
	w := b.writers[name]
	ids := make([]int, 0, len(w))
	for _, id := range w {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

// Wrote records that command id (already emitted) wrote tensor name in DRAM.
func (b *Builder) Wrote(name string, id int) {
	w := b.writers[name]
	if w == nil {
		w = map[kpu.Engine]int{}
		b.writers[name] = w
	}
	w[b.prog.Commands[id].Engine] = id
}

func alignUp(x, a int64) int64 { return (x + a - 1) / a * a }

func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sortInts(s []int) { sort.Ints(s) }
