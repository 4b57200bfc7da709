package mpnats

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// listenServer starts a JetStream server on a random loopback port for children to connect
// to, and returns its URL and a Cluster connected to it; both end with the test.
func listenServer(t *testing.T) (string, *Cluster) {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("the test server did not become ready in 10 s")
	}
	url := srv.ClientURL()
	return url, connectURL(t, url)
}

// connectURL connects to url; the Cluster is closed when the test ends.
func connectURL(t *testing.T, url string) *Cluster {
	t.Helper()
	c, err := dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func dial(url string) (*Cluster, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, err
	}
	return fromConn(nc)
}

// childArg is what the children of these tests are given.
type childArg struct {
	URL   string
	Name  string        // the queue, dict or mutex
	Reply string        // a Queue[int] the child reports on
	N     int           // how many
	Wait  time.Duration // ack wait or lease
}
