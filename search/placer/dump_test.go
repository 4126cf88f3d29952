package placer

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"
)

func TestDump(t *testing.T) {
	if os.Getenv("KPUOPT_DUMP") == "" {
		t.Skip()
	}
	var n, seed int
	fmt.Sscanf(os.Getenv("KPUOPT_DUMP"), "%d/%d", &n, &seed)
	p, sol0, _ := GeneratePerfect(uint64(seed), n, 1024, 64)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s := newBnb(ctx, p)
	best := 0
	var snap []int64
	var snapPlaced []bool
	dumpHook = func(s *bnb) {
		c := len(s.placeLog)
		if c > best {
			best = c
			snap = slices.Clone(s.top)
			snapPlaced = slices.Clone(s.placed)
		}
	}
	off := make([]int64, len(p.Buffers))
	ok := s.fit(p.Capacity, off)
	fmt.Println("ok", ok, "nodes", s.nodes, "best placed", best, "nsec", s.nsec)
	fmt.Print("tops:")
	for t := range snap {
		fmt.Print(" ", snap[t]/64)
	}
	fmt.Println()
	for k := range s.orig {
		if !snapPlaced[k] {
			fmt.Printf("u k=%d sec[%d,%d) size=%d genoff=%d\n", k, s.sLo[k], s.sHi[k], s.size[k]/64, sol0[s.orig[k]]/64)
		}
	}
}
