package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mp-go/mp"
)

func TestLine(t *testing.T) {
	tests := []struct {
		name  string
		p     mp.Progress
		width int
		want  string
	}{
		{"half way", mp.Progress{Done: 520, Total: 1000, Elapsed: 42275 * time.Microsecond}, 10,
			"[#####.....]  52% 520/1000  12.3k/s  ETA <1s"},
		{"eta in seconds", mp.Progress{Done: 520, Total: 1000, Elapsed: 6500 * time.Millisecond}, 10,
			"[#####.....]  52% 520/1000  80.0/s  ETA 6s"},
		{"nothing done yet", mp.Progress{Done: 0, Total: 1000, Elapsed: time.Second}, 10,
			"[..........]   0% 0/1000  0/s  ETA ?"},
		{"no time elapsed", mp.Progress{Done: 0, Total: 8}, 4,
			"[....]   0% 0/8  0/s  ETA ?"},
		{"done", mp.Progress{Done: 1000, Total: 1000, Elapsed: 1250 * time.Millisecond}, 10,
			"[##########] 100% 1000/1000  800/s  in 1.2s"},
		{"no float rounding", mp.Progress{Done: 29, Total: 100, Elapsed: 10 * time.Second}, 10,
			"[##........]  29% 29/100  2.90/s  ETA 24s"},
		{"one short of the end", mp.Progress{Done: 999, Total: 1000, Elapsed: 999 * time.Second}, 10,
			"[#########.]  99% 999/1000  1.00/s  ETA 1s"},
		{"minutes left", mp.Progress{Done: 10, Total: 1000, Elapsed: 2 * time.Second}, 5,
			"[.....]   1% 10/1000  5.00/s  ETA 3m18s"},
		{"hours left", mp.Progress{Done: 1, Total: 10000, Elapsed: time.Second}, 5,
			"[.....]   0% 1/10000  1.00/s  ETA 2h47m"},
		{"default width", mp.Progress{Done: 3, Total: 4, Elapsed: 3 * time.Second}, 20,
			"[###############.....]  75% 3/4  1.00/s  ETA 1s"},
		{"no bar", mp.Progress{Done: 3, Total: 4, Elapsed: 3 * time.Second}, 0,
			" 75% 3/4  1.00/s  ETA 1s"},
		{"empty map", mp.Progress{Done: 0, Total: 0, Elapsed: time.Millisecond}, 4,
			"[####] 100% 0/0  0/s  in 0.0s"},
		{"unknown total", mp.Progress{Done: 520, Total: -1, Elapsed: 42275 * time.Microsecond}, 10,
			"520 done  12.3k/s"},
		{"unknown total, nothing yet", mp.Progress{Done: 0, Total: -1}, 10,
			"0 done  0/s"},
		{"millions per second", mp.Progress{Done: 5_000_000, Total: 10_000_000, Elapsed: 2 * time.Second}, 4,
			"[##..]  50% 5000000/10000000  2.50M/s  ETA 2s"},
		{"long call", mp.Progress{Done: 60, Total: 60, Elapsed: 125 * time.Second}, 2,
			"[##] 100% 60/60  0.48/s  in 2m05s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Line(tt.p, tt.width); got != tt.want {
				t.Errorf("Line(%+v, %d)\n got %q\nwant %q", tt.p, tt.width, got, tt.want)
			}
		})
	}
}

func TestSICount(t *testing.T) {
	tests := []struct {
		x    float64
		want string
	}{
		{0, "0"}, {-3, "0"}, {0.004, "0.00"}, {0.52, "0.52"}, {5.25, "5.25"}, {9.999, "10.0"},
		{52.5, "52.5"}, {99.96, "100"}, {525, "525"}, {999.4, "999"}, {999.6, "1.00k"},
		{1234, "1.23k"}, {12345, "12.3k"}, {123456, "123k"}, {1234567, "1.23M"}, {5.6e9, "5.60G"},
	}
	for _, tt := range tests {
		if got := siCount(tt.x); got != tt.want {
			t.Errorf("siCount(%v) = %q, want %q", tt.x, got, tt.want)
		}
	}
}

func TestShortDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"}, {0, "0s"}, {3 * time.Second, "3s"}, {400 * time.Millisecond, "0.4s"},
		{12340 * time.Millisecond, "12.3s"}, {125 * time.Second, "2m05s"}, {59*time.Minute + 59*time.Second, "59m59s"},
		{time.Hour + 2*time.Minute + 10*time.Second, "1h02m"}, {49 * time.Hour, "49h00m"},
	}
	for _, tt := range tests {
		if got := shortDuration(tt.d); got != tt.want {
			t.Errorf("shortDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// feed gives a bar a run of reports, one per 100 ms as mp.WithProgress does, ending with the
// final report repeated (as a Map reports once more when it ends).
func feed(f func(mp.Progress), total int, steps int) {
	for i := 1; i <= steps; i++ {
		done := i * total / steps
		f(mp.Progress{Done: done, Total: total, Elapsed: time.Duration(i) * 100 * time.Millisecond})
	}
	f(mp.Progress{Done: total, Total: total, Elapsed: time.Duration(steps) * 100 * time.Millisecond})
}

func TestBarTerminal(t *testing.T) {
	var buf bytes.Buffer
	f := Bar(&buf, WithTerminal(true), WithWidth(4))
	feed(f, 4, 4)
	want := "\r[#...]  25% 1/4  10.0/s  ETA <1s" +
		"\r[##..]  50% 2/4  10.0/s  ETA <1s" +
		"\r[###.]  75% 3/4  10.0/s  ETA <1s" +
		"\r[####] 100% 4/4  10.0/s  in 0.4s\n"
	if got := buf.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestBarTerminalBlanksLeftovers(t *testing.T) {
	var buf bytes.Buffer
	f := Bar(&buf, WithTerminal(true), WithWidth(0), WithLabel("x"))
	f(mp.Progress{Done: 1, Total: 2000, Elapsed: time.Second}) // ETA 33m19s: a long line
	f(mp.Progress{Done: 10, Total: 20, Elapsed: time.Second})  // ETA 1s: a shorter one
	long, short := "x   0% 1/2000  1.00/s  ETA 33m19s", "x  50% 10/20  10.0/s  ETA 1s"
	want := "\r" + long + "\r" + short + strings.Repeat(" ", len(long)-len(short))
	if got := buf.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestBarPlain(t *testing.T) {
	var buf bytes.Buffer
	f := Bar(&buf, WithWidth(4), WithInterval(time.Second))
	feed(f, 100, 25) // 2.5 s: a line at 1 s, at 2 s, and the final one
	want := "[#...]  40% 40/100  40.0/s  ETA 2s\n" +
		"[###.]  80% 80/100  40.0/s  ETA 1s\n" +
		"[####] 100% 100/100  40.0/s  in 2.5s\n"
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(buf.String(), "\r") {
		t.Error("a plain bar wrote a carriage return")
	}
}

func TestBarPlainShortCall(t *testing.T) {
	var buf bytes.Buffer
	feed(Bar(&buf), 10, 3) // 0.3 s, under the default interval: the final line only
	if got, want := buf.String(), "[####################] 100% 10/10  33.3/s  in 0.3s\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestBarPlainEveryReport(t *testing.T) {
	var buf bytes.Buffer
	f := Bar(&buf, WithInterval(0), WithWidth(0))
	for i := range 3 {
		f(mp.Progress{Done: i * 10, Total: -1, Elapsed: time.Duration(i+1) * time.Second})
	}
	if got, want := buf.String(), "0 done  0/s\n10 done  5.00/s\n20 done  6.67/s\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestBarReused(t *testing.T) {
	var buf bytes.Buffer
	f := Bar(&buf, WithTerminal(true), WithWidth(0))
	f(mp.Progress{Done: 2, Total: 2, Elapsed: time.Second})
	f(mp.Progress{Done: 2, Total: 2, Elapsed: 1100 * time.Millisecond}) // the final report repeated: ignored
	f(mp.Progress{Done: 3, Total: 3, Elapsed: 100 * time.Millisecond})  // a new call: its clock starts again
	want := "\r100% 2/2  2.00/s  in 1s\n" + "\r100% 3/3  30.0/s  in 0.1s\n"
	if got := buf.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestIsTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(w) {
		t.Error("a pipe was taken for a terminal")
	}
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a bytes.Buffer was taken for a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "bar")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("a regular file was taken for a terminal")
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer null.Close()
	if !isTerminal(null) {
		t.Errorf("%s, a character device, was not taken for a terminal", os.DevNull)
	}
}
