package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/seshat-host/seshat/http/apitype"
	seshatv1 "github.com/seshat-host/seshat/proto/seshat/v1"
)

// grpcServer is the real server with its gRPC listener on, and a grpc-go
// client connected to it over HTTP/2 without TLS.
type grpcServer struct {
	*testServer
	// Addr is the gRPC listener's address.
	Addr string
	Conn *grpc.ClientConn
}

var grpcListeningRE = regexp.MustCompile(`serving gRPC on ([^\s"]+)`)

// startGRPCServer starts the server with SESHAT_GRPC_ADDR on a loopback
// port and dials it. Everything stops at cleanup, and a test then checks
// that no goroutine was left behind.
func startGRPCServer(t testing.TB, env map[string]string) *grpcServer {
	t.Helper()
	if _, ok := t.(*testing.T); ok {
		// A benchmark's runner goroutines would count; TestMain checks
		// those at the end.
		t.Cleanup(func() { goleak.VerifyNone(t, leakIgnores...) })
	}
	merged := map[string]string{"SESHAT_GRPC_ADDR": "127.0.0.1:0"}
	for k, v := range env {
		merged[k] = v
	}
	s := startServer(t, "", merged)
	m := grpcListeningRE.FindStringSubmatch(s.Log.String())
	require.NotNil(t, m, "no gRPC listening line in the log:\n%s", s.Log.String())
	conn, err := grpc.NewClient("passthrough:///"+m[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, conn.Close()) })
	return &grpcServer{testServer: s, Addr: m[1], Conn: conn}
}

// authed is ctx carrying tok as the bearer metadata.
func authed(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

// invoke makes a unary call.
func (g *grpcServer) invoke(ctx context.Context, tok, method string, in, out proto.Message) error {
	return g.Conn.Invoke(authed(ctx, tok), method, in, out)
}

// openStream starts a server-streaming call with one request message.
func (g *grpcServer) openStream(t testing.TB, ctx context.Context, tok, method string, in proto.Message) grpc.ClientStream {
	t.Helper()
	cs, err := g.Conn.NewStream(authed(ctx, tok), &grpc.StreamDesc{ServerStreams: true}, method)
	require.NoError(t, err)
	require.NoError(t, cs.SendMsg(in))
	require.NoError(t, cs.CloseSend())
	return cs
}

// recvEvent reads the next event of a QueryStream or Attach stream (both
// responses wrap one Event); io.EOF once the stream ended well.
func recvEvent(cs grpc.ClientStream) (*seshatv1.Event, error) {
	var m seshatv1.AttachResponse // same wire shape as QueryStreamResponse
	if err := cs.RecvMsg(&m); err != nil {
		return nil, err
	}
	return m.GetEvent(), nil
}

// errorInfo returns the ErrorInfo detail of a gRPC error.
func errorInfo(t testing.TB, err error) (codes.Code, *errdetails.ErrorInfo) {
	t.Helper()
	st, ok := status.FromError(err)
	require.True(t, ok, "not a gRPC status: %v", err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return st.Code(), info
		}
	}
	t.Fatalf("%v: no ErrorInfo detail", err)
	return 0, nil
}

// leakIgnores are TestMain's goleak exceptions.
var leakIgnores = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
	goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
	goleak.IgnoreAnyFunction("github.com/blevesearch/bleve_index_api.AnalysisWorker"),
}

func TestGRPCUnaryAndErrors(t *testing.T) {
	g := startGRPCServer(t, nil)
	ctx := t.Context()
	alice := g.register(t, "alice@example.com", "password123").Token
	bob := g.register(t, "bob@example.com", "password123").Token

	var created seshatv1.CreateSessionResponse
	require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.SessionService/CreateSession",
		&seshatv1.CreateSessionRequest{Title: "over grpc", PermissionMode: "plan"}, &created))
	sess := created.GetSession()
	require.True(t, strings.HasPrefix(sess.GetId(), "sess_"), sess.GetId())
	require.Equal(t, "over grpc", sess.GetTitle())
	require.Equal(t, "plan", sess.GetPermissionMode())
	require.Equal(t, "idle", sess.GetStatus())

	// The REST API sees the same session: one runtime behind both.
	resp := g.get(t, "/api/v1/sessions/"+sess.GetId(), alice)
	require.Equal(t, http.StatusOK, resp.Status, "body: %s", resp.Body)

	var q seshatv1.QueryResponse
	require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.QueryService/Query",
		&seshatv1.QueryRequest{SessionId: sess.GetId(), Prompt: "@say hi there"}, &q))
	require.Equal(t, "hi there", q.GetContent())
	require.Equal(t, "end_turn", q.GetStopReason())
	require.Equal(t, sess.GetId(), q.GetSessionId())

	var got seshatv1.GetSessionResponse
	require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.SessionService/GetSession", &seshatv1.GetSessionRequest{Id: sess.GetId()}, &got))
	require.Len(t, got.GetSession().GetMessages(), 2)
	require.Equal(t, "hi there", got.GetSession().GetMessages()[1].GetContent()[0].GetText())

	var interrupted seshatv1.InterruptSessionResponse
	require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.SessionService/InterruptSession", &seshatv1.InterruptSessionRequest{Id: sess.GetId()}, &interrupted))
	require.False(t, interrupted.GetInterrupted())

	tests := []struct {
		name   string
		tok    string
		method string
		in     proto.Message
		code   codes.Code
		reason string
	}{
		{"bad token", "not-a-token", "/seshat.v1.SessionService/GetSession", &seshatv1.GetSessionRequest{Id: sess.GetId()}, codes.Unauthenticated, "unauthorized"},
		{"no token", "", "/seshat.v1.SessionService/ListSessions", &seshatv1.ListSessionsRequest{}, codes.Unauthenticated, "unauthorized"},
		{"foreign session", bob, "/seshat.v1.SessionService/GetSession", &seshatv1.GetSessionRequest{Id: sess.GetId()}, codes.NotFound, "not_found"},
		{"foreign interrupt", bob, "/seshat.v1.SessionService/InterruptSession", &seshatv1.InterruptSessionRequest{Id: sess.GetId()}, codes.NotFound, "not_found"},
		{"invalid decision", alice, "/seshat.v1.PermissionService/DecidePermission",
			&seshatv1.DecidePermissionRequest{Id: sess.GetId(), RequestId: "perm_x", Decision: "maybe"}, codes.InvalidArgument, "invalid_request"},
		{"unknown request", alice, "/seshat.v1.PermissionService/DecidePermission",
			&seshatv1.DecidePermissionRequest{Id: sess.GetId(), RequestId: "perm_x", Decision: "allow"}, codes.NotFound, "not_found"},
		{"no prompt", alice, "/seshat.v1.QueryService/Query", &seshatv1.QueryRequest{SessionId: sess.GetId()}, codes.InvalidArgument, "invalid_request"},
		{"bad limit", alice, "/seshat.v1.SessionService/ListSessions", &seshatv1.ListSessionsRequest{Limit: 500}, codes.InvalidArgument, "invalid_request"},
		{"foreign file", bob, "/seshat.v1.FileService/GetFile", &seshatv1.GetFileRequest{Id: "file_nope"}, codes.NotFound, "not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ctx
			if tc.tok != "" {
				c = authed(ctx, tc.tok)
			}
			var out seshatv1.GetSessionResponse
			err := g.Conn.Invoke(c, tc.method, tc.in, &out)
			require.Error(t, err)
			code, info := errorInfo(t, err)
			require.Equal(t, tc.code, code, "%v", err)
			require.Equal(t, tc.reason, info.GetReason())
			require.Equal(t, "seshat", info.GetDomain())
			require.True(t, strings.HasPrefix(info.GetMetadata()["request_id"], "req_"), "%v", info.GetMetadata())
		})
	}

	t.Run("files", func(t *testing.T) {
		cs, err := g.Conn.NewStream(authed(ctx, alice), &grpc.StreamDesc{ClientStreams: true}, "/seshat.v1.FileService/UploadFile")
		require.NoError(t, err)
		content := bytes.Repeat([]byte("line of text\n"), 20000)
		require.NoError(t, cs.SendMsg(&seshatv1.UploadFileRequest{Part: &seshatv1.UploadFileRequest_Metadata{
			Metadata: &seshatv1.UploadFileMetadata{Path: "notes/big.txt"}}}))
		for rest := content; len(rest) > 0; {
			n := min(len(rest), 100<<10)
			require.NoError(t, cs.SendMsg(&seshatv1.UploadFileRequest{Part: &seshatv1.UploadFileRequest_Data{Data: rest[:n]}}))
			rest = rest[n:]
		}
		require.NoError(t, cs.CloseSend())
		var up seshatv1.UploadFileResponse
		require.NoError(t, cs.RecvMsg(&up))
		f := up.GetFile()
		require.Equal(t, "notes/big.txt", f.GetPath())
		require.Equal(t, int64(len(content)), f.GetSize())
		require.Equal(t, "text/plain; charset=utf-8", f.GetContentType())

		dl := g.openStream(t, ctx, alice, "/seshat.v1.FileService/GetFileContent", &seshatv1.GetFileContentRequest{Id: f.GetId()})
		var buf bytes.Buffer
		for i := 0; ; i++ {
			var m seshatv1.GetFileContentResponse
			err := dl.RecvMsg(&m)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			require.Equal(t, i == 0, m.GetFile() != nil, "metadata only in the first message")
			buf.Write(m.GetData())
		}
		require.Equal(t, content, buf.Bytes())

		// The same file over REST, and not for another tenant.
		require.Equal(t, http.StatusOK, g.get(t, "/api/v1/files/"+f.GetId(), alice).Status)
		var out seshatv1.GetFileResponse
		code, info := errorInfo(t, g.invoke(ctx, bob, "/seshat.v1.FileService/GetFile", &seshatv1.GetFileRequest{Id: f.GetId()}, &out))
		require.Equal(t, codes.NotFound, code)
		require.Equal(t, "not_found", info.GetReason())
	})

	t.Run("jobs", func(t *testing.T) {
		var created seshatv1.CreateJobResponse
		require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.JobService/CreateJob",
			&seshatv1.CreateJobRequest{Name: "nightly", Schedule: "@daily", Prompt: "@say done"}, &created))
		j := created.GetJob()
		require.Equal(t, "deny_all", j.GetPermissionMode())
		require.True(t, j.GetEnabled())
		require.NotNil(t, j.GetNextRunAt())
		require.Nil(t, j.SessionId, "a job without a session has none")

		var bad seshatv1.CreateJobResponse
		code, info := errorInfo(t, g.invoke(ctx, alice, "/seshat.v1.JobService/CreateJob",
			&seshatv1.CreateJobRequest{Name: "bad", Schedule: "every day", Prompt: "x"}, &bad))
		require.Equal(t, codes.InvalidArgument, code)
		require.Equal(t, "invalid_request", info.GetReason())

		var listed seshatv1.ListJobsResponse
		require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.JobService/ListJobs", &seshatv1.ListJobsRequest{}, &listed))
		require.Len(t, listed.GetData(), 1)
	})
}

func TestGRPCStreams(t *testing.T) {
	g := startGRPCServer(t, nil)
	ctx := t.Context()
	tok := g.register(t, "streams@example.com", "password123").Token

	t.Run("query stream", func(t *testing.T) {
		cs := g.openStream(t, ctx, tok, "/seshat.v1.QueryService/QueryStream", &seshatv1.QueryStreamRequest{Prompt: "@tokens 5"})
		var events []*seshatv1.Event
		for {
			ev, err := recvEvent(cs)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			events = append(events, ev)
		}
		require.Len(t, events, 7, "session, 5 deltas, done")
		for i, ev := range events {
			require.Equal(t, uint64(i+1), ev.GetId())
		}
		first := events[0]
		require.Equal(t, "runtime", first.GetEvent())
		require.Equal(t, "session", first.GetRuntime().GetType())
		header, err := cs.Header()
		require.NoError(t, err)
		require.Equal(t, []string{first.GetRuntime().GetSessionId()}, header.Get("x-seshat-session-id"))
		var text strings.Builder
		for _, ev := range events[1:6] {
			require.Empty(t, ev.GetEvent(), "a chunk is SSE's default event")
			require.Equal(t, "text_delta", ev.GetDelta().GetType())
			text.WriteString(ev.GetDelta().GetText())
			// data is SSE's data line, and payload the same content typed.
			var d apitype.Delta
			require.NoError(t, json.Unmarshal([]byte(ev.GetData()), &d))
			require.Equal(t, ev.GetDelta().GetText(), d.Text)
		}
		require.Equal(t, "tok0 tok1 tok2 tok3 tok4", text.String())
		done := events[6]
		require.Equal(t, "done", done.GetEvent())
		require.Equal(t, "tok0 tok1 tok2 tok3 tok4", done.GetDone().GetContent())
		require.Equal(t, "end_turn", done.GetDone().GetStopReason())
		require.Equal(t, int64(5), done.GetDone().GetUsage().GetOutputTokens())
	})

	t.Run("cancel then attach", func(t *testing.T) {
		const tokens = 30
		sctx, cancel := context.WithCancel(ctx)
		cs := g.openStream(t, sctx, tok, "/seshat.v1.QueryService/QueryStream",
			&seshatv1.QueryStreamRequest{Prompt: "@tokens 30\n@delay 20ms"})
		var last *seshatv1.Event
		sessionID := ""
		for range 4 {
			ev, err := recvEvent(cs)
			require.NoError(t, err)
			if ev.GetRuntime().GetType() == "session" {
				sessionID = ev.GetRuntime().GetSessionId()
			}
			last = ev
		}
		require.NotEmpty(t, sessionID)
		cancel()
		_, err := recvEvent(cs)
		require.Equal(t, codes.Canceled, status.Code(err), "%v", err)

		// The turn went on without its subscriber: re-attach after the last
		// event seen.
		as := g.openStream(t, ctx, tok, "/seshat.v1.QueryService/Attach", &seshatv1.AttachRequest{Id: sessionID, After: last.GetId()})
		want := last.GetId() + 1
		var done *seshatv1.QueryResponse
		for {
			ev, err := recvEvent(as)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			require.Equal(t, want, ev.GetId(), "replay and live events follow on without a gap")
			want++
			if ev.GetEvent() == "done" {
				done = ev.GetDone()
			}
		}
		require.NotNil(t, done)
		require.Equal(t, "end_turn", done.GetStopReason(), "cancelling the stream interrupted nothing")
		require.Equal(t, int64(tokens), done.GetUsage().GetOutputTokens())
		require.Equal(t, uint64(tokens+2), want-1, "session, every chunk and done")
	})

	t.Run("busy session", func(t *testing.T) {
		cs := g.openStream(t, ctx, tok, "/seshat.v1.QueryService/QueryStream", &seshatv1.QueryStreamRequest{Prompt: "@tokens 50\n@delay 20ms"})
		first, err := recvEvent(cs)
		require.NoError(t, err)
		sid := first.GetRuntime().GetSessionId()
		second := g.openStream(t, ctx, tok, "/seshat.v1.QueryService/QueryStream", &seshatv1.QueryStreamRequest{SessionId: sid, Prompt: "again"})
		_, err = recvEvent(second)
		code, info := errorInfo(t, err)
		require.Equal(t, codes.FailedPrecondition, code)
		require.Equal(t, "session_busy", info.GetReason())
		var out seshatv1.InterruptSessionResponse
		require.NoError(t, g.invoke(ctx, tok, "/seshat.v1.SessionService/InterruptSession", &seshatv1.InterruptSessionRequest{Id: sid}, &out))
		require.True(t, out.GetInterrupted())
		for {
			ev, err := recvEvent(cs)
			require.NoError(t, err)
			if ev.GetEvent() == "done" {
				require.Equal(t, "interrupted", ev.GetDone().GetStopReason())
				break
			}
		}
	})
}

func TestGRPCReflectionHealthAndConnectJSON(t *testing.T) {
	g := startGRPCServer(t, nil)
	ctx := t.Context()
	tok := g.register(t, "json@example.com", "password123").Token

	t.Run("reflection lists services as grpcurl does", func(t *testing.T) {
		rc, err := reflectionpb.NewServerReflectionClient(g.Conn).ServerReflectionInfo(ctx)
		require.NoError(t, err)
		require.NoError(t, rc.Send(&reflectionpb.ServerReflectionRequest{
			MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"}}))
		res, err := rc.Recv()
		require.NoError(t, err)
		var names []string
		for _, s := range res.GetListServicesResponse().GetService() {
			names = append(names, s.GetName())
		}
		for _, want := range []string{
			"grpc.health.v1.Health", "seshat.v1.SessionService", "seshat.v1.QueryService", "seshat.v1.PermissionService",
			"seshat.v1.FileService", "seshat.v1.JobService", "seshat.v1.CorpusService", "seshat.v1.MemoryService",
			"seshat.v1.PlanService", "seshat.v1.AgentService", "seshat.v1.SkillService", "seshat.v1.McpService",
		} {
			require.Contains(t, names, want)
		}
		// grpcurl's describe: the file that defines a service.
		require.NoError(t, rc.Send(&reflectionpb.ServerReflectionRequest{
			MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "seshat.v1.QueryService"}}))
		res, err = rc.Recv()
		require.NoError(t, err)
		require.NotEmpty(t, res.GetFileDescriptorResponse().GetFileDescriptorProto())
		require.NoError(t, rc.CloseSend())
	})

	t.Run("health", func(t *testing.T) {
		hc := healthpb.NewHealthClient(g.Conn)
		for _, svc := range []string{"", "seshat.v1.QueryService"} {
			res, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
			require.NoError(t, err)
			require.Equal(t, healthpb.HealthCheckResponse_SERVING, res.GetStatus())
		}
		_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "no.such.Service"})
		require.Equal(t, codes.NotFound, status.Code(err))
	})

	t.Run("connect JSON over HTTP/1.1", func(t *testing.T) {
		client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
		t.Cleanup(client.CloseIdleConnections)
		call := func(procedure, body string) (*http.Response, []byte) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+g.Addr+procedure, strings.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			return resp, b
		}
		resp, body := call("/seshat.v1.SessionService/CreateSession", `{"title": "json", "workspace_id": ""}`)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		require.Equal(t, "HTTP/1.1", resp.Proto)
		var created map[string]map[string]any
		require.NoError(t, json.Unmarshal(body, &created))
		sess := created["session"]
		for _, k := range []string{"id", "workspace_id", "permission_mode", "created_at", "message_count", "usage"} {
			require.Contains(t, sess, k, "snake_case field names: %s", body)
		}
		require.Equal(t, "json", sess["title"])

		resp, body = call("/seshat.v1.SessionService/InterruptSession", `{"id": "`+sess["id"].(string)+`"}`)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		require.JSONEq(t, `{"interrupted": false}`, string(body), "zero values are written, as REST does")

		// Unknown fields are refused, as REST's strict decoding does.
		resp, body = call("/seshat.v1.SessionService/CreateSession", `{"title": "x", "titel": "y"}`)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", body)
		require.Contains(t, string(body), "titel")

		// A mapped error: Connect's JSON error with the ErrorInfo detail.
		resp, body = call("/seshat.v1.SessionService/GetSession", `{"id": "sess_nope"}`)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s", body)
		var cerr struct {
			Code    string `json:"code"`
			Details []struct {
				Type  string `json:"type"`
				Value string `json:"value"`
			} `json:"details"`
		}
		require.NoError(t, json.Unmarshal(body, &cerr))
		require.Equal(t, "not_found", cerr.Code)
		require.Len(t, cerr.Details, 1)
		require.Equal(t, "google.rpc.ErrorInfo", cerr.Details[0].Type)
		require.True(t, strings.HasPrefix(resp.Header.Get("X-Request-Id"), "req_"))
	})
}

func TestGRPCShutdownEndsStreams(t *testing.T) {
	g := startGRPCServer(t, nil)
	tok := g.register(t, "shutdown@example.com", "password123").Token
	cs := g.openStream(t, t.Context(), tok, "/seshat.v1.QueryService/QueryStream",
		&seshatv1.QueryStreamRequest{Prompt: "@tokens 100000\n@delay 5ms"})
	_, err := recvEvent(cs)
	require.NoError(t, err)

	stopped := make(chan error, 1)
	go func() { stopped <- g.Stop() }()
	for {
		_, err = recvEvent(cs)
		if err != nil {
			break
		}
	}
	code, info := errorInfo(t, err)
	require.Equal(t, codes.Unavailable, code, "%v", err)
	require.Equal(t, "shutting_down", info.GetReason())
	require.NoError(t, <-stopped, "run shuts down cleanly with a stream open")
	require.Contains(t, g.Log.String(), "stopped")
}
