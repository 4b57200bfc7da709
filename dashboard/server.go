package dashboard

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const tokenCookie = "mp_dashboard_token"

func (d *Dashboard) listenAndServe(ctx context.Context, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("dashboard: address %q: %w (want host:port, such as 127.0.0.1:8080)", addr, err)
	}
	if (d.o.certFile == "") != (d.o.keyFile == "") {
		return errors.New("dashboard: WithTLS needs both a certificate file and a key file")
	}
	if !isLoopback(host) && d.o.token == "" && !d.o.randomToken {
		return fmt.Errorf("%w (address %q)", ErrNoToken, addr)
	}
	if d.o.token == "" && d.o.randomToken {
		d.o.token = randomToken()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	h := d.Handler()
	defer d.Close()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	srv.BaseContext = func(net.Listener) context.Context { return ctx }
	scheme := "http"
	if d.o.certFile != "" {
		scheme = "https"
	}
	u := scheme + "://" + ln.Addr().String() + "/"
	if d.o.randomToken {
		u += "?token=" + url.QueryEscape(d.o.token)
	}
	fmt.Fprintf(d.o.log, "mp dashboard: serving at %s\n", u)
	errc := make(chan error, 1)
	go func() {
		if d.o.certFile != "" {
			errc <- srv.ServeTLS(ln, d.o.certFile, d.o.keyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("dashboard: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc
	return nil
}

// isLoopback reports whether host names only this machine: "localhost", 127.0.0.0/8, ::1.
// An empty host (":8080") means every interface, so it is not loopback.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (d *Dashboard) newHandler() http.Handler {
	mux := http.NewServeMux()
	for _, v := range views {
		pat := "GET /" + v.Path
		if v.Path == "" {
			pat = "GET /{$}"
		}
		mux.HandleFunc(pat, d.servePage(v))
	}
	mux.HandleFunc("GET /live.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Write(liveJS)
	})
	mux.HandleFunc("GET /events", d.serveEvents)
	mux.HandleFunc("GET /api/snapshot", d.serveSnapshot)
	mux.HandleFunc("POST /cancel", d.action(d.doCancel))
	mux.HandleFunc("POST /recycle", d.action(d.doRecycle))
	mux.HandleFunc("POST /pause", d.action(d.doPause(true)))
	mux.HandleFunc("POST /resume", d.action(d.doPause(false)))
	switch {
	case d.o.metrics != nil:
		mux.Handle("GET /metrics", d.o.metrics)
	case d.prom != nil:
		mux.Handle("GET /metrics", d.prom.h)
	}
	return d.auth(mux)
}

// auth checks the token, if there is one. ?token= sets a cookie and redirects to the same URL
// without it, so the token does not stay in the address bar or in Referer headers.
func (d *Dashboard) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Referrer-Policy", "same-origin")
		tok := d.o.token
		if tok == "" {
			next.ServeHTTP(w, r)
			return
		}
		if q := r.URL.Query().Get("token"); q != "" && r.Method == http.MethodGet {
			if !equal(q, tok) {
				http.Error(w, "dashboard: wrong token", http.StatusUnauthorized)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: tok, Path: "/", HttpOnly: true,
				SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			u := *r.URL
			qs := u.Query()
			qs.Del("token")
			u.RawQuery = qs.Encode()
			last := u.Path[strings.LastIndex(u.Path, "/")+1:]
			loc := "./" + last
			if u.RawQuery != "" {
				loc += "?" + u.RawQuery
			}
			seeOther(w, loc)
			return
		}
		if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") && equal(strings.TrimPrefix(a, "Bearer "), tok) {
			next.ServeHTTP(w, r)
			return
		}
		if c, err := r.Cookie(tokenCookie); err == nil && equal(c.Value, tok) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="mp dashboard"`)
		http.Error(w, "dashboard: a token is needed: open the URL with ?token=TOKEN that the program printed, or send Authorization: Bearer TOKEN", http.StatusUnauthorized)
	})
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// action wraps a POST action with the read-only, origin and CSRF checks, and redirects back to
// the page it came from (field "back", a view's path).
func (d *Dashboard) action(do func(r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if d.o.readOnly {
			http.Error(w, "dashboard: read-only: actions are turned off (WithReadOnly)", http.StatusForbidden)
			return
		}
		if err := sameOrigin(r); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 1<<16)
		if !equal(r.PostFormValue("csrf"), d.csrf) {
			http.Error(w, "dashboard: missing or wrong CSRF token: reload the page and try again", http.StatusForbidden)
			return
		}
		if err := do(r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		back := "./"
		for _, v := range views {
			if v.Path != "" && r.PostFormValue("back") == v.Path {
				back = "./" + v.Path
			}
		}
		seeOther(w, back)
	}
}

// sameOrigin refuses a request whose Origin (or, without one, Referer) names another host than
// the one it was sent to, and one with neither.
func sameOrigin(r *http.Request) error {
	src := r.Header.Get("Origin")
	if src == "" || src == "null" {
		src = r.Header.Get("Referer")
	}
	if src == "" {
		return errors.New("dashboard: cross-origin check: a POST needs an Origin or Referer header")
	}
	u, err := url.Parse(src)
	if err != nil || !strings.EqualFold(u.Host, r.Host) {
		return fmt.Errorf("dashboard: cross-origin POST refused (from %q to %q)", src, r.Host)
	}
	return nil
}

func (d *Dashboard) pool(r *http.Request) (*poolSource, error) {
	i, err := strconv.Atoi(r.PostFormValue("pool"))
	pools, _, _ := d.sources()
	if err != nil || i < 0 || i >= len(pools) {
		return nil, fmt.Errorf("dashboard: no pool %q", r.PostFormValue("pool"))
	}
	if pools[i].ctl == nil {
		return nil, fmt.Errorf("dashboard: pool %d cannot be steered (it does not implement mp.Controller)", i)
	}
	return pools[i], nil
}

func (d *Dashboard) doCancel(r *http.Request) error {
	p, err := d.pool(r)
	if err != nil {
		return err
	}
	id, err := strconv.ParseUint(r.PostFormValue("task"), 10, 64)
	if err != nil {
		return fmt.Errorf("dashboard: task %q is not a task ID", r.PostFormValue("task"))
	}
	return p.ctl.CancelTask(id)
}

func (d *Dashboard) doRecycle(r *http.Request) error {
	p, err := d.pool(r)
	if err != nil {
		return err
	}
	id, err := strconv.Atoi(r.PostFormValue("worker"))
	if err != nil {
		return fmt.Errorf("dashboard: worker %q is not a worker ID", r.PostFormValue("worker"))
	}
	return p.ctl.Recycle(id)
}

func (d *Dashboard) doPause(pause bool) func(r *http.Request) error {
	return func(r *http.Request) error {
		p, err := d.pool(r)
		if err != nil {
			return err
		}
		if pause {
			p.ctl.Pause()
		} else {
			p.ctl.Resume()
		}
		return nil
	}
}

// serveEvents streams the fragment of one view (?view=) as Server-Sent Events: one "message"
// whenever it changed, checked every interval, until the page closes.
func (d *Dashboard) serveEvents(w http.ResponseWriter, r *http.Request) {
	v, ok := viewByPath(r.URL.Query().Get("view"))
	if !ok {
		http.Error(w, "dashboard: unknown view "+strconv.Quote(r.URL.Query().Get("view")), http.StatusNotFound)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "dashboard: the server cannot stream", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	t := time.NewTicker(d.o.interval)
	defer t.Stop()
	var last []byte
	var buf bytes.Buffer
	for {
		buf.Reset()
		if err := d.renderFragment(&buf, r, v); err != nil {
			return
		}
		if !bytes.Equal(buf.Bytes(), last) {
			last = append(last[:0], buf.Bytes()...)
			var ev bytes.Buffer
			for line := range bytes.SplitSeq(buf.Bytes(), []byte("\n")) {
				ev.WriteString("data: ")
				ev.Write(line)
				ev.WriteByte('\n')
			}
			ev.WriteByte('\n')
			if _, err := w.Write(ev.Bytes()); err != nil {
				return
			}
			fl.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
}

// seeOther redirects to a relative location as it is: http.Redirect would resolve it against
// the request's path, which lacks the prefix the handler is mounted under.
func seeOther(w http.ResponseWriter, loc string) {
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusSeeOther)
}
