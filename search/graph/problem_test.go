package graph

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestNewProblem checks the execution order, the fusable chains and the
// storages of the test graphs.
func TestNewProblem(t *testing.T) {
	tests := []struct {
		file     string
		order    []string
		chains   map[string]int
		eligible []string
	}{
		{
			file:     "mlp.json",
			order:    []string{"fc1", "relu1", "fc2", "relu2", "fc3", "softmax"},
			chains:   map[string]int{"fc1": 1, "fc2": 1, "fc3": 0},
			eligible: []string{"h1", "a1", "h2", "a2", "logits"},
		},
		{
			// the residual ADD reads two computed tensors: never fused
			file:     "resnet_block.json",
			order:    []string{"conv1", "relu1", "conv2", "residual", "relu2"},
			chains:   map[string]int{"conv1": 1, "conv2": 0},
			eligible: []string{"c1", "r1", "c2", "s"},
		},
	}
	for _, tt := range tests {
		pr, err := NewProblem(load(t, tt.file))
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		chains := map[string]int{}
		for _, st := range pr.Steps {
			order = append(order, st.Op.Name)
			if st.Kind == StepGEMM {
				chains[st.Op.Name] = st.Chain
			}
		}
		var eligible []string
		for _, s := range pr.Storages {
			if s.Eligible {
				eligible = append(eligible, s.Name)
			}
		}
		if diff := cmp.Diff(tt.order, order); diff != "" {
			t.Errorf("%s: order (-want +got):\n%s", tt.file, diff)
		}
		if diff := cmp.Diff(tt.chains, chains); diff != "" {
			t.Errorf("%s: chains (-want +got):\n%s", tt.file, diff)
		}
		if diff := cmp.Diff(tt.eligible, eligible); diff != "" {
			t.Errorf("%s: eligible storages (-want +got):\n%s", tt.file, diff)
		}
	}
}

// TestWithResidency checks the residency adjustment of an exact figure.
func TestWithResidency(t *testing.T) {
	pats := []Pattern{0, ResA, ResC, ResA | ResC}
	out := []Outcome{
		{Cycles: 1000, EnergyPJ: 500, DRAM: 400}, // none
		{Cycles: 900, EnergyPJ: 400, DRAM: 300},  // A saves 100 cycles, 100 pJ, 100 B
		{Cycles: 950, EnergyPJ: 450, DRAM: 350},  // C saves 50 each
		{Cycles: 850, EnergyPJ: 350, DRAM: 250},  // both
	}
	base := Figures{Cycles: 1200, Energy: 600, DRAM: 420}
	tests := []struct {
		k    int
		rho  float64
		want Figures
	}{
		{0, 1, base},
		{1, 1, Figures{Cycles: 1100, Energy: 500, DRAM: 320}},
		{2, 1, Figures{Cycles: 1150, Energy: 550, DRAM: 370}},
		{3, 1, Figures{Cycles: 1050, Energy: 450, DRAM: 270}},
		// a convolution gathering a ninth of the im2col bytes: A's part of
		// the saving (100) shrinks to 100/9
		{3, 1.0 / 9, Figures{Cycles: 1139, Energy: 550 - 100.0/9, DRAM: 359}},
	}
	for _, tt := range tests {
		got := withResidency(base, out, pats, tt.k, tt.rho)
		if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })); diff != "" {
			t.Errorf("pattern %s, rho %.3f (-want +got):\n%s", pats[tt.k], tt.rho, diff)
		}
	}
	// savings larger than the exact figure floor at 1 cycle and 0 bytes
	if got := withResidency(Figures{Cycles: 10, Energy: 10, DRAM: 10}, out, pats, 3, 1); got != (Figures{Cycles: 1, Energy: 0, DRAM: 0}) {
		t.Errorf("floor: got %+v", got)
	}
}
