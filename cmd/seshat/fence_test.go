package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/actors/provider"
)

// TestProviderFencePool checks that the fenced client of non-admins'
// provider settings keeps as many idle connections per upstream as the
// server-wide providers' client, so that calls through a user's own key
// reuse their connections as calls through the server's do.
func TestProviderFencePool(t *testing.T) {
	c := providerFence(Config{})
	require.NotNil(t, c)
	tr, ok := c.Transport.(*http.Transport)
	require.True(t, ok, "%T", c.Transport)
	require.Equal(t, provider.MaxIdleConnsPerHost, tr.MaxIdleConnsPerHost)
	require.Equal(t, provider.MaxIdleConns, tr.MaxIdleConns)
	require.Nil(t, providerFence(Config{AllowPrivateUpstreams: true}), "no fence: the providers' own client")
}
