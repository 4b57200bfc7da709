// Package mpnats runs mp's pools and queues across machines on NATS JetStream.
//
// This file is the skeleton the package grows from: a Cluster is a connection to a NATS server
// with JetStream, either one this process embeds (Start) or an existing one (Connect).
package mpnats

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is a connection to NATS with JetStream, and the embedded server when Start made one.
// Pools, queues, dicts and mutexes are made on a Cluster. Close it when done.
type Cluster struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	srv *server.Server // nil for Connect
	dir string         // the embedded server's store directory, removed on Close

	closeOnce sync.Once
	closeErr  error
}

// Start starts an embedded NATS server with JetStream in this process and connects to it. With
// no options the server listens on no port: only this process reaches it.
func Start(ctx context.Context) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "mpnats-")
	if err != nil {
		return nil, fmt.Errorf("mpnats: store directory: %w", err)
	}
	srv, err := server.NewServer(&server.Options{
		DontListen: true,
		JetStream:  true,
		StoreDir:   dir,
		NoLog:      true,
		NoSigs:     true,
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("mpnats: embedded server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(readyWait(ctx)) {
		srv.Shutdown()
		srv.WaitForShutdown()
		os.RemoveAll(dir)
		return nil, errors.New("mpnats: the embedded server did not become ready")
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("mpnats: connect to the embedded server: %w", err)
	}
	c, err := fromConn(nc)
	if err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		os.RemoveAll(dir)
		return nil, err
	}
	c.srv, c.dir = srv, dir
	return c, nil
}

// fromConn makes a Cluster of a connection to a server with JetStream; on error it closes nc.
func fromConn(nc *nats.Conn) (*Cluster, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("mpnats: jetstream: %w", err)
	}
	return &Cluster{nc: nc, js: js}, nil
}

// readyWait is how long Start waits for the embedded server: ctx's deadline, or 10 s.
func readyWait(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return 10 * time.Second
}

// Close closes the connection, then shuts the embedded server down, waits for it and removes its
// store directory. It is safe to call more than once.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		if err := c.nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			c.closeErr = err
		}
		c.nc.Close()
		if c.srv != nil {
			c.srv.Shutdown()
			c.srv.WaitForShutdown()
		}
		if c.dir != "" {
			if err := os.RemoveAll(c.dir); err != nil && c.closeErr == nil {
				c.closeErr = err
			}
		}
	})
	return c.closeErr
}
