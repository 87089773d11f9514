package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// UpstreamError is an error answer of a model API: an HTTP error status
// with the API's error body, or an error event inside a stream. Status is
// the HTTP status; for an error that arrived inside a stream (after a 200)
// it is the status the error's type stands for (529 for
// overloaded_error). Type is the API's error type ("overloaded_error",
// "invalid_request_error", …; empty when the body named none) and Message
// its human-readable message.
type UpstreamError struct {
	Status  int
	Type    string
	Message string
}

// Error implements error.
func (e *UpstreamError) Error() string {
	s := "upstream error " + strconv.Itoa(e.Status)
	if e.Type != "" {
		s += " " + e.Type
	}
	return s + ": " + e.Message
}

// Retry defaults shared by the HTTP backends.
const (
	// defaultMaxRetries is the number of retries after the first attempt.
	defaultMaxRetries = 3
	// retryBaseDelay and retryMaxDelay bound the exponential backoff
	// before jitter: base·2ⁿ, at most max, as the official SDKs do.
	retryBaseDelay = 500 * time.Millisecond
	retryMaxDelay  = 8 * time.Second
	// maxRetryAfter caps a delay the upstream asks for.
	maxRetryAfter = 30 * time.Second
	// maxErrorBody is how much of an error answer is read.
	maxErrorBody = 64 << 10
	// responseHeaderTimeout bounds the wait for an answer's headers; a
	// local server may first have to load the model.
	responseHeaderTimeout = 10 * time.Minute
)

// Pool sizes of the upstream clients. MaxIdleConnsPerHost keeps a
// connection for every call the host may run at once against one
// upstream, so that a busy upstream is not redialled for most calls (a
// pool of 16 made about half the calls at 64 concurrent open a new
// connection); MaxIdleConns bounds the idle ones over every upstream.
const (
	MaxIdleConnsPerHost = 1024
	MaxIdleConns        = 4096
)

// NewHTTPClient returns the client of upstream model APIs, which a
// backend uses when its config gives none and provider settings share:
// bounded dial, TLS and header waits, pooled connections, and no
// overall timeout, since a streamed answer may run for many minutes and the
// call's ctx bounds it instead.
func NewHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          MaxIdleConns,
		MaxIdleConnsPerHost:   MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: responseHeaderTimeout,
	}}
}

// An answer that ended well is read to its end before its body is closed
// (a stream decoder stops at the event that ends the message, before the
// chunked body's terminator): a body closed before its end closes its
// connection instead of returning it to the pool, and a host whose every
// call dials again pays a TCP handshake per call. At most maxDrain bytes
// are read, for at most drainWait; more than that closes the connection.
const (
	maxDrain  = 4 << 10
	drainWait = time.Second
)

// closeBody closes an answer's body, reading its rest first if drain is
// set (see maxDrain).
func closeBody(body io.ReadCloser, drain bool) {
	if drain {
		// Closing the body ends a read that waits for an upstream that
		// keeps the answer open after its end.
		t := time.AfterFunc(drainWait, func() { _ = body.Close() })
		_, _ = io.CopyN(io.Discard, body, maxDrain)
		t.Stop()
	}
	_ = body.Close()
}

// retrier sends a request until it gets a 2xx answer, retrying transient
// failures: connection errors, 408, 409, 429 and 5xx (529 included),
// unless the upstream's x-should-retry header says otherwise. Retries
// happen only before the answer's body is handed over, never mid-stream.
// The wait is the upstream's retry-after-ms or retry-after (seconds or an
// HTTP date), capped at maxWait, else exponential backoff with full
// jitter; every wait ends at once when ctx is done.
type retrier struct {
	name       string
	maxRetries int
	base       time.Duration
	max        time.Duration
	maxWait    time.Duration
	logger     *slog.Logger
}

// newRetrier returns a retrier for the backend name; maxRetries zero means
// defaultMaxRetries and a negative value disables retries.
func newRetrier(name string, maxRetries int, logger *slog.Logger) retrier {
	switch {
	case maxRetries == 0:
		maxRetries = defaultMaxRetries
	case maxRetries < 0:
		maxRetries = 0
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return retrier{name: name, maxRetries: maxRetries, base: retryBaseDelay, max: retryMaxDelay, maxWait: maxRetryAfter, logger: logger}
}

// send runs newReq's request on client. It returns a 2xx response whose
// body the caller must close, or an error: ctx.Err() once ctx is done, the
// *UpstreamError parseErr made of the last error answer, or the last
// connection error.
func (r retrier) send(ctx context.Context, client *http.Client, newReq func(context.Context) (*http.Request, error),
	parseErr func(status int, body []byte) *UpstreamError) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		req, err := newReq(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.name, err)
		}
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if attempt >= r.maxRetries {
				return nil, fmt.Errorf("%s: %w", r.name, err)
			}
			if err := r.wait(ctx, attempt, r.backoff(attempt), 0, err); err != nil {
				return nil, err
			}
			continue
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return resp, nil
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		_ = resp.Body.Close()
		uerr := parseErr(resp.StatusCode, body)
		if attempt >= r.maxRetries || !shouldRetry(resp) {
			return nil, fmt.Errorf("%s: %w", r.name, uerr)
		}
		d, ok := retryAfter(resp.Header, time.Now(), r.maxWait)
		if !ok {
			d = r.backoff(attempt)
		}
		if err := r.wait(ctx, attempt, d, resp.StatusCode, uerr); err != nil {
			return nil, err
		}
	}
}

// wait logs the coming retry and waits d or until ctx is done.
func (r retrier) wait(ctx context.Context, attempt int, d time.Duration, status int, cause error) error {
	if r.logger.Enabled(ctx, slog.LevelDebug) {
		r.logger.LogAttrs(ctx, slog.LevelDebug, "retrying upstream call",
			slog.Int("attempt", attempt+1), slog.Int("status", status),
			slog.Duration("wait", d), slog.String("error", cause.Error()))
	}
	return sleepCtx(ctx, d)
}

// backoff returns the full-jitter delay before retry attempt+1: uniform in
// [0, min(max, base·2^attempt)].
func (r retrier) backoff(attempt int) time.Duration {
	d := r.max
	if attempt < 30 {
		d = min(r.base<<attempt, r.max)
	}
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

// shouldRetry reports whether an error answer is worth another attempt:
// the upstream's x-should-retry header decides when present, else the
// status does.
func shouldRetry(resp *http.Response) bool {
	switch strings.ToLower(resp.Header.Get("x-should-retry")) {
	case "true":
		return true
	case "false":
		return false
	}
	switch s := resp.StatusCode; {
	case s == http.StatusRequestTimeout, s == http.StatusConflict, s == http.StatusTooManyRequests:
		return true
	case s >= 500:
		return true
	}
	return false
}

// retryAfter returns the delay an answer asks for: retry-after-ms, else
// retry-after in seconds or as an HTTP date (relative to now), never
// negative and at most maxWait. ok is false when neither header holds a
// usable value.
func retryAfter(h http.Header, now time.Time, maxWait time.Duration) (d time.Duration, ok bool) {
	if v := strings.TrimSpace(h.Get("retry-after-ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
			return clampWait(time.Duration(ms*float64(time.Millisecond)), maxWait), true
		}
	}
	v := strings.TrimSpace(h.Get("retry-after"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return clampWait(time.Duration(s*float64(time.Second)), maxWait), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return clampWait(t.Sub(now), maxWait), true
	}
	return 0, false
}

func clampWait(d, maxWait time.Duration) time.Duration {
	return max(0, min(d, maxWait))
}

// sleepCtx waits d or until ctx is done, whichever comes first, and
// returns ctx.Err() in the latter case.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// errorMessage returns a message for an error body that is not the API's
// JSON: its first line, shortened, or the status text when it is empty.
func errorMessage(status int, body []byte) string {
	s := strings.TrimSpace(string(body))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	if s == "" {
		s = http.StatusText(status)
	}
	if s == "" {
		s = "status " + strconv.Itoa(status)
	}
	return s
}

// streamFailed wraps a failure while reading a stream: ctx.Err() when the
// call was cancelled (the read failed because the connection was closed
// for that), else the error with the backend's name.
func streamFailed(ctx context.Context, name string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: stream ended before the answer was complete: %w", name, err)
	}
	return fmt.Errorf("%s: reading stream: %w", name, err)
}
