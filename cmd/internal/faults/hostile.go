package faults

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// FuzzConfig is a run of fuzzed callbacks.
type FuzzConfig struct {
	URL     string // callback URL without query
	App     string // the service's SdkAppID
	N       int64  // requests to send
	Workers int    // keep-alive connections; default 8
	Seed    uint64 // worker i uses Seed+i
	Timeout time.Duration
}

// FuzzReport counts a fuzz run. Failures are answers ClassifyAnswer refused
// and transport errors (a dropped connection is how a handler panic shows).
type FuzzReport struct {
	Sent, Documented, Failures int64
	ByStatus                   map[int]int64
	Examples                   []string
}

// RunFuzz sends cfg.N fuzzed callbacks and classifies every answer.
func RunFuzz(ctx context.Context, cfg FuzzConfig) FuzzReport {
	cfg.Workers = cmp.Or(cfg.Workers, 8)
	cfg.Timeout = cmp.Or(cfg.Timeout, 5*time.Second)
	client := &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{
		MaxIdleConnsPerHost: cfg.Workers, DisableCompression: true}}
	defer client.CloseIdleConnections()
	var (
		next    atomic.Int64
		mu      sync.Mutex
		rep     = FuzzReport{ByStatus: map[int]int64{}}
		wg      sync.WaitGroup
		counted = func(status int, why string) {
			mu.Lock()
			defer mu.Unlock()
			rep.Sent++
			rep.ByStatus[status]++
			if why == "" {
				rep.Documented++
				return
			}
			rep.Failures++
			if len(rep.Examples) < maxExamples {
				rep.Examples = append(rep.Examples, why)
			}
		}
	)
	for w := range cfg.Workers {
		wg.Go(func() {
			fz := NewFuzzer(cfg.App, cfg.Seed+uint64(w))
			for next.Add(1) <= cfg.N && ctx.Err() == nil {
				c := fz.Next()
				status, body, err := sendCase(ctx, client, cfg.URL, c)
				why := ""
				if err != nil {
					why = err.Error()
				} else {
					why = ClassifyAnswer(cfg.App, c, status, body)
				}
				if why != "" {
					why = fmt.Sprintf("%s (command %q, body %.120q)", why, c.Command, c.Body)
				}
				counted(status, why)
			}
		})
	}
	wg.Wait()
	return rep
}

// CaseURL is base with IM's query parameters for c.
func CaseURL(base string, c FuzzCase) string {
	q := url.Values{"SdkAppid": {c.App}, "contenttype": {"json"}, "ClientIP": {"203.0.113.9"}, "OptPlatform": {"Web"}}
	if c.Command != "" {
		q.Set("CallbackCommand", c.Command)
	}
	return base + "?" + q.Encode()
}

func sendCase(ctx context.Context, client *http.Client, base string, c FuzzCase) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, CaseURL(base, c), bytes.NewReader(c.Body))
	if err != nil {
		return 0, nil, fmt.Errorf("new request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("no answer: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, body, nil
}

// Oversized posts an invite of size bytes to base; chunked sends it without
// a Content-Length. It returns the status and answer.
func Oversized(ctx context.Context, base, app string, size int, chunked bool) (int, []byte, error) {
	c := FuzzCase{App: app, Command: commandInvite}
	body := io.Reader(bytes.NewReader(bytes.Repeat([]byte(" "), size)))
	if chunked {
		body = io.MultiReader(body) // hides the length: Transfer-Encoding: chunked
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, CaseURL(base, c), body)
	if err != nil {
		return 0, nil, fmt.Errorf("new request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("oversized: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

// SlowResult is what a slow client saw: how long until the server ended
// the exchange, and what it answered (nothing when it just closed).
type SlowResult struct {
	Elapsed time.Duration
	Answer  []byte
}

// Slowloris opens a connection to addr (host:port), sends a request line
// and then one header byte every interval, never ending the headers, until
// the server closes the connection or maxWait passes (an error).
func Slowloris(ctx context.Context, addr, path string, interval, maxWait time.Duration) (SlowResult, error) {
	head := "POST " + path + " HTTP/1.1\r\nHost: invitegate\r\nX-Slow: "
	return trickle(ctx, addr, head, interval, maxWait)
}

// SlowBody sends complete headers announcing a body, then one body byte
// every interval.
func SlowBody(ctx context.Context, addr, path, app string, interval, maxWait time.Duration) (SlowResult, error) {
	u := CaseURL(path, FuzzCase{App: app, Command: commandInvite})
	head := "POST " + u + " HTTP/1.1\r\nHost: invitegate\r\nContent-Length: 100000\r\n\r\n"
	return trickle(ctx, addr, head, interval, maxWait)
}

func trickle(ctx context.Context, addr, head string, interval, maxWait time.Duration) (SlowResult, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return SlowResult{}, fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, head); err != nil {
		return SlowResult{}, fmt.Errorf("write head: %w", err)
	}
	closed := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(conn) // until the server closes (or we do)
		closed <- b
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	deadline := time.NewTimer(maxWait)
	defer deadline.Stop()
	for {
		select {
		case b := <-closed:
			return SlowResult{Elapsed: time.Since(start), Answer: b}, nil
		case <-tick.C:
			_, _ = conn.Write([]byte("a")) // fails once the server is gone; the reader sees it
		case <-deadline.C:
			return SlowResult{Elapsed: time.Since(start)}, fmt.Errorf("server kept a slow connection open for %s", maxWait)
		case <-ctx.Done():
			return SlowResult{Elapsed: time.Since(start)}, ctx.Err()
		}
	}
}

// HugeHeader posts an invite whose headers hold size bytes more than any
// sane client sends, and returns the status (431 expected from net/http).
func HugeHeader(ctx context.Context, base, app string, size int) (int, error) {
	c := FuzzCase{App: app, Command: commandInvite}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, CaseURL(base, c), bytes.NewReader([]byte("{}")))
	if err != nil {
		return 0, fmt.Errorf("new request: %w", err)
	}
	req.Header.Set("X-Huge", string(bytes.Repeat([]byte("h"), size)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("huge header: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
