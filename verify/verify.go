package verify

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/stillwater-sc/kpuopt/kpu"
	"github.com/stillwater-sc/kpuopt/model"
)

// DefaultFunctionalLimitMACs is the largest program (in MACs of its graph)
// verified numerically by default; larger ones get timing and checks only.
const DefaultFunctionalLimitMACs = int64(1) << 31

// DefaultFidelity is the largest accepted |predicted - simulated| / simulated.
const DefaultFidelity = 0.03

// Figures are the headline numbers of a schedule.
type Figures struct {
	LatencyCycles int64   `json:"latency_cycles"`
	DRAMBytes     int64   `json:"dram_bytes"`
	EnergyPJ      float64 `json:"energy_pj"`
}

// Options control Program.
type Options struct {
	// Seed draws the random inputs (model.RandomInputs).
	Seed uint64
	// FunctionalLimitMACs: above it only timing and checks run (0: the default
	// 2^31; negative: never run functionally).
	FunctionalLimitMACs int64
	// Predicted, when set, is compared with the simulation.
	Predicted *Figures
	// Fidelity is the accepted relative deviation of each predicted figure
	// (0: DefaultFidelity).
	Fidelity float64
	// RelTol overrides the per-dtype relative tolerance of float outputs.
	RelTol float64
}

// OutputCheck compares one graph output with the reference.
type OutputCheck struct {
	Tensor     string      `json:"tensor"`
	DType      model.DType `json:"dtype"`
	Elements   int64       `json:"elements"`
	Exact      bool        `json:"exact"`         // integer outputs must match exactly
	Tolerance  float64     `json:"tolerance"`     // float outputs: relative tolerance
	MaxAbsErr  float64     `json:"max_abs_error"` // max |sim - ref|
	MaxRelErr  float64     `json:"max_rel_error"` // max |sim - ref| / max(|ref|, rms(ref))
	Mismatches int64       `json:"mismatches"`    // elements outside the tolerance
	FirstBad   int64       `json:"first_bad"`     // index of the first, -1 if none
	OK         bool        `json:"ok"`
}

// Deviation is |predicted - simulated| / simulated per figure.
type Deviation struct {
	Latency float64 `json:"latency"`
	DRAM    float64 `json:"dram_bytes"`
	Energy  float64 `json:"energy"`
}

// Report is the outcome of Program. Verified is true when the checks pass,
// the numerics (if run) match and the prediction (if given) is within the
// fidelity bound; Reasons says why not.
type Report struct {
	Program    string          `json:"program"`
	Config     string          `json:"config"`
	Commands   int             `json:"commands"`
	MACs       int64           `json:"macs"`
	Checks     bool            `json:"checks_passed"`
	Violations []kpu.Violation `json:"violations,omitempty"`
	Functional bool            `json:"functional"`
	// FunctionalNote says why numerics were not checked.
	FunctionalNote string         `json:"functional_note,omitempty"`
	Seed           uint64         `json:"seed"`
	Outputs        []OutputCheck  `json:"outputs,omitempty"`
	Simulated      *Figures       `json:"simulated,omitempty"`
	Predicted      *Figures       `json:"predicted,omitempty"`
	Deviation      *Deviation     `json:"deviation,omitempty"`
	Fidelity       float64        `json:"fidelity_bound,omitempty"`
	Verified       bool           `json:"verified"`
	Reasons        []string       `json:"reasons,omitempty"`
	Sim            *kpu.SimResult `json:"-"`
}

// RelTol is the default relative tolerance of a float output dtype after
// one operator: the float32 sums of the fabric against float64 reference
// sums, plus one rounding of the output type. An output that is d operators
// deep (the longest chain from the graph's inputs) gets d times this
// tolerance, since each operator adds its own rounding and normalizations
// (softmax, layernorm) can amplify what came before.
func RelTol(d model.DType) float64 {
	switch d {
	case model.Float32:
		return 1e-4
	case model.Float16:
		return 5e-3
	case model.BFloat16:
		return 4e-2
	}
	return 0
}

// Program verifies prog on cfg (nil: the program's own config). It returns
// an error only when verification could not be carried out (bad options,
// cancelled, inputs that cannot be built); a program that fails is a Report
// with Verified false.
func Program(ctx context.Context, prog *kpu.Program, cfg *kpu.Config, opts Options) (*Report, error) {
	if cfg == nil {
		c, _, err := kpu.ConfigFor(prog)
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		cfg = c
	}
	limit := opts.FunctionalLimitMACs
	if limit == 0 {
		limit = DefaultFunctionalLimitMACs
	}
	fid := opts.Fidelity
	if fid == 0 {
		fid = DefaultFidelity
	}
	if fid < 0 {
		return nil, fmt.Errorf("verify: fidelity bound %v must be positive", fid)
	}
	rep := &Report{Program: prog.Name, Config: cfg.Name, Commands: len(prog.Commands), Seed: opts.Seed, Checks: true}
	g := prog.Graph
	var inputs map[string]*model.Array
	simOpts := kpu.SimOptions{}
	switch {
	case g == nil:
		rep.FunctionalNote = "the program carries no graph: no reference to compare with"
	default:
		rep.MACs = g.TotalWork().MACs
		if limit < 0 || rep.MACs > limit {
			rep.FunctionalNote = fmt.Sprintf("%d MACs exceed the functional limit of %d: timing and checks only", rep.MACs, max(limit, 0))
			break
		}
		var err error
		inputs, err = model.RandomInputs(g, opts.Seed)
		if err != nil {
			return nil, fmt.Errorf("verify %q: %w", prog.Name, err)
		}
		simOpts.Functional = true
		simOpts.Inputs = map[string][]byte{}
		for name, a := range inputs {
			if t, ok := prog.Tensors[name]; ok && t.Input {
				simOpts.Inputs[name] = a.Encode()
			}
		}
		for _, name := range sortedKeys(prog.Tensors) {
			if prog.Tensors[name].Input && inputs[name] == nil {
				return nil, fmt.Errorf("verify %q: tensor %q is placed as an input but is not an input of the graph", prog.Name, name)
			}
		}
	}
	res, err := kpu.Simulate(ctx, prog, cfg, simOpts)
	if err != nil {
		var ce *kpu.CheckError
		if errors.As(err, &ce) {
			rep.Checks = false
			rep.Violations = ce.Violations
			rep.Reasons = append(rep.Reasons, err.Error())
			rep.FunctionalNote = "not run: the program fails its checks"
			return rep, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("verify %q: %w", prog.Name, err)
		}
		// a program the simulator cannot run (bad inputs, ...) fails verification
		rep.Checks = false
		rep.Reasons = append(rep.Reasons, err.Error())
		return rep, nil
	}
	rep.Sim = res
	if rep.MACs == 0 {
		rep.MACs = res.MACs
	}
	rep.Simulated = &Figures{LatencyCycles: res.LatencyCycles, DRAMBytes: res.DRAMBytes, EnergyPJ: res.EnergyPJ}
	if simOpts.Functional {
		rep.Functional = true
		ref, err := model.Evaluate(ctx, g, inputs)
		if err != nil {
			return nil, fmt.Errorf("verify %q: reference: %w", prog.Name, err)
		}
		depth := opDepths(g)
		for _, name := range g.Outputs() {
			tol := opts.RelTol
			if tol == 0 {
				tol = RelTol(g.Tensors[name].DType) * float64(max(depth[name], 1))
			}
			oc, err := compareOutput(name, g.Tensors[name], res.Tensors[name], ref[name], tol)
			if err != nil {
				rep.Reasons = append(rep.Reasons, err.Error())
				continue
			}
			rep.Outputs = append(rep.Outputs, oc)
			if !oc.OK {
				if oc.Exact {
					rep.Reasons = append(rep.Reasons, fmt.Sprintf("output %q: %d of %d elements differ from the reference (first at %d, max |error| %g)", name, oc.Mismatches, oc.Elements, oc.FirstBad, oc.MaxAbsErr))
				} else {
					rep.Reasons = append(rep.Reasons, fmt.Sprintf("output %q: %d of %d elements outside relative tolerance %g (first at %d, max relative error %.3g)", name, oc.Mismatches, oc.Elements, oc.Tolerance, oc.FirstBad, oc.MaxRelErr))
				}
			}
		}
	}
	if p := opts.Predicted; p != nil {
		rep.Predicted = p
		rep.Fidelity = fid
		d := &Deviation{
			Latency: relDev(float64(p.LatencyCycles), float64(res.LatencyCycles)),
			DRAM:    relDev(float64(p.DRAMBytes), float64(res.DRAMBytes)),
			Energy:  relDev(p.EnergyPJ, res.EnergyPJ),
		}
		rep.Deviation = d
		for _, f := range []struct {
			name      string
			dev       float64
			pred, sim float64
		}{
			{"latency", d.Latency, float64(p.LatencyCycles), float64(res.LatencyCycles)},
			{"DRAM bytes", d.DRAM, float64(p.DRAMBytes), float64(res.DRAMBytes)},
			{"energy", d.Energy, p.EnergyPJ, res.EnergyPJ},
		} {
			if f.dev > fid {
				rep.Reasons = append(rep.Reasons, fmt.Sprintf("predicted %s %.6g differs from simulated %.6g by %.2f%% (bound %.2f%%)", f.name, f.pred, f.sim, 100*f.dev, 100*fid))
			}
		}
	}
	rep.Verified = len(rep.Reasons) == 0
	return rep, nil
}

func relDev(pred, sim float64) float64 {
	if sim == 0 {
		if pred == 0 {
			return 0
		}
		return math.Inf(1)
	}
	return math.Abs(pred-sim) / math.Abs(sim)
}

// compareOutput checks a simulated output against the reference.
func compareOutput(name string, t *model.Tensor, got []byte, ref *model.Array, relTol float64) (OutputCheck, error) {
	oc := OutputCheck{Tensor: name, DType: t.DType, Elements: t.Elements(), FirstBad: -1}
	if got == nil {
		return oc, fmt.Errorf("output %q: the program does not place it in DRAM", name)
	}
	if ref == nil {
		return oc, fmt.Errorf("output %q: the reference evaluation has no value for it", name)
	}
	sim, err := model.Decode(t.Shape, t.DType, got)
	if err != nil {
		return oc, fmt.Errorf("output %q: %w", name, err)
	}
	oc.Exact = t.DType.IsInteger()
	tol := relTol
	if tol == 0 {
		tol = RelTol(t.DType)
	}
	if !oc.Exact {
		oc.Tolerance = tol
	}
	var ss float64
	for _, v := range ref.Data {
		ss += v * v
	}
	rms := math.Sqrt(ss / float64(max(len(ref.Data), 1)))
	if rms == 0 {
		rms = 1
	}
	for i, r := range ref.Data {
		s := sim.Data[i]
		d := math.Abs(s - r)
		if math.IsNaN(s) != math.IsNaN(r) {
			d = math.Inf(1)
		} else if math.IsNaN(s) || (math.IsInf(r, 0) && s == r) {
			d = 0
		}
		rel := d / math.Max(math.Abs(r), rms)
		oc.MaxAbsErr = math.Max(oc.MaxAbsErr, d)
		oc.MaxRelErr = math.Max(oc.MaxRelErr, rel)
		bad := d != 0
		if !oc.Exact {
			bad = rel > tol
		}
		if bad {
			if oc.FirstBad < 0 {
				oc.FirstBad = int64(i)
			}
			oc.Mismatches++
		}
	}
	oc.OK = oc.Mismatches == 0
	return oc, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// opDepths gives, for every tensor of g, the number of operators on the
// longest chain from the graph's inputs to it (0 for inputs). Operators are in
// topological order after validation.
func opDepths(g *model.Graph) map[string]int {
	depth := make(map[string]int, len(g.Tensors))
	for _, op := range g.Operators {
		d := 0
		for _, in := range op.Inputs {
			d = max(d, depth[in])
		}
		for _, out := range op.Outputs {
			depth[out] = d + 1
		}
	}
	return depth
}
