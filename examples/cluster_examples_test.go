package examples_test

import (
	"testing"
)

func init() { checks["cluster"] = testCluster }

// testCluster: the Map completes every item once, in order, on two agents, one of them killed
// in the middle; the killed one ran some chunks, the other ran the rest.
func testCluster(t *testing.T) {
	r := run(t, "cluster")
	m := r.find(`^main process pid=\d+; agents: \[(\d+) (\d+)\], 2 slots each$`)
	a1, a2 := atoi(t, m[1]), atoi(t, m[2])
	k := r.find(`^killed agent pid=(\d+) after (\d+) of 60 items$`)
	if atoi(t, k[1]) != a2 {
		t.Errorf("killed %s, want the second agent %d", k[1], a2)
	}
	by := map[int]int{}
	for _, c := range r.findAll(`^chunk +(\d+) \(items +(\d+)- *(\d+)\): squares +(\d+) +(\d+) by agent pid=(\d+)$`) {
		i := atoi(t, c[2])
		if atoi(t, c[4]) != i*i || atoi(t, c[5]) != (i+1)*(i+1) {
			t.Errorf("chunk %s: squares %s %s", c[1], c[4], c[5])
		}
		by[atoi(t, c[6])]++
	}
	if len(by) != 2 || by[a1] == 0 || by[a2] == 0 || by[a1]+by[a2] != 30 {
		t.Errorf("chunks by agent %v, want 30 shared by %d and %d", by, a1, a2)
	}
	r.find(`^60 results, each once, in the order of the input: true$`)
	r.find(`^closed: the server and the other agent stopped$`)
}
