// Command trivial is the floor of the benchmarks: the smallest Go program that can do what a
// workload's child does. The harness embeds this file, builds it with CGO_ENABLED=0 and starts it
// with os/exec.
//
//	trivial            exits at once (spawn_join)
//	trivial square X   prints X*X and exits (run_roundtrip)
//	trivial idle       prints "ready", then sleeps until killed (idle_rss)
package main

import (
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		return
	}
	switch os.Args[1] {
	case "square":
		x, err := strconv.Atoi(os.Args[2])
		if err != nil {
			os.Exit(2)
		}
		os.Stdout.WriteString(strconv.Itoa(x*x) + "\n")
	case "idle":
		os.Stdout.WriteString("ready\n")
		for {
			time.Sleep(time.Hour)
		}
	default:
		os.Exit(2)
	}
}
