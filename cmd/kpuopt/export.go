package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// exportOptions holds the flags of `export`.
type exportOptions struct {
	streams *streams
	to      string
	config  string
	op      string
	output  string
	maxOps  int
}

// defaultMaxDFXOps bounds the operations of a DFX export (each is ~300 bytes
// of JSON).
const defaultMaxDFXOps = 1_000_000

func newExportCmd(s *streams) *cobra.Command {
	o := &exportOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "export SCHEDULE.json --to tilings|timeloop|dfx",
		Short: "Export a solved schedule's tilings for other toolchains",
		Long: "export reads the JSON that `kpuopt solve --format json` writes and converts each operator's\n" +
			"mapping for other tools: tilings (a plain per-operator JSON of the tiles, orders, split and\n" +
			"buffering at every level), timeloop (a Timeloop-style mapping YAML over the levels DRAM, L3,\n" +
			"L2 and PE, one document per operator) or dfx (kpu-sim's DFX JSON kernel: tensors, tiling,\n" +
			"loops and every data move and compute tile of the lowered stream with its dependencies; one\n" +
			"operator, chosen with --op when the schedule has several). The machine is the schedule's\n" +
			"config unless --config names another. Formats: docs/export.md.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch o.to {
			case "tilings", "timeloop", "dfx":
			default:
				return badInput(fmt.Errorf("export: --to %q: want tilings, timeloop or dfx", o.to))
			}
			if o.maxOps < 1 {
				return badInput(fmt.Errorf("export: --max-ops %d: want >= 1", o.maxOps))
			}
			return runExport(cmd.Context(), o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.to, "to", "", "export format: tilings, timeloop or dfx (required)")
	f.StringVar(&o.config, "config", "", "machine: preset name or config file (default: the schedule's config)")
	f.StringVar(&o.op, "op", "", "export only this operator (required for dfx when the schedule has several)")
	f.StringVarP(&o.output, "output", "o", "", "write the export to this file instead of stdout")
	f.IntVar(&o.maxOps, "max-ops", defaultMaxDFXOps, "dfx: refuse a kernel with more operations than this")
	return cmd
}

// scheduleFile is the part of `solve --format json` output that export reads.
type scheduleFile struct {
	Graph  string `json:"graph"`
	Config string `json:"config"`
	Ops    []struct {
		Name      string          `json:"name"`
		Type      model.OpType    `json:"type"`
		Shape     *gemmShape      `json:"shape"`
		Mapping   json.RawMessage `json:"mapping"`
		Predicted figures         `json:"predicted"`
	} `json:"ops"`
}

// readSchedule reads and checks a schedule file.
func readSchedule(path string) (*scheduleFile, []model.ExportOp, []int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("export: %w", err)
	}
	var sf scheduleFile
	if err := json.Unmarshal(data, &sf); err != nil {
		return nil, nil, nil, fmt.Errorf("export %s: not a schedule (the JSON of `kpuopt solve --format json`): %w", path, err)
	}
	if sf.Ops == nil {
		return nil, nil, nil, fmt.Errorf("export %s: no \"ops\" list: not a schedule (the JSON of `kpuopt solve --format json`)", path)
	}
	if len(sf.Ops) == 0 {
		return nil, nil, nil, fmt.Errorf("export %s: \"ops\" is empty: nothing to export", path)
	}
	var ops []model.ExportOp
	var cycles []int64
	seen := map[string]bool{}
	for i, so := range sf.Ops {
		var unit struct {
			Unit string `json:"unit"`
		}
		if json.Unmarshal(so.Mapping, &unit) == nil && unit.Unit == "vector" {
			continue // a vector-engine operator of a whole-graph schedule: no tiling to export
		}
		var mapping *model.Mapping
		if len(so.Mapping) > 0 && string(so.Mapping) != "null" {
			mapping = new(model.Mapping)
			if err := json.Unmarshal(so.Mapping, mapping); err != nil {
				return nil, nil, nil, fmt.Errorf("export %s: ops[%d] (%s): mapping: %w", path, i, so.Name, err)
			}
		}
		switch {
		case so.Name == "":
			return nil, nil, nil, fmt.Errorf("export %s: ops[%d]: missing \"name\"", path, i)
		case seen[so.Name]:
			return nil, nil, nil, fmt.Errorf("export %s: ops[%d]: operator %q appears twice", path, i, so.Name)
		case so.Shape == nil:
			return nil, nil, nil, fmt.Errorf("export %s: ops[%d] (%s): missing \"shape\"", path, i, so.Name)
		case mapping == nil:
			return nil, nil, nil, fmt.Errorf("export %s: ops[%d] (%s): missing \"mapping\"", path, i, so.Name)
		}
		seen[so.Name] = true
		eo := model.ExportOp{Name: so.Name, Type: so.Type, Batch: so.Shape.Batch, M: so.Shape.M, N: so.Shape.N, K: so.Shape.K,
			DType: so.Shape.DType, Mapping: *mapping}
		eo.Mapping.Placement = nil
		if err := eo.Validate(); err != nil {
			return nil, nil, nil, fmt.Errorf("export %s: ops[%d]: %w", path, i, err)
		}
		ops = append(ops, eo)
		cycles = append(cycles, so.Predicted.LatencyCycles)
	}
	if len(ops) == 0 {
		return nil, nil, nil, fmt.Errorf("export %s: no GEMM-like operator with a mapping: nothing to export", path)
	}
	return &sf, ops, cycles, nil
}

func runExport(ctx context.Context, o *exportOptions, path string) error {
	s := o.streams
	sf, ops, cycles, err := readSchedule(path)
	if err != nil {
		return badInput(err)
	}
	if o.op != "" {
		i := -1
		for j, op := range ops {
			if op.Name == o.op {
				i = j
			}
		}
		if i < 0 {
			return badInput(fmt.Errorf("export %s: --op %q: no such operator (have %s)", path, o.op, opNames(ops)))
		}
		ops, cycles = ops[i:i+1], cycles[i:i+1]
	}
	name := o.config
	if name == "" {
		if sf.Config == "" {
			return badInput(fmt.Errorf("export %s: the schedule names no \"config\": give --config", path))
		}
		name = sf.Config
	}
	cfg, err := resolveMachine(s, name)
	if err != nil {
		if o.config == "" {
			return badInput(fmt.Errorf("export %s: the schedule's config %q: %w (give --config when it came from a file)", path, name, err))
		}
		return err
	}
	mc := model.ExportMachine{Name: cfg.Name, ArrayRows: cfg.ArrayRows, ArrayCols: cfg.ArrayCols, ComputeTiles: cfg.ComputeTiles}
	// every mapping must fit the machine it is exported for
	for _, op := range ops {
		p := problemOf(op)
		if _, err := constraints.Place(p, op.Mapping, cfg); err != nil {
			return badInput(fmt.Errorf("export %s: operator %q on %s: %w", path, op.Name, cfg.Name, err))
		}
	}
	var data []byte
	switch o.to {
	case "tilings":
		t, err := model.ExportTilings(sf.Graph, mc, ops)
		if err != nil {
			return badInput(fmt.Errorf("export %s: %w", path, err))
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(t); err != nil {
			return failed(fmt.Errorf("export: encode: %w", err))
		}
		data = buf.Bytes()
	case "timeloop":
		if data, err = model.ExportTimeloop(mc, ops); err != nil {
			return badInput(fmt.Errorf("export %s: %w", path, err))
		}
	case "dfx":
		if len(ops) > 1 {
			return badInput(fmt.Errorf("export %s: --to dfx writes one kernel: choose it with --op (one of %s)", path, opNames(ops)))
		}
		if data, err = exportDFX(ctx, sf.Graph, ops[0], cycles[0], mc, cfg, o.maxOps); err != nil {
			if errors.Is(err, errTooManyOps) {
				return badInput(fmt.Errorf("export %s: %w", path, err))
			}
			return failed(fmt.Errorf("export %s: %w", path, err))
		}
	}
	if o.output != "" {
		if err := writeFileAtomic(o.output, data); err != nil {
			return failed(fmt.Errorf("export: %w", err))
		}
		return nil
	}
	if _, err := s.Out.Write(data); err != nil {
		return failed(fmt.Errorf("export: %w", err))
	}
	return nil
}

func opNames(ops []model.ExportOp) string {
	var names []string
	for _, op := range ops {
		names = append(names, op.Name)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func problemOf(op model.ExportOp) constraints.Problem {
	return constraints.Problem{Name: op.Name, Batch: op.Batch, M: op.M, N: op.N, K: op.K, DType: op.DType}
}

var errTooManyOps = errors.New("too many operations")

// exportDFX walks the command stream of op's mapping (docs/mapping.md) and
// writes it as a DFX kernel.
func exportDFX(ctx context.Context, graph string, op model.ExportOp, cycles int64, mc model.ExportMachine, cfg *kpu.Config, maxOps int) ([]byte, error) {
	prog, err := model.NewDFXProgram(graph, op, mc)
	if err != nil {
		return nil, err
	}
	p := problemOf(op)
	n := 0
	err = constraints.Walk(ctx, p, op.Mapping, cfg, func(c *constraints.Cmd) error {
		if n++; n > maxOps {
			return fmt.Errorf("operator %q: the kernel has more than %d operations (--max-ops): %w", op.Name, maxOps, errTooManyOps)
		}
		dc := model.DFXCommand{ID: c.ID, Deps: c.Deps, Operand: c.Operand.String(), Engine: c.Engine.String(),
			Batch: c.Block.Batch, Row: c.Block.Row, Col: c.Block.Col, Rows: c.Block.Rows, Cols: c.Block.Cols,
			K0: c.K0, KLen: c.KLen, Accumulate: c.Accumulate, Bytes: c.Bytes}
		switch c.Kind {
		case constraints.CmdLoad:
			dc.Kind = "load"
		case constraints.CmdStore:
			dc.Kind = "store"
		case constraints.CmdMoveIn:
			dc.Kind = "move_in"
			dc.Transpose = (c.Operand == constraints.OpA && p.TransA) || (c.Operand == constraints.OpB && p.TransB)
		case constraints.CmdMoveOut:
			dc.Kind = "move_out"
		case constraints.CmdFeed:
			dc.Kind = "feed"
		case constraints.CmdMatMul:
			dc.Kind = "matmul"
		default:
			return fmt.Errorf("operator %q: command %d (%s) has no DFX operation", op.Name, c.ID, c.Kind)
		}
		return prog.Add(dc)
	})
	if err != nil {
		return nil, fmt.Errorf("dfx: %w", err)
	}
	prog.Finish(cycles)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(prog); err != nil {
		return nil, fmt.Errorf("dfx: encode: %w", err)
	}
	return buf.Bytes(), nil
}
