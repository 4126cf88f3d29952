package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/stillwater-sc/kpuopt/model"
)

func newGraphCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "graph",
		Short: "Inspect and check computational graph files",
		Long: "A graph file is kpu-sim's JSON graph format (a \"tensors\" map and an \"operators\" list)\n" +
			"or the single-operator shorthand {\"op\": \"matmul\", \"A\": {...}, \"B\": {...}, \"C\": {...}}.\n" +
			"See docs/graph-format.md.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newGraphInfoCmd(s), newGraphCheckCmd(s))
	return cmd
}

// loadGraph reads and validates a graph file; every failure is bad input.
func loadGraph(path string) (*model.Graph, error) {
	g, err := model.LoadFile(path)
	if err != nil {
		return nil, badInput(err)
	}
	return g, nil
}

// graphInfoOptions holds the flags of `graph info`.
type graphInfoOptions struct {
	streams *streams
	file    string
	format  string
}

func newGraphInfoCmd(s *streams) *cobra.Command {
	o := &graphInfoOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "info FILE",
		Short: "Show a graph's operators, shapes and work (MACs, bytes)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFormat(cmd, o.format, "table", "json"); err != nil {
				return err
			}
			o.file = args[0]
			return runGraphInfo(o)
		},
	}
	cmd.Flags().StringVar(&o.format, "format", "table", "output format: table or json")
	return cmd
}

// gemmInfo is the GEMM view of a GEMM-like operator in `graph info --format json`.
type gemmInfo struct {
	Batch  int64       `json:"batch"`
	M      int64       `json:"m"`
	N      int64       `json:"n"`
	K      int64       `json:"k"`
	DType  model.DType `json:"dtype"`
	TransA bool        `json:"transpose_a"`
	TransB bool        `json:"transpose_b"`
}

type tensorInfo struct {
	Name  string      `json:"name"`
	Shape []int64     `json:"shape"`
	DType model.DType `json:"dtype"`
	Bytes int64       `json:"bytes"`
	Role  string      `json:"role"` // input, output or intermediate
}

type operatorInfo struct {
	Name      string       `json:"name"`
	Type      model.OpType `json:"type"`
	Inputs    []string     `json:"inputs"`
	Outputs   []string     `json:"outputs"`
	Shape     []int64      `json:"output_shape"`
	DType     model.DType  `json:"output_dtype"`
	MACs      int64        `json:"macs"`
	VectorOps int64        `json:"vector_ops"`
	Bytes     int64        `json:"bytes"`
	GEMM      *gemmInfo    `json:"gemm,omitempty"`
}

// graphInfo is the JSON document `graph info --format json` prints.
type graphInfo struct {
	File        string         `json:"file"`
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Inputs      []string       `json:"inputs"`
	Outputs     []string       `json:"outputs"`
	Tensors     []tensorInfo   `json:"tensors"`
	Operators   []operatorInfo `json:"operators"`
	MACs        int64          `json:"macs"`
	VectorOps   int64          `json:"vector_ops"`
	Bytes       int64          `json:"bytes"`
}

func describeGraph(file string, g *model.Graph) (*graphInfo, error) {
	info := &graphInfo{File: file, Name: g.Name, Description: g.Description, Inputs: g.Inputs(), Outputs: g.Outputs()}
	role := map[string]string{}
	for _, n := range info.Inputs {
		role[n] = "input"
	}
	for _, n := range info.Outputs {
		role[n] = "output"
	}
	for _, op := range g.Operators {
		out := g.Tensors[op.Outputs[0]]
		w := g.Work(op)
		oi := operatorInfo{Name: op.Name, Type: op.Type, Inputs: op.Inputs, Outputs: op.Outputs, Shape: out.Shape,
			DType: out.DType, MACs: w.MACs, VectorOps: w.VectorOps, Bytes: w.Bytes}
		s, ok, err := g.GEMM(op)
		if err != nil {
			return nil, err
		}
		if ok {
			oi.GEMM = &gemmInfo{Batch: s.Batch, M: s.M, N: s.N, K: s.K, DType: s.DType, TransA: s.TransA, TransB: s.TransB}
		}
		info.Operators = append(info.Operators, oi)
		info.MACs += w.MACs
		info.VectorOps += w.VectorOps
		info.Bytes += w.Bytes
	}
	for _, name := range sortedTensorNames(g) {
		t := g.Tensors[name]
		r := role[name]
		if r == "" {
			r = "intermediate"
		}
		info.Tensors = append(info.Tensors, tensorInfo{Name: name, Shape: t.Shape, DType: t.DType, Bytes: t.Bytes(), Role: r})
	}
	return info, nil
}

func sortedTensorNames(g *model.Graph) []string {
	return slices.Sorted(maps.Keys(g.Tensors))
}

func shapeString(s []int64) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, "x") + "]"
}

func runGraphInfo(o *graphInfoOptions) error {
	g, err := loadGraph(o.file)
	if err != nil {
		return err
	}
	info, err := describeGraph(o.file, g)
	if err != nil {
		return failed(err)
	}
	out := o.streams.Out
	if o.format == "json" {
		data, err := json.MarshalIndent(info, "", "  ")
		if err != nil {
			return failed(fmt.Errorf("graph info %s: %w", o.file, err))
		}
		_, err = fmt.Fprintf(out, "%s\n", data)
		return err
	}
	fmt.Fprintf(out, "graph %s (%s): %d operators, %d tensors\n", cell(info.Name), cell(o.file), len(info.Operators), len(info.Tensors))
	if info.Description != "" {
		fmt.Fprintf(out, "  %s\n", cell(info.Description))
	}
	fmt.Fprintf(out, "inputs:  %s\noutputs: %s\n\n", cellList(info.Inputs, ", "), cellList(info.Outputs, ", "))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OPERATOR\tTYPE\tOUTPUT\tSHAPE\tGEMM (BxMxNxK)\tMACS\tVECTOR OPS\tBYTES")
	for _, op := range info.Operators {
		gemm := "-"
		if op.GEMM != nil {
			gemm = fmt.Sprintf("%dx%dx%dx%d", op.GEMM.Batch, op.GEMM.M, op.GEMM.N, op.GEMM.K)
			if op.GEMM.TransA || op.GEMM.TransB {
				gemm += fmt.Sprintf(" (t%s%s)", map[bool]string{true: "A"}[op.GEMM.TransA], map[bool]string{true: "B"}[op.GEMM.TransB])
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s %s\t%s\t%d\t%d\t%d\n", cell(op.Name), op.Type, cell(op.Outputs[0]), shapeString(op.Shape), op.DType,
			gemm, op.MACs, op.VectorOps, op.Bytes)
	}
	fmt.Fprintf(tw, "total\t\t\t\t\t%d\t%d\t%d\n", info.MACs, info.VectorOps, info.Bytes)
	return tw.Flush()
}

// graphCheckOptions holds the arguments of `graph check`.
type graphCheckOptions struct {
	streams *streams
	file    string
}

func newGraphCheckCmd(s *streams) *cobra.Command {
	o := &graphCheckOptions{streams: s}
	return &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a graph file (exit 0 if valid, 2 with the first problem otherwise)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.file = args[0]
			return runGraphCheck(o)
		},
	}
}

func runGraphCheck(o *graphCheckOptions) error {
	g, err := loadGraph(o.file)
	if err != nil {
		return err
	}
	w := g.TotalWork()
	_, err = fmt.Fprintf(o.streams.Out, "%s: ok: graph %q, %d operators, %d tensors, %d MACs\n",
		cell(o.file), g.Name, len(g.Operators), len(g.Tensors), w.MACs)
	return err
}
