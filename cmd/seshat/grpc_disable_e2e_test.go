package main

import (
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seshat-host/seshat/http/apitype"
	seshatv1 "github.com/seshat-host/seshat/proto/seshat/v1"
)

// TestGRPCStreamsEndForDisabledAndIdle: over gRPC too, a disabled user's
// QueryStream ends with its error event, and an Attach to a session that
// runs nothing ends with idle_timeout after SESHAT_SSE_IDLE_LIFETIME;
// both calls then end without an error status.
func TestGRPCStreamsEndForDisabledAndIdle(t *testing.T) {
	g := startGRPCServer(t, map[string]string{"SESHAT_SSE_IDLE_LIFETIME": "1s"})
	ctx := t.Context()
	root := g.register(t, "root@example.com", "password123")
	alice := g.register(t, "alice@example.com", "password123")

	rest := func(cs interface{ RecvMsg(any) error }) []*seshatv1.Event {
		var out []*seshatv1.Event
		for {
			var m seshatv1.AttachResponse
			err := cs.RecvMsg(&m)
			if errors.Is(err, io.EOF) {
				return out
			}
			require.NoError(t, err)
			out = append(out, m.GetEvent())
		}
	}

	idle := created[apitype.Session](t, g.call(t, "POST", "/api/v1/sessions", alice.Token, apitype.CreateSessionRequest{Title: "idle"}), 201)
	evs := rest(g.openStream(t, ctx, alice.Token, "/seshat.v1.QueryService/Attach", &seshatv1.AttachRequest{Id: idle.ID}))
	require.Len(t, evs, 1)
	require.Equal(t, "idle_timeout", evs[0].GetRuntime().GetType())
	require.Zero(t, evs[0].GetId())

	cs := g.openStream(t, ctx, alice.Token, "/seshat.v1.QueryService/QueryStream",
		&seshatv1.QueryStreamRequest{Prompt: "@tokens 2000\n@delay 20ms"})
	first, err := recvEvent(cs)
	require.NoError(t, err)
	require.Equal(t, "session", first.GetRuntime().GetType())
	resp := g.call(t, "PATCH", "/api/v1/users/"+alice.User.ID, root.Token, apitype.UpdateUserRequest{Disabled: ptrTo(true)})
	require.Equal(t, 200, resp.Status, "body: %s", resp.Body)
	evs = rest(cs)
	require.NotEmpty(t, evs)
	last := evs[len(evs)-1]
	require.Equal(t, "account disabled", last.GetError().GetError())
	require.Zero(t, last.GetId())
}
