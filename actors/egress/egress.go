package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// ErrBlocked is wrapped by every refusal of the fence: a destination that
// resolves to a fenced address, a scheme other than http or https, or a
// redirect past the cap.
var ErrBlocked = errors.New("egress: destination not allowed")

// Policy configures a fenced client. The zero value fences private
// destinations, follows at most 5 redirects and has no overall timeout.
type Policy struct {
	// AllowPrivate lets connections reach fenced addresses: the operator's
	// choice for a single-user host, or a destination a server admin set.
	AllowPrivate bool
	// MaxRedirects caps the redirects followed; 0 means 5, a negative
	// value follows none (the redirect response is returned as is).
	MaxRedirects int
	// Timeout bounds a whole request, body included; 0 means none (use the
	// request's context).
	Timeout time.Duration
	// DialTimeout bounds connecting; 0 means 10s.
	DialTimeout time.Duration
	// MaxIdleConnsPerHost is how many idle connections to one host are
	// kept for reuse; 0 means 8. A client that calls one host from many
	// requests at once (a model API) needs as many as it runs calls at
	// once, or each call over the pool dials again.
	MaxIdleConnsPerHost int
	// MaxIdleConns bounds the idle connections over every host; 0 means
	// 64, or MaxIdleConnsPerHost if that is larger.
	MaxIdleConns int
}

// prefixes are the fenced networks besides what netip's predicates cover.
var prefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64 (embeds an IPv4 address)
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("2002::/16"),      // 6to4 (embeds an IPv4 address)
	netip.MustParsePrefix("100::/64"),       // discard-only
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
}

// Fenced reports whether addr is a destination the fence refuses.
func Fenced(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !addr.IsValid() || addr.IsUnspecified() || addr.IsLoopback() || addr.IsPrivate() ||
		addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() || addr.IsInterfaceLocalMulticast() ||
		addr.IsMulticast() {
		return true
	}
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// control is the dialer hook: it sees the resolved address of every
// connection attempt.
func control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrBlocked, address)
	}
	if Fenced(ap.Addr()) {
		return fmt.Errorf("%w: %s is a private or local address", ErrBlocked, ap.Addr())
	}
	return nil
}

// NewTransport returns a transport that dials under p.
func NewTransport(p Policy) *http.Transport {
	dt := p.DialTimeout
	if dt == 0 {
		dt = 10 * time.Second
	}
	d := &net.Dialer{Timeout: dt, KeepAlive: 30 * time.Second}
	if !p.AllowPrivate {
		d.Control = control
	}
	perHost := p.MaxIdleConnsPerHost
	if perHost <= 0 {
		perHost = 8
	}
	idle := p.MaxIdleConns
	if idle <= 0 {
		idle = max(64, perHost)
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          idle,
		MaxIdleConnsPerHost:   perHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// NewClient returns an HTTP client fenced by p, with its redirect cap.
func NewClient(p Policy) *http.Client {
	maxRedirects := p.MaxRedirects
	if maxRedirects == 0 {
		maxRedirects = 5
	}
	return &http.Client{
		Transport: NewTransport(p),
		Timeout:   p.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if maxRedirects < 0 {
				return http.ErrUseLastResponse
			}
			if len(via) > maxRedirects {
				return fmt.Errorf("%w: more than %d redirects", ErrBlocked, maxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("%w: redirect to a %q URL", ErrBlocked, req.URL.Scheme)
			}
			return nil
		},
	}
}

// CheckURL validates an outbound URL before it is stored or used: an
// absolute http or https URL with a host and no user info, whose host (if
// the policy fences) resolves only to allowed addresses. It is an early,
// friendly refusal; the dialer checks again on every connection.
func CheckURL(ctx context.Context, p Policy, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: not a URL", ErrBlocked)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: the URL must be http or https", ErrBlocked)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: the URL has no host", ErrBlocked)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: the URL must not carry user info", ErrBlocked)
	}
	if p.AllowPrivate {
		return u, nil
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		if Fenced(a) {
			return nil, fmt.Errorf("%w: %s is a private or local address", ErrBlocked, host)
		}
		return u, nil
	}
	if host == "localhost" || hasSuffixFold(host, ".localhost") {
		return nil, fmt.Errorf("%w: %s is a local name", ErrBlocked, host)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("%w: %s does not resolve", ErrBlocked, host)
	}
	for _, a := range addrs {
		if Fenced(a) {
			return nil, fmt.Errorf("%w: %s resolves to a private or local address", ErrBlocked, host)
		}
	}
	return u, nil
}

func hasSuffixFold(s, suffix string) bool {
	if len(s) < len(suffix) {
		return false
	}
	tail := s[len(s)-len(suffix):]
	for i := range len(tail) {
		a, b := tail[i], suffix[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}
