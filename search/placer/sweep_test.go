package placer

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSweep is a manual measurement harness (KPUOPT_SWEEP=seeds e.g. 1-20).
func TestSweep(t *testing.T) {
	spec := os.Getenv("KPUOPT_SWEEP")
	if spec == "" {
		t.Skip("set KPUOPT_SWEEP")
	}
	var a, b int
	fmt.Sscanf(spec, "%d-%d", &a, &b)
	limit := 10 * time.Second
	if v := os.Getenv("KPUOPT_LIMIT"); v != "" {
		s, _ := strconv.Atoi(v)
		limit = time.Duration(s) * time.Second
	}
	ns := []int{150, 300, 450}
	if v := os.Getenv("KPUOPT_N"); v != "" {
		x, _ := strconv.Atoi(v)
		ns = []int{x}
	}
	var cases [][2]int
	for _, n := range ns {
		for seed := a; seed <= b; seed++ {
			cases = append(cases, [2]int{n, seed})
		}
	}
	if v := os.Getenv("KPUOPT_CASES"); v != "" {
		cases = nil
		for _, f := range strings.Fields(v) {
			var n, sd int
			fmt.Sscanf(f, "%d/%d", &n, &sd)
			cases = append(cases, [2]int{n, sd})
		}
	}
	for _, c := range cases {
		n, seed := c[0], c[1]
		{
			p, _, _ := GeneratePerfect(uint64(seed), n, 1024, 64)
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			sol, err := Place(ctx, p, Options{Capacity: p.Capacity})
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			fmt.Printf("n=%d seed=%d %s %v nodes=%d\n", n, seed, sol.Status, sol.Elapsed.Round(time.Millisecond), sol.Nodes)
		}
	}
}
