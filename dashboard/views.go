package dashboard

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/metrics"
)

//go:embed templates/*.html templates/live.js
var files embed.FS

var liveJS, _ = files.ReadFile("templates/live.js")

var tmpl = template.Must(template.New("").Funcs(template.FuncMap{
	"dur":   shortDuration,
	"bytes": bytesIEC,
	"clock": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.Format("15:04:05")
	},
	"rate": func(r float64) string {
		if r >= 100 {
			return fmt.Sprintf("%.0f/s", r)
		}
		return fmt.Sprintf("%.1f/s", r)
	},
	"pct": func(a, b int) int {
		if b <= 0 {
			return 0
		}
		return min(100, 100*a/b)
	},
}).ParseFS(files, "templates/*.html"))

// view is one page of the dashboard.
type view struct {
	Path  string // relative to the handler's root: "" for the first
	Title string
	Tmpl  string // the fragment template's name
}

var views = []view{
	{"", "Workers", "workers"},
	{"pools", "Pools", "pools"},
	{"failures", "Failures", "failures"},
	{"maps", "Map progress", "maps"},
	{"queues", "Queues", "queues"},
	{"managers", "Managers", "managers"},
	{"cluster", "Cluster", "cluster"},
}

func viewByPath(p string) (view, bool) {
	for _, v := range views {
		if v.Path == p {
			return v, true
		}
	}
	return view{}, false
}

// pageData is what a page's templates render.
type pageData struct {
	View     view
	Views    []view
	CSRF     string
	ReadOnly bool
	Now      time.Time
	Pools    []poolView
	Queues   []queueView
	Managers []managerView
}

type poolView struct {
	Index      int
	Snap       mp.PoolSnapshot
	CanControl bool
	Workers    []workerView
	Exits      []mp.WorkerExit // newest first
	Failures   []mp.TaskFailure
	Restarts   int
	Maps       []mapView
	Throughput template.HTML
	Latency    template.HTML
	Window     point // over the chart's window
	Rate       float64
}

type workerView struct {
	mp.WorkerSnapshot
	RunningFor time.Duration
	Prev       *mp.WorkerExit // the end of the worker it replaced, if still recorded
}

type mapView struct {
	mp.MapProgress
	Pct  int
	Rate float64 // items per second since it started
	ETA  string
}

type queueView struct {
	Name       string
	Len, Cap   int
	Counted    bool // the queue has Stats: Puts, Gets and the rates mean something
	Puts, Gets uint64
	Rated      bool // PutRate and GetRate are known (two looks at least)
	PutRate    float64
	GetRate    float64
	Closed     bool
}

type managerView struct {
	Name                 string
	Pid                  int
	Objects, Connections int
	Ops                  uint64
	Rated                bool
	OpsRate              float64 // operations per second
	Err                  string
}

// queueStats reads q now and updates its rates.
func queueStats(q queueSource) queueView {
	st, counted, ok := metrics.QueueStats(q.q)
	qv := queueView{Name: q.name, Len: st.Len, Cap: st.Cap, Counted: counted, Puts: st.Puts, Gets: st.Gets, Closed: !ok}
	if counted {
		r, rated := q.rates.look([2]uint64{st.Puts, st.Gets})
		qv.Rated, qv.PutRate, qv.GetRate = rated, r[0], r[1]
	}
	return qv
}

// data gathers what view v shows, now.
func (d *Dashboard) data(r *http.Request, v view) *pageData {
	pools, queues, managers := d.sources()
	now := d.o.now()
	pd := &pageData{View: v, Views: views, CSRF: d.csrf, ReadOnly: d.o.readOnly, Now: now}
	for i, s := range pools {
		snap := s.obs.Snapshot()
		pv := poolView{Index: i, Snap: snap, CanControl: s.ctl != nil && !d.o.readOnly}
		exits := map[int]*mp.WorkerExit{}
		for j := range snap.Exits {
			e := &snap.Exits[j]
			exits[e.ID] = e
			if snap.ExitCounts == nil && e.Reason != mp.ExitShutdown {
				pv.Restarts++ // an executor that does not count its ends: the recent ones
			}
		}
		for r, n := range snap.ExitCounts {
			if r != mp.ExitShutdown {
				pv.Restarts += int(n)
			}
		}
		for _, w := range snap.Workers {
			wv := workerView{WorkerSnapshot: w, Prev: exits[w.Replaces]}
			if w.Task != "" && !w.TaskStarted.IsZero() {
				wv.RunningFor = now.Sub(w.TaskStarted)
			}
			pv.Workers = append(pv.Workers, wv)
		}
		pv.Exits = slices.Clone(snap.Exits)
		slices.Reverse(pv.Exits)
		pv.Failures = slices.Clone(snap.Failures)
		slices.Reverse(pv.Failures)
		for _, m := range snap.Maps {
			mv := mapView{MapProgress: m, ETA: "—"}
			if m.Total > 0 {
				mv.Pct = min(100, 100*m.Done/m.Total)
			}
			if el := now.Sub(m.Started).Seconds(); el > 0 {
				mv.Rate = float64(m.Done) / el
			}
			if mv.Rate > 0 && m.Total >= m.Done {
				mv.ETA = shortDuration(time.Duration(float64(m.Total-m.Done) / mv.Rate * float64(time.Second)))
			}
			pv.Maps = append(pv.Maps, mv)
		}
		if v.Tmpl == "pools" {
			pts, total := s.hist.series()
			pv.Throughput, pv.Latency, pv.Window = throughputChart(pts), latencyChart(pts), total
			for _, pt := range pts[len(pts)-10:] {
				pv.Rate += float64(pt.Items) / 10
			}
		}
		pd.Pools = append(pd.Pools, pv)
	}
	for _, q := range queues {
		pd.Queues = append(pd.Queues, queueStats(q))
	}
	if v.Tmpl == "managers" {
		for _, m := range managers {
			pd.Managers = append(pd.Managers, managerStats(r.Context(), m))
		}
	}
	return pd
}

func managerStats(ctx context.Context, m managerSource) managerView {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	mv := managerView{Name: m.name, Pid: m.m.Pid()}
	st, err := m.m.Stats(ctx)
	if err != nil {
		mv.Err = err.Error()
	}
	mv.Objects, mv.Connections, mv.Ops = st.Objects, st.Connections, st.Ops
	if err == nil {
		r, rated := m.rates.look([2]uint64{st.Ops})
		mv.Rated, mv.OpsRate = rated, r[0]
	}
	return mv
}

func (d *Dashboard) servePage(v view) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
		var buf bytes.Buffer
		if err := tmpl.ExecuteTemplate(&buf, "page", d.data(r, v)); err != nil {
			http.Error(w, "dashboard: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Write(buf.Bytes())
	}
}

func (d *Dashboard) renderFragment(w io.Writer, r *http.Request, v view) error {
	return tmpl.ExecuteTemplate(w, v.Tmpl, d.data(r, v))
}

// Snapshot is the JSON that GET api/snapshot returns.
type Snapshot struct {
	Time     time.Time         `json:"time"` // RFC 3339
	Pools    []mp.PoolSnapshot `json:"pools"`
	Queues   []QueueSnapshot   `json:"queues"`
	Managers []ManagerSnapshot `json:"managers"`
}

// QueueSnapshot is one queue of a Snapshot. Puts and Gets are the totals of values put on the
// queue and got from it by every process (mp.QueueStats); both are 0 for a queue without Stats.
type QueueSnapshot struct {
	Name string `json:"name"`
	Len  int    `json:"len"`
	Cap  int    `json:"cap"`
	Puts uint64 `json:"puts"`
	Gets uint64 `json:"gets"`
}

// ManagerSnapshot is one manager of a Snapshot; zero counts when the manager did not answer.
// Ops is the manager's operations since it started (mp.ManagerStats.Ops).
type ManagerSnapshot struct {
	Name        string `json:"name"`
	Objects     int    `json:"objects"`
	Connections int    `json:"connections"`
	Ops         uint64 `json:"ops"`
}

// Snapshot returns the state of every source now, as GET api/snapshot does.
func (d *Dashboard) Snapshot(ctx context.Context) Snapshot {
	pools, queues, managers := d.sources()
	s := Snapshot{Time: d.o.now().UTC().Truncate(time.Second), Pools: []mp.PoolSnapshot{},
		Queues: []QueueSnapshot{}, Managers: []ManagerSnapshot{}}
	for _, p := range pools {
		s.Pools = append(s.Pools, p.obs.Snapshot())
	}
	for _, q := range queues {
		qv := queueStats(q)
		s.Queues = append(s.Queues, QueueSnapshot{q.name, qv.Len, qv.Cap, qv.Puts, qv.Gets})
	}
	for _, m := range managers {
		mv := managerStats(ctx, m)
		s.Managers = append(s.Managers, ManagerSnapshot{m.name, mv.Objects, mv.Connections, mv.Ops})
	}
	return s
}

func (d *Dashboard) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(d.Snapshot(r.Context()))
}
