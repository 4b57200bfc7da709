package dashboard

import (
	"net/http"

	"github.com/mp-go/mp/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// promMetrics is the dashboard's own /metrics: mp's collectors (package metrics) over the
// dashboard's sources, in a registry of their own. It is made with the handler, not before, so
// an unserved dashboard observes nothing.
type promMetrics struct {
	c *metrics.Collector
	h http.Handler
}

func newPromMetrics() *promMetrics {
	c := metrics.New()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	return &promMetrics{c: c, h: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
}

// add* give the collector a source; one whose name another source of its kind has already is
// left out of /metrics (its series would collide), as the collector refuses it.
func (m *promMetrics) addPool(s *poolSource)      { m.c.AddPool(s.obs) }
func (m *promMetrics) addQueue(s queueSource)     { m.c.AddQueue(s.name, s.q) }
func (m *promMetrics) addManager(s managerSource) { m.c.AddManager(s.name, s.m) }
func (m *promMetrics) close()                     { m.c.Close() }
