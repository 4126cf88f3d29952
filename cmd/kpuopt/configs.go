package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/stillwater-sc/kpuopt/kpu"
)

// resolveMachine loads the machine named by nameOrPath (a preset or a config
// file), prints the loader's warnings on s.Err, and marks failures as bad
// input. Every command that takes --config uses it.
func resolveMachine(s *streams, nameOrPath string) (*kpu.Config, error) {
	cfg, warns, err := kpu.Resolve(nameOrPath)
	for _, w := range warns {
		fmt.Fprintf(s.Err, "kpuopt: warning: %s\n", w)
	}
	if err != nil {
		return nil, badInput(err)
	}
	return cfg, nil
}

// loadProgramMachine reads the program file at path and the machine to run it
// on: the --config preset or file when config is set, else the machine the
// program names. Warnings go to stderr; failures are bad input.
func loadProgramMachine(s *streams, path, config string) (*kpu.Program, *kpu.Config, error) {
	prog, err := kpu.LoadProgram(path)
	if err != nil {
		return nil, nil, badInput(err)
	}
	if config != "" {
		cfg, err := resolveMachine(s, config)
		if err != nil {
			return nil, nil, err
		}
		return prog, cfg, nil
	}
	cfg, warns, err := kpu.ConfigFor(prog)
	for _, w := range warns {
		fmt.Fprintf(s.Err, "kpuopt: warning: %s\n", w)
	}
	if err != nil {
		return nil, nil, badInput(err)
	}
	return prog, cfg, nil
}

// requireFormat rejects a --format value outside the allowed ones.
func requireFormat(cmd *cobra.Command, format string, allowed ...string) error {
	for _, a := range allowed {
		if format == a {
			return nil
		}
	}
	return badInput(fmt.Errorf("%s: --format %q: want one of %v", cmd.CommandPath(), format, allowed))
}

func newConfigsCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "configs",
		Short: "List the built-in KPU machines or show one machine's parameters",
		Long: "A machine is a preset name (minimal, edge_ai, embodied_ai, datacenter) or a config file:\n" +
			"kpuopt's own JSON/YAML (the keys `configs show --format json` prints) or a kpu-sim\n" +
			"configs/kpu/*.yaml file. Parameters a file leaves out take documented defaults\n" +
			"(docs/config-format.md).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newConfigsListCmd(s), newConfigsShowCmd(s))
	return cmd
}

// configsListOptions holds the flags of `configs list`.
type configsListOptions struct {
	streams *streams
	format  string
}

func newConfigsListCmd(s *streams) *cobra.Command {
	o := &configsListOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the preset machines with one-line summaries",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFormat(cmd, o.format, "table", "json"); err != nil {
				return err
			}
			return runConfigsList(o)
		},
	}
	cmd.Flags().StringVar(&o.format, "format", "table", "output format: table or json")
	return cmd
}

// presetSummary is one row of `configs list --format json`.
type presetSummary struct {
	Name        string `json:"name"`
	Summary     string `json:"summary"`
	Description string `json:"description"`
}

func runConfigsList(o *configsListOptions) error {
	rows := make([]presetSummary, 0, len(kpu.PresetNames))
	for _, name := range kpu.PresetNames {
		c, err := kpu.Preset(name)
		if err != nil {
			return failed(fmt.Errorf("preset %s: %w", name, err))
		}
		rows = append(rows, presetSummary{Name: name, Summary: c.Summary(), Description: c.Description})
	}
	if o.format == "json" {
		return writeIndentedJSON(o.streams, rows)
	}
	tw := tabwriter.NewWriter(o.streams.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tMACHINE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", r.Name, r.Summary)
	}
	if err := tw.Flush(); err != nil {
		return failed(fmt.Errorf("configs list: write: %w", err))
	}
	return nil
}

// configsShowOptions holds the arguments and flags of `configs show`.
type configsShowOptions struct {
	streams *streams
	machine string
	format  string
}

func newConfigsShowCmd(s *streams) *cobra.Command {
	o := &configsShowOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "show NAME|FILE",
		Short: "Show every parameter of a machine (a preset or a config file)",
		Long: "Show every parameter of a machine, with units, and the figures derived from them.\n" +
			"--format json prints the Config itself: save it, edit it, and pass the file to --config.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFormat(cmd, o.format, "table", "json"); err != nil {
				return err
			}
			o.machine = args[0]
			return runConfigsShow(o)
		},
	}
	cmd.Flags().StringVar(&o.format, "format", "table", "output format: table or json")
	return cmd
}

func runConfigsShow(o *configsShowOptions) error {
	cfg, err := resolveMachine(o.streams, o.machine)
	if err != nil {
		return err
	}
	if o.format == "json" {
		return writeIndentedJSON(o.streams, cfg)
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "machine: %s\n", cell(cfg.Name))
	if cfg.Description != "" {
		fmt.Fprintf(&buf, "description: %s\n", cell(cfg.Description))
	}
	fmt.Fprintf(&buf, "summary: %s\n\n", cfg.Summary())
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PARAMETER\tVALUE\tUNIT\tNOTE")
	for _, p := range cfg.Parameters() {
		if p.Key == "name" || p.Key == "description" {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Key, cell(p.Value), p.Unit, p.Note)
	}
	if err := tw.Flush(); err != nil {
		return failed(fmt.Errorf("configs show: format table: %w", err))
	}
	if _, err := o.streams.Out.Write(trimLineEnds(buf.Bytes())); err != nil {
		return failed(fmt.Errorf("configs show: write: %w", err))
	}
	return nil
}

// trimLineEnds drops the trailing blanks tabwriter leaves after an empty
// last column.
func trimLineEnds(b []byte) []byte {
	lines := bytes.Split(b, []byte("\n"))
	for i, l := range lines {
		lines[i] = bytes.TrimRight(l, " ")
	}
	return bytes.Join(lines, []byte("\n"))
}

// writeIndentedJSON prints v as indented JSON on s.Out.
func writeIndentedJSON(s *streams, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return failed(fmt.Errorf("encode JSON: %w", err))
	}
	b = append(b, '\n')
	if _, err := s.Out.Write(b); err != nil {
		return failed(fmt.Errorf("write JSON: %w", err))
	}
	return nil
}
