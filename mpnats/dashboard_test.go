//go:build unix

package mpnats_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/dashboard"
)

// TestDashboardShowsCluster: the dashboard and its metrics read a real NATS pool as they read a
// local one: the cluster view lists the agent that ran the calls, the JSON snapshot has the
// pool's kind, counts and agents, and /metrics has the cluster's series.
func TestDashboardShowsCluster(t *testing.T) {
	ctx := ctxT(t)
	_, p := inProcess(t, 2)
	if _, err := mp.Map(ctx, p, Square, []int{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := mp.Apply(ctx, p, Fail, "socks"); err == nil {
		t.Fatal("Fail returned no error")
	}
	d := dashboard.New()
	d.AddPool(p)
	t.Cleanup(func() { d.Close() })
	srv := httptest.NewServer(http.StripPrefix("/mp", d.Handler()))
	t.Cleanup(srv.Close)
	get := func(path string) string {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + "/mp/" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s, %v", path, resp.Status, err)
		}
		return string(b)
	}

	var snap struct {
		Pools []mp.PoolSnapshot `json:"pools"`
	}
	if err := json.Unmarshal([]byte(get("api/snapshot")), &snap); err != nil {
		t.Fatal(err)
	}
	if len(snap.Pools) != 1 {
		t.Fatalf("snapshot has %d pools; want the NATS pool", len(snap.Pools))
	}
	ps := snap.Pools[0]
	if ps.Kind != "nats" || ps.Cluster == nil || len(ps.Cluster.Agents) != 1 {
		t.Fatalf("snapshot pool = kind %q, cluster %+v; want kind nats and one agent", ps.Kind, ps.Cluster)
	}
	if ps.Counts.Succeeded == 0 || ps.Counts.Failed != 1 {
		t.Errorf("counts = %+v; want the Map's chunks succeeded and one failure", ps.Counts)
	}
	agent := ps.Cluster.Agents[0]
	if agent.Pid == 0 || agent.Slots != 2 || agent.Lost {
		t.Errorf("agent = %+v; want a live agent with a pid and 2 slots", agent)
	}

	page := get("cluster")
	if !strings.Contains(page, strconv.Itoa(agent.Pid)) || !strings.Contains(page, agent.Name) {
		t.Errorf("the cluster page lacks the agent %s (pid %d):\n%s", agent.Name, agent.Pid, page)
	}
	metrics := get("metrics")
	for _, want := range []string{"mp_cluster_agents", "mp_cluster_redelivered_total", `mp_pool_tasks_completed_total{outcome="failed"`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
