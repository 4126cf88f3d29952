package graph

import (
	"context"
	"errors"
	"testing"

	"github.com/stillwater-sc/kpuopt/constraints"
	"github.com/stillwater-sc/kpuopt/model"
)

// rejectHomes is a Check error naming tensors.
type rejectHomes []string

func (r rejectHomes) Error() string         { return "rejected" }
func (r rejectHomes) HomeTensors() []string { return r }

// TestCheckLoop: with Options.Check, tensors larger than one L3 tile may be
// resident (striped homes); a Check that rejects named tensors makes Solve
// keep them in DRAM, one that rejects without names drops every striped
// home; without Check none is striped.
func TestCheckLoop(t *testing.T) {
	g := load(t, "transformer_encoder.json")
	cfg := preset(t, "embodied_ai")
	cfg.L3Tiles, cfg.L3TileBytes = int(cfg.L3Bytes()/(64<<10)), 64<<10
	striped := func(s *model.GraphSchedule) []string { return stripedResidents(s, cfg) }
	solve := func(check func(context.Context, *model.GraphSchedule) error) *model.GraphSchedule {
		t.Helper()
		s, err := Solve(context.Background(), g, cfg, Options{Seeds: []string{"greedy"}, Candidates: small, Check: check})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	all := solve(func(context.Context, *model.GraphSchedule) error { return nil })
	first := striped(all)
	if len(first) < 2 {
		t.Fatalf("%d striped homes: the case does not exercise the loop", len(first))
	}
	if n := len(striped(solve(nil))); n != 0 {
		t.Errorf("without Check: %d striped homes", n)
	}
	calls := 0
	named := solve(func(_ context.Context, s *model.GraphSchedule) error {
		calls++
		for _, n := range striped(s) {
			if n == first[0] {
				return rejectHomes{n}
			}
		}
		return nil
	})
	for _, r := range named.Resident {
		if r.Tensor == first[0] {
			t.Errorf("rejected tensor %s is resident", first[0])
		}
	}
	if calls < 2 || len(striped(named)) == 0 {
		t.Errorf("%d checks, %d striped homes: want the rejected one alone dropped", calls, len(striped(named)))
	}
	none := solve(func(_ context.Context, s *model.GraphSchedule) error {
		if len(striped(s)) > 0 {
			return errors.New("no reason given")
		}
		return nil
	})
	if n := len(striped(none)); n != 0 || none.Predicted.LatencyCycles <= 0 {
		t.Errorf("an unnamed rejection left %d striped homes", n)
	}
	for _, s := range []*model.GraphSchedule{all, named, none} {
		for _, r := range s.Resident {
			if constraints.StripedHomeTiles(r.Bytes, cfg) > 0 && r.L3Offset%cfg.L3TileBytes != 0 {
				t.Errorf("striped home of %s at %d does not start a tile", r.Tensor, r.L3Offset)
			}
		}
	}
}
