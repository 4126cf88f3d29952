package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/lowering"
	"github.com/stillwater-sc/kpuopt/model"
	"github.com/stillwater-sc/kpuopt/search/graph"
)

// graphSuiteName is the suite of whole graphs (search/graph).
const graphSuiteName = "graphs"

// graphSuiteFiles are the graphs of `bench --suite graphs`, relative to the
// repository root: an MLP, a transformer encoder, a BERT-base layer, a ResNet
// block and ResNet-50.
var graphSuiteFiles = []string{
	"testdata/mlp.json",
	"testdata/transformer_encoder.json",
	"testdata/bert_layer.json",
	"testdata/resnet_block.json",
	"testdata/resnet50/resnet50.json",
}

// graphBenchRow is one graph on one machine: the joint schedule (mappings,
// residency and fusion chosen together), the layerwise one (every operator
// alone through DRAM) and the lower bound, all of the objective.
type graphBenchRow struct {
	Config         string  `json:"config"`
	Graph          string  `json:"graph"`
	File           string  `json:"file"`
	Operators      int     `json:"operators"`
	Status         string  `json:"status"`
	Engine         string  `json:"engine"`
	Seconds        float64 `json:"solve_seconds"` // the joint solve, its seed searches included
	Gap            float64 `json:"gap"`
	Joint          float64 `json:"joint"`
	Layerwise      float64 `json:"layerwise"`
	LowerBound     float64 `json:"lower_bound"`
	LayerwiseRatio float64 `json:"layerwise_over_joint"`
	BoundRatio     float64 `json:"joint_over_bound"`
	Resident       int     `json:"resident_tensors"`
}

type graphBenchSummary struct {
	Cases         int     `json:"cases"`
	Proven        int     `json:"proven"`
	MedianSeconds float64 `json:"median_solve_seconds"`
	MaxSeconds    float64 `json:"max_solve_seconds"`
	GeoLayerwise  float64 `json:"geomean_layerwise_over_joint"`
	GeoBound      float64 `json:"geomean_joint_over_bound"`
}

type graphBenchReport struct {
	Suite     string            `json:"suite"`
	Objective string            `json:"objective"`
	SeedTime  float64           `json:"seed_time_seconds"`
	Rows      []graphBenchRow   `json:"rows"`
	Summary   graphBenchSummary `json:"summary"`
}

// graphValue is the objective of a graph schedule's figures.
func graphValue(f model.Figures, obj constraints.Objective) float64 {
	switch obj {
	case constraints.Energy:
		return f.EnergyPJ
	case constraints.Traffic:
		return float64(f.DRAMBytes)
	case constraints.EDP:
		return float64(f.LatencyCycles) * f.EnergyPJ
	}
	return float64(f.LatencyCycles)
}

func benchRatioOf(a, b float64) float64 {
	if a <= 0 || b <= 0 || math.IsInf(a, 0) || math.IsInf(b, 0) {
		return 0
	}
	return round6(a / b)
}

// runGraphBench runs the graphs suite: for each machine and graph, the joint
// solve (timed, fresh cache) and then the layerwise one (sharing the joint
// solve's cache of seed mappings and operator costs).
func runGraphBench(ctx context.Context, o *benchOptions, files []string, cfgs []*kpu.Config, obj constraints.Objective) (*graphBenchReport, error) {
	s := o.streams
	now := o.now
	if now == nil {
		now = benchClock
	}
	graphs := make([]*model.Graph, len(files))
	for i, f := range files {
		g, err := loadGraph(f)
		if err != nil {
			if len(o.graphs) == 0 {
				return nil, badInput(fmt.Errorf("bench --suite graphs: %w (the suite's graphs are read from the repository's testdata/: run from the repository root or give --graphs)", err))
			}
			return nil, err
		}
		graphs[i] = g
	}
	rep := &graphBenchReport{Suite: graphSuiteName, Objective: string(obj), SeedTime: o.timeLimit.Seconds()}
	if len(o.graphs) > 0 {
		rep.Suite = "custom-graphs"
	}
	total := len(cfgs) * len(graphs)
	var runErr error
run:
	for _, cfg := range cfgs {
		for i, g := range graphs {
			if s.Terminal {
				fmt.Fprintf(s.Err, "\r\033[Kbench %s: [%d/%d] %s %s", rep.Suite, len(rep.Rows)+1, total, cfg.Name, g.Name)
			}
			row, err := graphBenchCase(ctx, g, files[i], cfg, obj, o, now)
			if err != nil {
				runErr = fmt.Errorf("%s on %s: %w", files[i], cfg.Name, err)
				break run
			}
			rep.Rows = append(rep.Rows, *row)
		}
	}
	if s.Terminal {
		fmt.Fprint(s.Err, "\r\033[K")
	}
	rep.Summary = summarizeGraphBench(rep.Rows)
	return rep, runErr
}

func graphBenchCase(ctx context.Context, g *model.Graph, file string, cfg *kpu.Config, obj constraints.Objective, o *benchOptions, now func() time.Time) (*graphBenchRow, error) {
	cache := &graph.Cache{}
	start := now()
	jt, err := graph.Solve(ctx, g, cfg, graph.Options{Mode: graph.ModeOptimal, Objective: obj, SeedTime: o.timeLimit, Cache: cache, Check: lowering.CheckSchedule(g, cfg)})
	secs := math.Round(now().Sub(start).Seconds()*1e3) / 1e3
	if err != nil {
		return nil, fmt.Errorf("joint: %w", err)
	}
	lw, err := graph.Solve(ctx, g, cfg, graph.Options{Mode: graph.ModeLayerwise, Objective: obj, SeedTime: o.timeLimit, Cache: cache})
	if err != nil {
		return nil, fmt.Errorf("layerwise: %w", err)
	}
	row := &graphBenchRow{Config: cfg.Name, Graph: g.Name, File: file, Operators: len(g.Operators), Status: jt.Status, Engine: jt.Engine,
		Seconds: secs, Gap: round6(jt.Gap), Joint: graphValue(jt.Predicted, obj), Layerwise: graphValue(lw.Predicted, obj),
		LowerBound: graphValue(jt.Bound, obj), Resident: len(jt.Resident)}
	row.LayerwiseRatio = benchRatioOf(row.Layerwise, row.Joint)
	row.BoundRatio = benchRatioOf(row.Joint, row.LowerBound)
	return row, nil
}

func summarizeGraphBench(rows []graphBenchRow) graphBenchSummary {
	sm := graphBenchSummary{Cases: len(rows)}
	if len(rows) == 0 {
		return sm
	}
	var secs []float64
	lw, bd := 0.0, 0.0
	nl, nb := 0, 0
	for _, r := range rows {
		secs = append(secs, r.Seconds)
		if r.Status == "optimal" {
			sm.Proven++
		}
		if r.LayerwiseRatio > 0 {
			lw += math.Log(r.LayerwiseRatio)
			nl++
		}
		if r.BoundRatio > 0 {
			bd += math.Log(r.BoundRatio)
			nb++
		}
	}
	sort.Float64s(secs)
	n := len(secs)
	sm.MedianSeconds = secs[n/2]
	if n%2 == 0 {
		sm.MedianSeconds = math.Round((secs[n/2-1]+secs[n/2])/2*1e3) / 1e3
	}
	sm.MaxSeconds = secs[n-1]
	if nl > 0 {
		sm.GeoLayerwise = round6(math.Exp(lw / float64(nl)))
	}
	if nb > 0 {
		sm.GeoBound = round6(math.Exp(bd / float64(nb)))
	}
	return sm
}

func encodeGraphBench(format string, rep *graphBenchReport) ([]byte, error) {
	var buf bytes.Buffer
	switch format {
	case "json":
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return nil, err
		}
	case "csv":
		w := csv.NewWriter(&buf)
		f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
		rows := [][]string{{"config", "graph", "operators", "status", "solve_seconds", "gap", "joint", "layerwise", "lower_bound", "layerwise_over_joint", "joint_over_bound", "resident_tensors"}}
		for _, r := range rep.Rows {
			rows = append(rows, []string{r.Config, r.Graph, strconv.Itoa(r.Operators), r.Status, f(r.Seconds), f(r.Gap), f(r.Joint), f(r.Layerwise), f(r.LowerBound),
				f(r.LayerwiseRatio), f(r.BoundRatio), strconv.Itoa(r.Resident)})
		}
		sm := rep.Summary
		rows = append(rows, []string{"summary median/geomean", "", "", fmt.Sprintf("%d/%d proven", sm.Proven, sm.Cases), f(sm.MedianSeconds), "", "", "", "", f(sm.GeoLayerwise), f(sm.GeoBound), ""})
		rows = append(rows, []string{"summary max", "", "", "", f(sm.MaxSeconds), "", "", "", "", "", "", ""})
		if err := w.WriteAll(rows); err != nil {
			return nil, err
		}
	default:
		fmt.Fprintf(&buf, "bench %s: objective %s, seed searches %gs per GEMM shape\n", rep.Suite, rep.Objective, rep.SeedTime)
		w := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(w, "config\tgraph\tops\tstatus\tsolve s\tgap\tjoint\tlayerwise\tlower bound\tlayerwise/joint\tjoint/bound\tresident\t")
		for _, r := range rep.Rows {
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%.3f\t%.2f%%\t%s\t%s\t%s\t%s\t%s\t%d\t\n", cell(r.Config), cell(r.Graph), r.Operators, r.Status, r.Seconds, 100*r.Gap,
				benchNumber(r.Joint), benchNumber(r.Layerwise), benchNumber(r.LowerBound), benchRatio(r.LayerwiseRatio), benchRatio(r.BoundRatio), r.Resident)
		}
		sm := rep.Summary
		fmt.Fprintf(w, "summary\t%d cases\t\t%d proven\tmedian %.3f\t\t\t\t\tgeomean %s\tgeomean %s\t\t\n", sm.Cases, sm.Proven, sm.MedianSeconds, benchRatio(sm.GeoLayerwise), benchRatio(sm.GeoBound))
		if err := w.Flush(); err != nil {
			return nil, err
		}
		fmt.Fprintf(&buf, "solve time of the joint search: median %.3f s, max %.3f s; ratios are of the objective\n", sm.MedianSeconds, sm.MaxSeconds)
	}
	return buf.Bytes(), nil
}

// graphFiles is the graphs to bench: --graphs, or the suite's.
func graphFiles(o *benchOptions) []string {
	if len(o.graphs) == 0 {
		return graphSuiteFiles
	}
	var out []string
	for _, f := range o.graphs {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
