//go:build unix

package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Mem is the memory of a process, in KiB, as /proc/PID/smaps_rollup reports it.
type Mem struct {
	RSS int64 // resident set: every resident page mapped, shared ones included (Rss, as VmRSS)
	PSS int64 // proportional set: shared pages divided among the processes sharing them (Pss)
	USS int64 // unique set: pages no other process maps (Private_Clean + Private_Dirty)
}

// ReadMem reads the memory of process pid from /proc/PID/smaps_rollup, or only its RSS from
// /proc/PID/status (VmRSS) on kernels without smaps_rollup.
func ReadMem(pid int) (Mem, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	var m Mem
	found := false
	err := scanKiB(dir+"/smaps_rollup", func(key string, kib int64) {
		switch key {
		case "Rss":
			m.RSS, found = kib, true
		case "Pss":
			m.PSS = kib
		case "Private_Clean", "Private_Dirty":
			m.USS += kib
		}
	})
	if err == nil && found {
		return m, nil
	}
	err = scanKiB(dir+"/status", func(key string, kib int64) {
		if key == "VmRSS" {
			m.RSS, found = kib, true
		}
	})
	if err != nil {
		return Mem{}, err
	}
	if !found {
		return Mem{}, fmt.Errorf("bench: no RSS for pid %d", pid)
	}
	return m, nil
}

// scanKiB calls f for each "Key:   N kB" line of a /proc file.
func scanKiB(path string, f func(key string, kib int64)) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(rest)
		if len(fs) != 2 || fs[1] != "kB" {
			continue
		}
		if n, err := strconv.ParseInt(fs[0], 10, 64); err == nil {
			f(key, n)
		}
	}
	return sc.Err()
}
