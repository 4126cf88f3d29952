package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stillwater-sc/kpuopt/model"
)

// importOptions holds the flags of `import`.
type importOptions struct {
	streams *streams
	file    string
	output  string
	dims    []string // NAME=VALUE
}

func newImportCmd(s *streams) *cobra.Command {
	o := &importOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "import MODEL.onnx",
		Short: "Convert an ONNX model to kpuopt's JSON graph format",
		Long: "import reads an ONNX model (ModelProto), maps its nodes to kpuopt operators and writes the\n" +
			"graph as JSON (to -o FILE, or to stdout). Initializers become weight tensors (shapes only).\n" +
			"Symbolic dimensions of the inputs need values: --dim batch=1 (repeatable). A summary goes to\n" +
			"stderr. graph info/check and solve also read .onnx files directly (without --dim).\n" +
			"See docs/onnx.md for the supported operators and limits.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.file = args[0]
			return runImport(o)
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "write the graph JSON to this file (default: stdout)")
	cmd.Flags().StringArrayVar(&o.dims, "dim", nil, "value of a symbolic dimension, NAME=VALUE (repeatable)")
	return cmd
}

// parseDims reads NAME=VALUE pairs into a map; values must be integers >= 1.
func parseDims(pairs []string) (map[string]int64, error) {
	dims := map[string]int64{}
	for _, p := range pairs {
		name, val, ok := strings.Cut(p, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("--dim %q: want NAME=VALUE, such as batch=1", p)
		}
		v, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("--dim %q: the value must be an integer >= 1", p)
		}
		if _, dup := dims[name]; dup {
			return nil, fmt.Errorf("--dim %q: %s is given twice", p, name)
		}
		dims[name] = v
	}
	return dims, nil
}

func runImport(o *importOptions) error {
	dims, err := parseDims(o.dims)
	if err != nil {
		return badInput(fmt.Errorf("import: %w", err))
	}
	g, err := model.LoadONNXFile(o.file, model.ONNXOptions{Dims: dims})
	if err != nil {
		return badInput(err)
	}
	if o.output == "" {
		data, err := model.Marshal(g)
		if err != nil {
			return failed(fmt.Errorf("import %s: %w", o.file, err))
		}
		if _, err := o.streams.Out.Write(data); err != nil {
			return failed(fmt.Errorf("import %s: write stdout: %w", o.file, err))
		}
	} else if err := model.WriteFile(o.output, g); err != nil {
		return failed(fmt.Errorf("import %s: %w", o.file, err))
	}
	w := g.TotalWork()
	dest := o.output
	if dest == "" {
		dest = "stdout"
	}
	counts := map[model.OpType]int{}
	for _, op := range g.Operators {
		counts[op.Type]++
	}
	var parts []string
	for _, t := range model.SupportedOpTypes() {
		if counts[t] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[t], t))
		}
	}
	_, err = fmt.Fprintf(o.streams.Err, "imported %s -> %s: graph %q, %d operators (%s), %d tensors (%d inputs), %d MACs, %d vector ops\n",
		o.file, dest, g.Name, len(g.Operators), strings.Join(parts, ", "), len(g.Tensors), len(g.Inputs()), w.MACs, w.VectorOps)
	return err
}
