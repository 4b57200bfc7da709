// Package progress draws a progress bar for the pool calls of mp: pass the function Bar returns to
// mp.WithProgress.
//
//	xs, err := mp.Map(ctx, pool, F, items, mp.WithProgress(progress.Bar(os.Stderr)))
//
// On a terminal the bar redraws one line in place:
//
//	[#####.....]  52% 520/1000  12.3k/s  ETA 3s
//
// and ends it with a newline once every item is done, showing how long the call took:
//
//	[##########] 100% 1000/1000  12.3k/s  in 1.2s
//
// Written anywhere else (a file, a pipe, a CI log), it prints the same line as a plain line of its
// own every few seconds instead, and the last one when every item is done, so that a log is not
// flooded with carriage returns. For MapSeq and MapSeqUnordered, whose input has no known length
// (Progress.Total is -1), the line shows the count and the rate only:
//
//	520 done  12.3k/s
//
// The package uses the standard library only.
package progress

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mp-go/mp"
)

// Option configures a bar.
type Option func(*bar)

// WithWidth sets the number of cells between the brackets; the default is 20. n < 1 hides the
// brackets and cells altogether.
func WithWidth(n int) Option { return func(b *bar) { b.width = n } }

// WithLabel puts s, and a space, at the start of the line.
func WithLabel(s string) Option { return func(b *bar) { b.label = s } }

// WithInterval sets how often a bar that is not drawn on a terminal prints a line: at most one
// line per d of the call's elapsed time (Progress.Elapsed), plus the final one. The default is 2 s;
// d <= 0 prints a line for every report. On a terminal every report is drawn.
func WithInterval(d time.Duration) Option { return func(b *bar) { b.interval = d } }

// WithTerminal overrides the detection of a terminal: true redraws one line with carriage
// returns, false prints plain lines, whatever w is.
func WithTerminal(on bool) Option {
	return func(b *bar) { b.terminal, b.terminalSet = on, true }
}

// Bar returns a function that draws the progress it is given on w, to pass to mp.WithProgress.
//
// w is taken to be a terminal when it is an *os.File on a character device (os.ModeCharDevice),
// as os.Stderr is in an interactive shell; WithTerminal overrides that.
//
// A bar draws one call: make a new one for each. It ends its line once Done reaches Total. A call
// that ends early (an error, a cancelled context) and a call of unknown total never reach that
// point, so on a terminal the line is left open: print a newline after the call in those cases.
// The returned function is safe for concurrent use, so it may also be called by hand, for
// instance as futures complete.
func Bar(w io.Writer, opts ...Option) func(mp.Progress) {
	b := &bar{w: w, width: 20, interval: 2 * time.Second}
	for _, o := range opts {
		if o != nil {
			o(b)
		}
	}
	if !b.terminalSet {
		b.terminal = isTerminal(w)
	}
	return b.update
}

type bar struct {
	w           io.Writer
	width       int
	label       string
	interval    time.Duration
	terminal    bool
	terminalSet bool

	mu       sync.Mutex
	printed  bool          // a plain line has been printed
	lastAt   time.Duration // Elapsed of the last plain line, or of the final line
	lastLen  int           // length of the line drawn on the terminal, to blank what is left of it
	finished bool          // the final line has been written
}

func (b *bar) update(p mp.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	complete := p.Total >= 0 && p.Done >= p.Total
	if b.finished {
		if p.Elapsed >= b.lastAt {
			return // the final report repeated, or a later one: the line is ended already
		}
		// A report from earlier than the final one: the bar is being reused for a new call.
		b.finished, b.printed, b.lastAt, b.lastLen = false, false, 0, 0
	}
	line := Line(p, b.width)
	if b.label != "" {
		line = b.label + " " + line
	}
	if b.terminal {
		pad := max(0, b.lastLen-len(line))
		b.lastLen = len(line)
		end := ""
		if complete {
			end = "\n"
			b.finished, b.lastAt = true, p.Elapsed
		}
		io.WriteString(b.w, "\r"+line+strings.Repeat(" ", pad)+end)
		return
	}
	if !complete && b.printed && p.Elapsed < b.lastAt+b.interval {
		return
	}
	if !complete && !b.printed && p.Elapsed < b.interval {
		return // the first line after one interval: a short call prints only its final line
	}
	b.printed, b.lastAt = true, p.Elapsed
	b.finished = complete
	io.WriteString(b.w, line+"\n")
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Line renders p as one line, without a line ending: the bar of width cells (none if width < 1),
// the percentage, the count, the rate, and the time left — or, once Done has reached Total, the
// time the call took. With an unknown total (Total < 0) it is the count and the rate only.
//
//	[#####.....]  52% 520/1000  12.3k/s  ETA 3s
func Line(p mp.Progress, width int) string {
	rate := p.Rate()
	if p.Total < 0 {
		return fmt.Sprintf("%d done  %s/s", p.Done, siCount(rate))
	}
	// Integer arithmetic: 29/100 is 29%, where float64 would make it 28.999…%.
	done, total := min(max(0, p.Done), p.Total), p.Total
	if total == 0 {
		done, total = 1, 1
	}
	var sb strings.Builder
	if width > 0 {
		full := done * width / total
		sb.WriteByte('[')
		sb.WriteString(strings.Repeat("#", full))
		sb.WriteString(strings.Repeat(".", width-full))
		sb.WriteString("] ")
	}
	fmt.Fprintf(&sb, "%3d%% %d/%d  %s/s  ", done*100/total, p.Done, p.Total, siCount(rate))
	switch {
	case p.Done >= p.Total:
		sb.WriteString("in " + shortDuration(p.Elapsed))
	case rate <= 0:
		sb.WriteString("ETA ?")
	default:
		left := time.Duration(float64(p.Total-p.Done) / rate * float64(time.Second)).Round(time.Second)
		if left == 0 {
			sb.WriteString("ETA <1s")
		} else {
			sb.WriteString("ETA " + shortDuration(left))
		}
	}
	return sb.String()
}

// siCount formats a non-negative number with three significant digits and an SI suffix:
// 0, 0.52, 5.25, 52.5, 525, 5.25k, 52.5k, 525k, 5.25M, and so on.
func siCount(x float64) string {
	if x <= 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return "0"
	}
	const suffixes = "kMGTPE"
	suffix := ""
	for i := 0; x >= 999.5 && i < len(suffixes); i++ {
		x /= 1000
		suffix = suffixes[i : i+1]
	}
	var s string
	switch {
	case x >= 99.95:
		s = fmt.Sprintf("%.0f", x)
	case x >= 9.995:
		s = fmt.Sprintf("%.1f", x)
	default:
		s = fmt.Sprintf("%.2f", x)
	}
	return s + suffix
}

// shortDuration formats a duration for the bar: 0.4s and 12.3s under a minute (whole seconds when it
// is a whole number of seconds: 3s), 2m05s under an hour, 1h02m beyond.
func shortDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		if d%time.Second == 0 {
			return fmt.Sprintf("%ds", d/time.Second)
		}
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", d/time.Minute, d%time.Minute/time.Second)
	default:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dh%02dm", d/time.Hour, d%time.Hour/time.Minute)
	}
}
