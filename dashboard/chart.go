package dashboard

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// line is one series of a chart.
type line struct {
	Name  string
	Color string
	Y     []float64 // NaN where the series has no value
}

// svgChart draws lines over the same x range as an inline SVG, with the y axis from zero to the
// largest value, labelled by format.
func svgChart(title string, lines []line, format func(float64) string) template.HTML {
	const w, h, left, bottom, top = 560.0, 160.0, 64.0, 20.0, 18.0
	maxY := 0.0
	n := 0
	for _, l := range lines {
		n = max(n, len(l.Y))
		for _, y := range l.Y {
			if !math.IsNaN(y) {
				maxY = max(maxY, y)
			}
		}
	}
	if maxY == 0 {
		maxY = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" aria-label="%s" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" xmlns="http://www.w3.org/2000/svg">`,
		template.HTMLEscapeString(title), w, h, w, h)
	fmt.Fprintf(&b, `<text x="%.0f" y="12" class="title">%s</text>`, left, template.HTMLEscapeString(title))
	plotW, plotH := w-left-8, h-bottom-top
	for _, f := range []float64{0, 0.5, 1} {
		y := top + plotH*(1-f)
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" class="grid"/>`, left, y, w-8, y)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" class="axis" text-anchor="end">%s</text>`, left-4, y+4,
			template.HTMLEscapeString(format(maxY*f)))
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" class="axis">-%ds</text>`, left, h-4, n)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" class="axis" text-anchor="end">now</text>`, w-8, h-4)
	for li, l := range lines {
		var pts strings.Builder
		npts := 0
		var lastX, lastY float64
		flush := func() {
			switch {
			case npts == 1: // a lone second: a dot, since a line of one point does not show
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2" fill="%s"/>`, lastX, lastY, l.Color)
			case npts > 1:
				fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, l.Color, pts.String())
			}
			pts.Reset()
			npts = 0
		}
		for i, y := range l.Y {
			if math.IsNaN(y) {
				flush()
				continue
			}
			lastX, lastY = left+plotW*float64(i)/float64(max(n-1, 1)), top+plotH*(1-y/maxY)
			fmt.Fprintf(&pts, "%.1f,%.1f ", lastX, lastY)
			npts++
		}
		flush()
		fmt.Fprintf(&b, `<text x="%.0f" y="12" fill="%s" class="legend">%s</text>`, w-8-float64(len(lines)-li)*70, l.Color,
			template.HTMLEscapeString(l.Name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// throughputChart draws items completed per second.
func throughputChart(pts []point) template.HTML {
	items := make([]float64, len(pts))
	fails := make([]float64, len(pts))
	for i, p := range pts {
		items[i], fails[i] = float64(p.Items), float64(p.Fails)
	}
	return svgChart("throughput (items/s)", []line{
		{Name: "done", Color: "#2a7ae2", Y: items},
		{Name: "failed", Color: "#d9534f", Y: fails},
	}, func(v float64) string { return fmt.Sprintf("%.0f/s", v) })
}

// latencyChart draws the run time's percentiles and the queue wait's median per second.
func latencyChart(pts []point) template.HTML {
	mk := func(get func(point) time.Duration) []float64 {
		ys := make([]float64, len(pts))
		for i, p := range pts {
			if !p.Has {
				ys[i] = math.NaN()
				continue
			}
			ys[i] = float64(get(p))
		}
		return ys
	}
	return svgChart("duration", []line{
		{Name: "p50", Color: "#2a7ae2", Y: mk(func(p point) time.Duration { return p.P50 })},
		{Name: "p90", Color: "#f0ad4e", Y: mk(func(p point) time.Duration { return p.P90 })},
		{Name: "p99", Color: "#d9534f", Y: mk(func(p point) time.Duration { return p.P99 })},
		{Name: "wait p50", Color: "#5cb85c", Y: mk(func(p point) time.Duration { return p.Wait50 })},
	}, func(v float64) string { return shortDuration(time.Duration(v)) })
}

// shortDuration formats d with three significant digits: "1.23ms", "45.6s", "0".
func shortDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return trim(float64(d)/1e3) + "µs"
	case d < time.Second:
		return trim(float64(d)/1e6) + "ms"
	case d < time.Minute:
		return trim(float64(d)/1e9) + "s"
	default:
		return d.Round(time.Second).String()
	}
}

func trim(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// bytesIEC formats n bytes: "12.3 MiB".
func bytesIEC(n uint64) string {
	if n == 0 {
		return "—"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return trim(float64(n)/float64(div)) + " " + string("KMGTPE"[exp]) + "iB"
}
