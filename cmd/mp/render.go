package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/mp-go/mp"
)

// render draws one screen: a clear, then the pools with their workers and last exits, the queues
// and the managers. Lines end in \r\n, as the terminal is in raw mode.
func render(url string, interval time.Duration, s *snapshot, err error, now time.Time) string {
	var b strings.Builder
	line := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteString("\x1b[K\r\n")
	}
	b.WriteString("\x1b[H\x1b[2J")
	line("\x1b[1mmp top\x1b[0m  %s  %s  (every %v; q quits)", url, now.Format("15:04:05"), interval)
	if err != nil {
		line("")
		line("\x1b[31m%v\x1b[0m", err)
		line("(retrying)")
		return b.String()
	}
	for _, p := range s.Pools {
		line("")
		state := ""
		if p.Paused {
			state += "  \x1b[33mPAUSED\x1b[0m"
		}
		if p.Closed {
			state += "  CLOSED"
		}
		line("\x1b[1mPOOL %s\x1b[0m (%s)  size %d  queued %d  running %d%s", p.Name, p.Kind, p.Size, p.Queued, p.Running, state)
		c := p.Counts
		line("  submitted %d  ok %d  failed %d  cancelled %d  timeout %d  died %d  retried %d",
			c.Submitted, c.Succeeded, c.Failed, c.Cancelled, c.TimedOut, c.WorkerDied, c.Retried)
		line("  %4s %8s %-9s %-24s %8s %7s %9s %8s %8s", "ID", "PID", "STATE", "TASK", "FOR", "DONE", "RSS", "CPU", "REPLACES")
		for _, w := range p.Workers {
			task, running := w.Task, ""
			if task != "" && !w.TaskStarted.IsZero() {
				running = short(now.Sub(w.TaskStarted))
			}
			replaces := ""
			if w.Replaces != 0 {
				replaces = fmt.Sprint(w.Replaces)
			}
			line("  %4d %8d %-9s %-24s %8s %7d %9s %8s %8s", w.ID, w.Pid, w.State, clip(task, 24), running, w.TasksDone, bytes(w.RSS), short(w.CPU), replaces)
		}
		if n := len(p.Exits); n > 0 {
			line("  last worker ends:")
			for _, e := range p.Exits[max(0, n-5):] {
				by := ""
				if e.ReplacedBy != 0 {
					by = fmt.Sprintf(", replaced by %d", e.ReplacedBy)
				}
				line("    %s worker %d (pid %d) %s%s: %s", e.At.Local().Format("15:04:05"), e.ID, e.Pid, reason(e.Reason), by, clip(e.Detail, 90))
			}
		}
		for _, m := range p.Maps {
			total := "?"
			if m.Total >= 0 {
				total = fmt.Sprint(m.Total)
			}
			line("  map %s: %d/%s items, %s", m.Task, m.Done, total, short(now.Sub(m.Started)))
		}
		if n := len(p.Failures); n > 0 {
			f := p.Failures[n-1]
			line("  last failure: %s %s: %s", f.At.Local().Format("15:04:05"), f.Task, clip(f.Error, 100))
		}
	}
	if len(s.Queues) > 0 {
		line("")
		line("\x1b[1mQUEUES\x1b[0m")
		for _, q := range s.Queues {
			capacity := "unbounded"
			if q.Cap > 0 {
				capacity = fmt.Sprint(q.Cap)
			}
			line("  %-24s %8d / %s", q.Name, q.Len, capacity)
		}
	}
	if len(s.Managers) > 0 {
		line("")
		line("\x1b[1mMANAGERS\x1b[0m")
		for _, m := range s.Managers {
			line("  %-24s objects %d  connections %d", m.Name, m.Objects, m.Connections)
		}
	}
	if len(s.Pools) == 0 && len(s.Queues) == 0 && len(s.Managers) == 0 {
		line("")
		line("(the program shows no pools, queues or managers)")
	}
	return b.String()
}

// reason colours an exit reason: red for the ones nobody asked for.
func reason(r mp.ExitReason) string {
	switch r {
	case mp.ExitSignal, mp.ExitCode, mp.ExitPanic, mp.ExitStartFail:
		return "\x1b[31m" + string(r) + "\x1b[0m"
	}
	return string(r)
}

func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

func short(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

func bytes(n uint64) string {
	switch {
	case n == 0:
		return ""
	case n < 1<<20:
		return fmt.Sprintf("%.0fKiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%.2fGiB", float64(n)/(1<<30))
	}
}
