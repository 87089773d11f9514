package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/seshat-host/seshat/http/apitype"
	seshatv1 "github.com/seshat-host/seshat/proto/seshat/v1"
)

// TestGRPCAudit checks that gRPC calls that change something are in the
// audit log as REST's requests are: the caller (a user or an API key), the
// procedure, the resource and where it belongs, the turn a query started,
// a permission decision, the outcome; reads and refused credentials are
// not recorded, no request body is, and the chain still verifies.
func TestGRPCAudit(t *testing.T) {
	g := startGRPCServer(t, nil)
	ctx := t.Context()
	root := g.register(t, "root@example.com", "password123")
	aliceAcct := g.register(t, "alice@example.com", "password123")
	alice, ws := aliceAcct.Token, aliceAcct.User.DefaultWorkspaceID
	key := g.createKey(t, alice, "ci")

	var sess seshatv1.CreateSessionResponse
	require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.SessionService/CreateSession",
		&seshatv1.CreateSessionRequest{Title: "secret title"}, &sess))
	sid := sess.GetSession().GetId()
	require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.SessionService/GetSession", &seshatv1.GetSessionRequest{Id: sid}, &seshatv1.GetSessionResponse{}))
	var agentMade seshatv1.CreateAgentResponse
	require.NoError(t, g.invoke(ctx, key.Key, "/seshat.v1.AgentService/CreateAgent",
		&seshatv1.CreateAgentRequest{Slug: "reviewer", WorkspaceId: ws}, &agentMade))
	var q seshatv1.QueryResponse
	require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.QueryService/Query", &seshatv1.QueryRequest{Prompt: "hello", SessionId: sid}, &q))

	// A streamed turn that asks for a permission, decided over gRPC.
	cs := g.openStream(t, ctx, alice, "/seshat.v1.QueryService/QueryStream",
		&seshatv1.QueryStreamRequest{Prompt: `@tool write_file {"path":"a.txt","content":"x"}`})
	var streamSession, streamTurn, permID string
	for {
		ev, err := recvEvent(cs)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		switch rt := ev.GetRuntime(); rt.GetType() {
		case "session":
			streamSession = rt.GetSessionId()
		case "permission_request":
			permID = rt.GetRequestId()
			require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.PermissionService/DecidePermission",
				&seshatv1.DecidePermissionRequest{Id: streamSession, RequestId: permID, Decision: "allow", Remember: true},
				&seshatv1.DecidePermissionResponse{}))
		}
		if ev.GetEvent() == "done" {
			streamTurn = ev.GetDone().GetTurnId()
		}
	}
	require.NotEmpty(t, permID)

	code, _ := errorInfo(t, g.invoke(ctx, alice, "/seshat.v1.SessionService/DeleteSession", &seshatv1.DeleteSessionRequest{Id: "sess_nobody"}, &seshatv1.DeleteSessionResponse{}))
	require.Equal(t, codes.NotFound, code)
	code, _ = errorInfo(t, g.invoke(ctx, "not-a-token", "/seshat.v1.SessionService/CreateSession", &seshatv1.CreateSessionRequest{}, &seshatv1.CreateSessionResponse{}))
	require.Equal(t, codes.Unauthenticated, code)
	huge := strings.Repeat("x", 100_000)
	code, _ = errorInfo(t, g.invoke(ctx, alice, "/seshat.v1.SessionService/InterruptSession", &seshatv1.InterruptSessionRequest{Id: huge}, &seshatv1.InterruptSessionResponse{}))
	require.Equal(t, codes.NotFound, code)
	require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.SessionService/DeleteSession", &seshatv1.DeleteSessionRequest{Id: sid}, &seshatv1.DeleteSessionResponse{}))

	// A client stream, a corpus's ingestion, and deletes of what only the
	// families know.
	file := g.grpcUpload(t, ctx, alice, "notes.txt", []byte("Falcons dive at great speed."))
	var corp seshatv1.CreateCorpusResponse
	require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.CorpusService/CreateCorpus", &seshatv1.CreateCorpusRequest{Name: "Notes"}, &corp))
	var added seshatv1.AddCorpusFilesResponse
	require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.CorpusService/AddCorpusFiles",
		&seshatv1.AddCorpusFilesRequest{Id: corp.GetCorpus().GetId(), FileIds: []string{file.GetId()}}, &added))
	require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.AgentService/DeleteAgent",
		&seshatv1.DeleteAgentRequest{Id: agentMade.GetAgent().GetId()}, &seshatv1.DeleteAgentResponse{}))
	restAgent := created[apitype.Agent](t, g.call(t, "POST", "/api/v1/agents", alice, map[string]any{"slug": "writer", "workspace_id": ws}), 201)
	require.Equal(t, 204, g.call(t, "DELETE", "/api/v1/agents/"+restAgent.ID, alice, nil).Status)

	var all []apitype.AuditEntry
	require.Eventually(t, func() bool {
		all = g.auditLog(t, root.Token, url.Values{})
		return len(find(all, "DELETE /api/v1/agents/{id}")) == 1 // the last call
	}, 10*time.Second, 5*time.Millisecond)
	raw, err := json.Marshal(all)
	require.NoError(t, err)
	require.NotContains(t, string(raw), "secret title", "no request body in the log")
	require.NotContains(t, string(raw), key.Key, "no API key in the log")
	require.False(t, strings.Contains(string(raw), huge[:1000]), "no megabyte id in the log")
	interrupted := find(all, "/seshat.v1.SessionService/InterruptSession")
	require.Len(t, interrupted, 1)
	require.Empty(t, interrupted[0].ResourceID)
	require.Equal(t, "failure", interrupted[0].Outcome)
	require.Empty(t, find(all, "/seshat.v1.SessionService/GetSession"), "reads are not recorded")

	made := find(all, "/seshat.v1.SessionService/CreateSession")
	require.Len(t, made, 1, "the unauthenticated call is not recorded")
	require.Equal(t, aliceAcct.User.ID, made[0].ActorID)
	require.Equal(t, "user", made[0].ActorType)
	require.Equal(t, "session", made[0].ResourceType)
	require.Equal(t, sid, made[0].ResourceID)
	require.Equal(t, ws, made[0].WorkspaceID)
	require.Equal(t, "success", made[0].Outcome)
	require.Equal(t, "ok", made[0].Details["code"])
	require.NotEmpty(t, made[0].RequestID)
	require.NotEmpty(t, made[0].IP)

	ag := find(all, "/seshat.v1.AgentService/CreateAgent")
	require.Len(t, ag, 1)
	require.Equal(t, "api_key", ag[0].ActorType)
	require.Equal(t, key.ID, ag[0].Details["key_id"])
	require.Equal(t, agentMade.GetAgent().GetId(), ag[0].ResourceID)
	require.Equal(t, ws, ag[0].WorkspaceID)

	query := find(all, "/seshat.v1.QueryService/Query")
	require.Len(t, query, 1)
	require.Equal(t, sid, query[0].ResourceID)
	require.Equal(t, q.GetTurnId(), query[0].Details["turn_id"])

	stream := find(all, "/seshat.v1.QueryService/QueryStream")
	require.Len(t, stream, 1)
	require.Equal(t, streamSession, stream[0].ResourceID)
	require.Equal(t, ws, stream[0].WorkspaceID)
	require.Equal(t, streamTurn, stream[0].Details["turn_id"])

	decision := find(all, "/seshat.v1.PermissionService/DecidePermission")
	require.Len(t, decision, 1)
	require.Equal(t, streamSession, decision[0].ResourceID)
	require.Equal(t, permID, decision[0].Details["request_id"])
	require.Equal(t, "allow", decision[0].Details["decision"])
	require.Equal(t, "true", decision[0].Details["remember"])

	deleted := find(all, "/seshat.v1.SessionService/DeleteSession")
	require.Equal(t, sid, deleted[0].ResourceID)
	require.Equal(t, ws, deleted[0].WorkspaceID, "where the session was, looked up before it went")
	require.Equal(t, "success", deleted[0].Outcome)
	require.Equal(t, "sess_nobody", deleted[1].ResourceID)
	require.Equal(t, "failure", deleted[1].Outcome)
	require.Equal(t, "not_found", deleted[1].Details["code"])
	require.Equal(t, "not_found", deleted[1].Details["error"])

	up := find(all, "/seshat.v1.FileService/UploadFile")
	require.Len(t, up, 1)
	require.Equal(t, file.GetId(), up[0].ResourceID)
	require.Equal(t, "file", up[0].ResourceType)
	require.Equal(t, ws, up[0].WorkspaceID)

	ingest := find(all, "/seshat.v1.CorpusService/AddCorpusFiles")
	require.Len(t, ingest, 1)
	require.Equal(t, corp.GetCorpus().GetId(), ingest[0].ResourceID)
	require.Equal(t, "corpus", ingest[0].ResourceType)
	require.Equal(t, ws, ingest[0].WorkspaceID, "where the corpus is")
	require.Equal(t, added.GetJob().GetId(), ingest[0].Details["ingestion_job_id"])
	require.Equal(t, "1", ingest[0].Details["files"])

	agentGone := find(all, "/seshat.v1.AgentService/DeleteAgent")
	require.Len(t, agentGone, 1)
	require.Equal(t, "agent", agentGone[0].ResourceType)
	require.Equal(t, ws, agentGone[0].WorkspaceID, "where the profile was, looked up before it went")
	restGone := find(all, "DELETE /api/v1/agents/{id}")
	require.Len(t, restGone, 1)
	require.Equal(t, restAgent.ID, restGone[0].ResourceID)
	require.Equal(t, "agent", restGone[0].ResourceType)
	require.Equal(t, ws, restGone[0].WorkspaceID, "REST's entry finds the profile's workspace too")

	var v apitype.AuditVerification
	resp := g.get(t, "/api/v1/audit/verify", root.Token)
	require.Equal(t, 200, resp.Status, string(resp.Body))
	resp.JSON(t, &v)
	require.True(t, v.OK, "%+v", v)
}
