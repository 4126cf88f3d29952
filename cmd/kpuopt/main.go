// Command kpuopt compiles computational graphs into optimal data-movement
// schedules for the Stillwater KPU. The command layer is thin: it parses flags,
// calls the library packages and prints their results.
package main

import (
	"context"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], defaultStreams())
	stop()
	os.Exit(code)
}
