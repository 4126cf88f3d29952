package kpu

import (
	"context"
	"fmt"
	"sort"
)

// SimOptions select what Simulate does beyond timing.
type SimOptions struct {
	// Functional executes every command on real bytes. Inputs must then hold
	// the dense row-major bytes of every tensor placed with Input set; it may
	// also preset other placed tensors. Tensors with Input set or given in
	// Inputs count as written before the program starts.
	Functional bool
	Inputs     map[string][]byte
	// SkipHazardChecks turns off the race and uninitialized-read checks
	// (structural checks always run). Only for measuring raw timing speed.
	SkipHazardChecks bool
}

// EngineStats are one engine's figures.
type EngineStats struct {
	Engine      Engine  `json:"engine"`
	Commands    int     `json:"commands"`
	BusyCycles  int64   `json:"busy_cycles"`
	Utilization float64 `json:"utilization"` // busy / latency
}

// LevelTraffic is the bytes read and written at one memory level.
type LevelTraffic struct {
	Level      Level   `json:"level"`
	ReadBytes  int64   `json:"read_bytes"`
	WriteBytes int64   `json:"write_bytes"`
	EnergyPJ   float64 `json:"energy_pj"`
}

// SimResult is what a simulation measured. Start and End are indexed by
// command position in the program (not by id).
type SimResult struct {
	Program       string         `json:"program,omitempty"`
	Config        string         `json:"config"`
	ClockGHz      float64        `json:"clock_ghz"`
	Commands      int            `json:"commands"`
	LatencyCycles int64          `json:"latency_cycles"`
	LatencyUS     float64        `json:"latency_us"`
	DRAMBytes     int64          `json:"dram_bytes"` // read + written in DRAM
	MACs          int64          `json:"macs"`
	ComputeEnergy float64        `json:"compute_energy_pj"`
	EnergyPJ      float64        `json:"energy_pj"`
	Engines       []EngineStats  `json:"engines"`
	Levels        []LevelTraffic `json:"levels"`
	Functional    bool           `json:"functional"`

	Start []int64 `json:"-"`
	End   []int64 `json:"-"`
	// Tensors holds, after a functional run, the final DRAM contents of every
	// placed tensor as dense row-major bytes.
	Tensors map[string][]byte `json:"-"`
}

// ConfigFor resolves the machine a program names: its embedded config, or
// a preset name or config file through Resolve.
func ConfigFor(p *Program) (*Config, []string, error) {
	if p.Config.Spec != nil {
		return p.Config.Spec, nil, nil
	}
	if p.Config.Name == "" {
		return nil, nil, fmt.Errorf("program %q names no config (set \"config\" or pass one)", p.Name)
	}
	cfg, warns, err := Resolve(p.Config.Name)
	if err != nil {
		return nil, nil, fmt.Errorf("program %q config: %w", p.Name, err)
	}
	return cfg, warns, nil
}

// Simulate checks and runs prog on cfg (nil: the program's own config).
// Timing: each engine runs its commands in program order; a command starts
// when its engine is free and all its deps have ended, and lasts the duration
// given by the timing primitives (TransferCycles, FabricCycles, VectorCycles).
// A program that fails a check returns a *CheckError listing the violations.
func Simulate(ctx context.Context, prog *Program, cfg *Config, opts SimOptions) (*SimResult, error) {
	if cfg == nil {
		c, _, err := ConfigFor(prog)
		if err != nil {
			return nil, err
		}
		cfg = c
	}
	if cfg.ComputeTiles <= 0 {
		return nil, fmt.Errorf("config %q: compute_tiles must be positive", cfg.Name)
	}
	cp, vs := compile(prog, cfg)
	if vs != nil {
		return nil, &CheckError{Program: prog.Name, Violations: vs}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("simulate %q: %w", prog.Name, err)
	}
	res := &SimResult{Program: prog.Name, Config: cfg.Name, ClockGHz: cfg.ClockGHz, Commands: cp.n, Functional: opts.Functional}
	if err := cp.timing(ctx, res); err != nil {
		return nil, err
	}
	cp.account(prog, res)

	inputs, err := checkInputs(prog, cp, opts)
	if err != nil {
		return nil, err
	}
	mem := newMemory(cp)
	for _, name := range cp.tensors {
		if _, given := inputs[name]; prog.Tensors[name].Input || given {
			f := cp.tfoot[name]
			u := mem.unit(f.gunit)
			f.eachRun(u.markWritten)
		}
	}
	if !opts.SkipHazardChecks {
		if vs := cp.hazards(ctx, prog, mem, res); len(vs) > 0 {
			return nil, &CheckError{Program: prog.Name, Violations: vs}
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("simulate %q: %w", prog.Name, err)
		}
	}
	if opts.Functional {
		if err := cp.execute(ctx, prog, mem, inputs, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// checkInputs validates the functional inputs against the placements.
func checkInputs(prog *Program, cp *compiled, opts SimOptions) (map[string][]byte, error) {
	names := make([]string, 0, len(opts.Inputs))
	for name := range opts.Inputs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f, ok := cp.tfoot[name]
		if !ok {
			return nil, fmt.Errorf("input %q: program %q places no such tensor", name, prog.Name)
		}
		if int64(len(opts.Inputs[name])) != f.bytes {
			return nil, fmt.Errorf("input %q: %d bytes given, tensor has %d", name, len(opts.Inputs[name]), f.bytes)
		}
	}
	if opts.Functional {
		for _, name := range cp.tensors {
			if prog.Tensors[name].Input {
				if _, ok := opts.Inputs[name]; !ok {
					return nil, fmt.Errorf("input %q: no data given for an input tensor", name)
				}
			}
		}
	}
	return opts.Inputs, nil
}

// timing computes every command's start and end cycle in topological order
// and the per-engine busy time.
func (cp *compiled) timing(ctx context.Context, res *SimResult) error {
	n := cp.n
	start := make([]int64, n)
	end := make([]int64, n)
	busy := make([]int64, len(cp.engines))
	cnt := make([]int, len(cp.engines))
	var total int64
	for k, i := range cp.order {
		if k&0xffff == 0xffff {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("timing simulation: %w", err)
			}
		}
		var s int64
		for _, p := range cp.preds[cp.predOff[i]:cp.predOff[i+1]] {
			if e := end[p]; e > s {
				s = e
			}
		}
		e := s + cp.dur[i]
		start[i], end[i] = s, e
		eg := cp.engine[i]
		busy[eg] += cp.dur[i]
		cnt[eg]++
		if e > total {
			total = e
		}
	}
	res.Start, res.End = start, end
	res.LatencyCycles = total
	if cp.cfg.ClockGHz > 0 {
		res.LatencyUS = float64(total) / (cp.cfg.ClockGHz * 1e3)
	}
	order := make([]int, len(cp.engines))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		ea, eb := cp.engines[order[a]], cp.engines[order[b]]
		if ka, kb := kindRank(ea.Kind), kindRank(eb.Kind); ka != kb {
			return ka < kb
		}
		return ea.Index < eb.Index
	})
	for _, e := range order {
		st := EngineStats{Engine: cp.engines[e], Commands: cnt[e], BusyCycles: busy[e]}
		if total > 0 {
			st.Utilization = float64(busy[e]) / float64(total)
		}
		res.Engines = append(res.Engines, st)
	}
	return nil
}

func kindRank(k EngineKind) int {
	switch k {
	case DMA:
		return 0
	case BlockMover:
		return 1
	case Streamer:
		return 2
	case Fabric:
		return 3
	case Vector:
		return 4
	}
	return 5
}

// account totals bytes per level, MACs and energy. Every read footprint is
// read once and every write footprint written once, except the fabric, which
// streams A once per column pass (ceil(n/C) times) and B once per row pass
// (ceil(m/R) times); an accumulating matmul reads and writes C.
func (cp *compiled) account(prog *Program, res *SimResult) {
	cfg := cp.cfg
	var rd, wr [4]int64
	var macE float64
	for i := 0; i < cp.n; i++ {
		reads := cp.readsOf(i)
		cmd := &prog.Commands[i]
		for k := range reads {
			f := &reads[k]
			times := int64(1)
			if cmd.Op == OpMatMul && k < 2 {
				a, b := &reads[0], &reads[1]
				if k == 0 {
					times = ceilDiv(b.shape[2], int64(cfg.ArrayCols))
				} else {
					times = ceilDiv(a.shape[1], int64(cfg.ArrayRows))
				}
			}
			rd[f.level] += f.bytes * times
		}
		ws := cp.writesOf(i)
		for k := range ws {
			f := &ws[k]
			wr[f.level] += f.bytes
		}
		if cp.macs[i] > 0 {
			res.MACs += cp.macs[i]
			macE += float64(cp.macs[i]) * cfg.MACEnergy(string(reads[0].dtype()))
		}
	}
	e := cfg.Energy
	rpj := [4]float64{e.DRAM, e.L3, e.L2, e.L1Read}
	wpj := [4]float64{e.DRAM, e.L3, e.L2, e.L1Write}
	res.ComputeEnergy = macE
	res.EnergyPJ = macE
	for l := 0; l < 4; l++ {
		lt := LevelTraffic{Level: levelNames[l], ReadBytes: rd[l], WriteBytes: wr[l]}
		lt.EnergyPJ = float64(rd[l])*rpj[l] + float64(wr[l])*wpj[l]
		res.EnergyPJ += lt.EnergyPJ
		res.Levels = append(res.Levels, lt)
	}
	res.DRAMBytes = rd[0] + wr[0]
}
