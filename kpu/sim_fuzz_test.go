package kpu

import (
	"context"
	"os"
	"testing"
	"time"
)

// FuzzSimulate feeds arbitrary program JSON to the parser and simulator:
// they must return an error or a result, never panic.
func FuzzSimulate(f *testing.F) {
	for _, name := range []string{"transpose_block_mover", "vector_ops", "vector_epilogue", "matmul_single_tile"} {
		data, err := os.ReadFile(programsDir + "/" + name + ".json")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	cfg := mustPreset(f, "minimal")
	cfg.DRAMChannelBytes = 1 << 20 // keeps every fuzzed access small and fast
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProgram(data, "fuzz")
		if err != nil {
			return
		}
		inputs := map[string][]byte{}
		for name, tp := range p.Tensors {
			n := tp.DType.Size()
			for _, d := range tp.Shape {
				if d <= 0 || d > 1<<20 {
					n = 0
					break
				}
				n *= d
			}
			if tp.Input && n > 0 && n < 1<<20 {
				inputs[name] = make([]byte, n)
			}
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = Simulate(context.Background(), p, cfg, SimOptions{Functional: true, Inputs: inputs})
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("Simulate did not return within 10 s")
		}
	})
}
