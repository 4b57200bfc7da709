package examples_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// testDashboard runs the dashboard example for a few seconds and, while it serves, fetches its
// workers page and its Prometheus metrics; then it must exit 0 by itself and leave nothing behind.
func testDashboard(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "dashboard"), "-addr", "127.0.0.1:0", "-for", "4s")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(out)
	line, err := br.ReadString('\n')
	if err != nil {
		cmd.Wait()
		t.Fatalf("no first line: %v; stderr:\n%s", err, stderr.String())
	}
	m := regexp.MustCompile(`^mp dashboard: serving at (http://127\.0\.0\.1:\d+/)$`).FindStringSubmatch(strings.TrimSpace(line))
	if m == nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("first line %q, want the address it serves", line)
	}
	rest := make(chan string, 1)
	go func() { b, _ := io.ReadAll(br); rest <- string(b) }()
	c := &http.Client{Timeout: 5 * time.Second}
	fetch := func(path string) string {
		t.Helper()
		resp, err := c.Get(m[1] + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s\n%s", path, resp.Status, b)
		}
		return string(b)
	}
	// The pool's three workers are on the page, each with its pid.
	if page := fetch(""); len(regexp.MustCompile(`<tr data-pid="[1-9]\d*"`).FindAllString(page, -1)) < 3 || !strings.Contains(page, "<h2>work ") {
		t.Errorf("the workers page lacks pool work's three workers:\n%s", page)
	}
	metrics := fetch("metrics")
	names := map[string]bool{}
	for _, l := range strings.Split(metrics, "\n") {
		if f := strings.Fields(l); len(f) > 0 && !strings.HasPrefix(l, "#") {
			names[strings.SplitN(f[0], "{", 2)[0]] = true
		}
	}
	if len(names) == 0 {
		t.Errorf("/metrics has no samples:\n%s", metrics)
	}
	for n := range names {
		if !strings.HasPrefix(n, "mp_") && !strings.HasPrefix(n, "go_") && !strings.HasPrefix(n, "process_") && !strings.HasPrefix(n, "promhttp_") {
			t.Errorf("metric %s is not prefixed mp_", n)
		}
	}
	if !anyPrefix(names, "mp_pool_") {
		t.Errorf("/metrics has no mp_pool_ metric: %v", names)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("dashboard: %v\nstderr:\n%s", err, stderr.String())
	}
	if tail := <-rest; !strings.Contains(tail, "done") {
		t.Errorf("dashboard did not print done:\n%s", tail)
	}
	if stderr.Len() > 0 {
		t.Errorf("dashboard wrote to standard error:\n%s", stderr.String())
	}
	if left := reapOrphans(3 * time.Second); len(left) > 0 {
		t.Errorf("dashboard left processes running after it exited: %v", left)
	}
}

func anyPrefix(names map[string]bool, prefix string) bool {
	for n := range names {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}
