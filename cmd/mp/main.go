// Command mp is the mp module's tool. Its one subcommand so far, top, shows the workers and pools
// of a running program in the terminal, as top does for processes:
//
//	mp top [-url http://127.0.0.1:PORT/prefix] [-interval 1s]
//
// It polls the JSON snapshot endpoint of the program's dashboard (GET <url>/api/snapshot) every
// interval and redraws: for each pool its counts and workers — pid, state, the call each runs and
// for how long, calls done, memory, CPU, whom it replaced — and the last worker ends with their
// reasons; then the queues and managers. q or Ctrl-C quits and restores the terminal.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mp-go/mp"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: mp top [-url http://127.0.0.1:PORT/prefix] [-interval 1s]

top shows the workers and pools of a running program, from its dashboard's
snapshot endpoint (<url>/api/snapshot), refreshed every interval; q or Ctrl-C quits.
`

// run runs the command line args and returns the exit status.
func run(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "top" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("mp top", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080", "the dashboard's address, with its prefix if it is mounted under one")
	interval := fs.Duration("interval", time.Second, "how often to poll")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mp top: unexpected arguments %q\n%s", fs.Args(), usage)
		return 2
	}
	if *interval < 100*time.Millisecond {
		fmt.Fprintf(stderr, "mp top: -interval %v is too short; poll at most every 100ms\n", *interval)
		return 2
	}
	if !strings.HasPrefix(*url, "http://") && !strings.HasPrefix(*url, "https://") {
		fmt.Fprintf(stderr, "mp top: -url %q: give the dashboard's http:// or https:// address\n", *url)
		return 2
	}
	if err := top(strings.TrimSuffix(*url, "/"), *interval, stdin, stdout); err != nil {
		fmt.Fprintln(stderr, "mp top:", err)
		return 1
	}
	return 0
}

// snapshot is what the dashboard's /api/snapshot returns.
type snapshot struct {
	Time     time.Time         `json:"time"`
	Pools    []mp.PoolSnapshot `json:"pools"`
	Queues   []queueInfo       `json:"queues"`
	Managers []managerInfo     `json:"managers"`
}

type queueInfo struct {
	Name string `json:"name"`
	Len  int    `json:"len"`
	Cap  int    `json:"cap"`
}

type managerInfo struct {
	Name        string `json:"name"`
	Objects     int    `json:"objects"`
	Connections int    `json:"connections"`
}

// fetch gets one snapshot.
func fetch(ctx context.Context, c *http.Client, url string) (*snapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/snapshot", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return nil, fmt.Errorf("GET %s/api/snapshot: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	var s snapshot
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&s); err != nil {
		return nil, fmt.Errorf("GET %s/api/snapshot: not a snapshot: %w", url, err)
	}
	return &s, nil
}

// top polls and draws until q, Ctrl-C, SIGINT or SIGTERM.
func top(url string, interval time.Duration, stdin *os.File, out io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	restore, err := rawMode(stdin)
	if err != nil {
		return err
	}
	defer restore()
	// The alternate screen, without the cursor; both undone on the way out.
	fmt.Fprint(out, "\x1b[?1049h\x1b[?25l")
	defer fmt.Fprint(out, "\x1b[?25h\x1b[?1049l")

	quit := make(chan struct{})
	go func() {
		b := make([]byte, 16)
		for {
			n, err := stdin.Read(b)
			for _, c := range b[:n] {
				if c == 'q' || c == 'Q' || c == 3 { // 3 is Ctrl-C in raw mode
					close(quit)
					return
				}
			}
			if err != nil {
				return // no input (not a terminal, closed): Ctrl-C or a signal ends it
			}
		}
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s, err := fetch(ctx, client, url)
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil
		}
		fmt.Fprint(out, render(url, interval, s, err, time.Now()))
		select {
		case <-t.C:
		case <-quit:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}
