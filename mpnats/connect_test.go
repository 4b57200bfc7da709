//go:build unix

package mpnats_test

import (
	"bufio"
	"context"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mpnats"
)

// Connect joins a separately started nats-server (Debian's package): a head and an agent in
// this process, each with its own connection, run a Map through it.
func TestConnectExternalServer(t *testing.T) {
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		t.Skip("nats-server is not installed (apt-get install -y nats-server): skipping the external-server test")
	}
	ctx := ctxT(t)
	cmd := exec.Command(bin, "-js", "-a", "127.0.0.1", "-p", "-1", "-sd", t.TempDir(), "--user", "head", "--pass", "0123456789abcdef0123")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	urls := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`Listening for client connections on (127\.0\.0\.1:\d+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urls <- "nats://" + m[1]
			}
		}
	}()
	var url string
	select {
	case url = <-urls:
	case <-time.After(20 * time.Second):
		t.Fatal("nats-server did not report its port within 20s")
	}
	if _, err := mpnats.Connect(ctx, url); err == nil {
		t.Fatal("Connect without credentials was let in")
	}
	creds := mpnats.WithUser(mpnats.Credentials{User: "head", Password: "0123456789abcdef0123"})
	head, err := mpnats.Connect(ctx, url, creds)
	if err != nil {
		t.Fatal(err)
	}
	defer head.Close()
	ag, err := mpnats.Connect(ctx, url, creds)
	if err != nil {
		t.Fatal(err)
	}
	defer ag.Close()
	actx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- mpnats.Serve(actx, ag, mpnats.WithSlots(2)) }()
	defer func() { stop(); <-served }()
	p, err := mpnats.NewPool(ctx, head, "external")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	waitWorkers(t, p, 2)
	got, err := mp.Map(ctx, p, Square, []int{1, 2, 3, 4, 5})
	if err != nil || len(got) != 5 || got[4] != 25 {
		t.Fatalf("Map through nats-server: %v, %v", got, err)
	}
}
