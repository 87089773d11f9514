package egress

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFenced(t *testing.T) {
	fenced := []string{
		"127.0.0.1", "127.8.9.10", "::1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"169.254.169.254", "fe80::1", "100.64.0.1", "100.127.255.254", "224.0.0.1", "239.1.2.3",
		"ff02::1", "0.0.0.0", "::", "fc00::1", "fd12:3456::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
		"::ffff:169.254.169.254", "64:ff9b::7f00:1", "2002:7f00:1::", "255.255.255.255", "0.1.2.3",
	}
	for _, s := range fenced {
		require.True(t, Fenced(netip.MustParseAddr(s)), s)
	}
	open := []string{"1.1.1.1", "8.8.8.8", "93.184.216.34", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8"}
	for _, s := range open {
		require.False(t, Fenced(netip.MustParseAddr(s)), s)
	}
}

func TestClientRefusesLoopbackUnlessAllowed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "inside")
	}))
	defer srv.Close()

	_, err := NewClient(Policy{}).Get(srv.URL)
	require.ErrorIs(t, err, ErrBlocked)

	resp, err := NewClient(Policy{AllowPrivate: true}).Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, "inside", string(body))
}

func TestClientCapsRedirects(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		if n > 0 {
			http.Redirect(w, r, fmt.Sprintf("%s/%d", srv.URL, n-1), http.StatusFound)
			return
		}
		_, _ = io.WriteString(w, "end")
	}))
	defer srv.Close()
	c := NewClient(Policy{AllowPrivate: true})

	resp, err := c.Get(srv.URL + "/5")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	_, err = c.Get(srv.URL + "/6")
	require.ErrorIs(t, err, ErrBlocked)

	none := NewClient(Policy{AllowPrivate: true, MaxRedirects: -1})
	resp, err = none.Get(srv.URL + "/1")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
}

func TestCheckURL(t *testing.T) {
	ctx := context.Background()
	for _, raw := range []string{
		"http://127.0.0.1:8080/x", "https://[::1]/", "http://[::ffff:127.0.0.1]/", "http://10.0.0.5",
		"http://169.254.169.254/latest/meta-data", "http://localhost:3000", "http://api.localhost",
		"ftp://example.com", "file:///etc/passwd", "http://user:pw@example.com", "http:///nohost", "::",
	} {
		_, err := CheckURL(ctx, Policy{}, raw)
		require.ErrorIs(t, err, ErrBlocked, raw)
	}
	u, err := CheckURL(ctx, Policy{}, "https://1.1.1.1/dns-query")
	require.NoError(t, err)
	require.Equal(t, "1.1.1.1", u.Hostname())

	_, err = CheckURL(ctx, Policy{AllowPrivate: true}, "http://127.0.0.1:11434")
	require.NoError(t, err)
	_, err = CheckURL(ctx, Policy{AllowPrivate: true}, "gopher://127.0.0.1")
	require.ErrorIs(t, err, ErrBlocked)
}
