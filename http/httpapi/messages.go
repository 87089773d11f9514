package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/host"
	"github.com/seshat-host/seshat/actors/routing"
	"github.com/seshat-host/seshat/compat/anthropic"
	"github.com/seshat-host/seshat/http/sse"
)

// The Anthropic-compatible Messages API: POST /v1/messages (JSON or SSE),
// POST /v1/messages/count_tokens, GET /v1/models and GET
// /v1/models/{model_id}. The contract is ANTHROPIC-COMPAT.md; what the
// routes do with sessions, models and tools is in docs/api.md.

// Headers of the Anthropic-compatible routes.
const (
	headerAnthropicVersion = "Anthropic-Version"
	headerSeshatSession    = "X-Seshat-Session-Id"
	headerProviderSetting  = "X-Seshat-Provider-Setting-Id"
	headerShouldRetry      = "X-Should-Retry"
)

// API versions. A request without anthropic-version is read as
// apiVersionDefault, so that curl users need not send it.
const (
	apiVersionDefault = "2023-06-01"
	apiVersion2026    = "2026-10-21"
)

// knownAPIVersions are the anthropic-version values accepted.
var knownAPIVersions = []string{"2023-01-01", apiVersionDefault, apiVersion2026}

// messagePingInterval is how long a message stream may stay silent (a long
// tool loop, a slow model) before a ping event is written.
const messagePingInterval = 10 * time.Second

// ModelCatalog is what the Anthropic-compatible routes need of model
// routing besides Sessions: the caller's models and the routing of a
// requested model name. *routing.Service implements it.
type ModelCatalog interface {
	ListModels(ctx context.Context, userID string) ([]routing.ModelInfo, error)
	ResolveModel(ctx context.Context, userID, settingID, name string) (string, *routing.Route, error)
}

// apiVersion returns the request's anthropic-version: apiVersionDefault
// when absent, and a 400 for a value the API does not know (a proxy that
// appends instead of setting the header sends "2023-06-01, 2023-06-01",
// which upstream rejects too).
func apiVersion(ctx *fasthttp.RequestCtx) (string, error) {
	v := bytes.TrimSpace(ctx.Request.Header.Peek(headerAnthropicVersion))
	if len(v) == 0 {
		return apiVersionDefault, nil
	}
	for _, known := range knownAPIVersions {
		if string(v) == known {
			return known, nil
		}
	}
	return "", invalid(fmt.Sprintf("anthropic-version: %q is not a valid version", v))
}

// messages answers POST /v1/messages with one turn of a session: a new one
// in the caller's default workspace, or the one x-seshat-session-id names.
// The turn starts (or is refused with a real status) before anything is
// streamed.
func (s *Server) messages(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	req, err := decodeMessagesRequest(ctx)
	if err != nil {
		return err
	}
	tr, reply, err := s.messageTurn(ctx, p.UserID, req)
	if err != nil {
		return err
	}
	t, err := s.deps.Runtime.StartTurn(s.opCtx, p.UserID, tr)
	if err != nil {
		return err
	}
	ctx.Response.Header.Set(headerSeshatSession, t.SessionID)
	reply.ID = "msg_" + strings.TrimPrefix(t.TurnID, agent.PrefixTurn+"_")
	if req.Stream {
		s.serveMessageStream(ctx, t.Events, anthropic.NewTurnStream(reply, anthropic.EstimateTokens(req)))
		return nil
	}
	res, toolRan, err := s.awaitTurn(t)
	if err != nil {
		if toolRan {
			// A retry would run the tools again.
			ctx.Response.Header.Set(headerShouldRetry, "false")
		}
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, reply.Response(res))
}

// decodeMessagesRequest reads and checks a Messages body, including the
// rules of the request's API version.
func decodeMessagesRequest(ctx *fasthttp.RequestCtx) (anthropic.MessagesRequest, error) {
	var req anthropic.MessagesRequest
	version, err := apiVersion(ctx)
	if err != nil {
		return req, err
	}
	if err := decodeJSONLenient(ctx, &req); err != nil {
		return req, err
	}
	switch {
	case strings.TrimSpace(req.Model) == "":
		return req, invalid("model: Field required")
	case req.MaxTokens < 1:
		return req, invalid("max_tokens: Field required (at least 1)")
	}
	if version >= apiVersion2026 {
		return req, checkVersion2026(req)
	}
	return req, nil
}

// checkVersion2026 applies what API version 2026-10-21 removed: sampling
// parameters, document blocks in assistant turns and cited text in user
// turns are 400s there.
func checkVersion2026(req anthropic.MessagesRequest) error {
	for name, set := range map[string]bool{"temperature": req.Temperature != nil, "top_p": req.TopP != nil, "top_k": req.TopK != nil} {
		if set {
			return invalid(name + ": Extra inputs are not permitted")
		}
	}
	for i, m := range req.Messages {
		for j, b := range m.Content {
			switch {
			case m.Role == anthropic.RoleAssistant && b.Type == "document":
				return invalid(fmt.Sprintf("messages.%d.content.%d: document blocks are not allowed in assistant messages", i, j))
			case m.Role == anthropic.RoleUser && b.Type == anthropic.BlockText && hasCitations(b.Citations):
				return invalid(fmt.Sprintf("messages.%d.content.%d: text blocks with citations are not allowed in user messages", i, j))
			}
		}
	}
	return nil
}

func hasCitations(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && string(raw) != "null" && string(raw) != "[]"
}

// messageTurn turns a Messages request into the turn it runs, and the
// reply that will report it.
func (s *Server) messageTurn(ctx *fasthttp.RequestCtx, userID string, req anthropic.MessagesRequest) (host.TurnRequest, *anthropic.Reply, error) {
	mr, err := anthropic.FromMessagesRequest(req)
	if err != nil {
		return host.TurnRequest{}, nil, err
	}
	sessionID := string(bytes.TrimSpace(ctx.Request.Header.Peek(headerSeshatSession)))
	settingID := string(bytes.TrimSpace(ctx.Request.Header.Peek(headerProviderSetting)))
	input, err := turnInput(mr.Messages, sessionID != "")
	if err != nil {
		return host.TurnRequest{}, nil, err
	}
	model, route, err := s.deps.Providers.ResolveModel(s.opCtx, userID, settingID, req.Model)
	if errors.Is(err, agent.ErrNotFound) {
		msg := fmt.Sprintf("model: %s not found", req.Model)
		if settingID != "" {
			msg = fmt.Sprintf("model: %s not found through provider setting %s", req.Model, settingID)
		}
		return host.TurnRequest{}, nil, &Error{Status: fasthttp.StatusNotFound, Code: CodeNotFound, Msg: msg, Err: err}
	}
	if err != nil {
		return host.TurnRequest{}, nil, err
	}
	reply := &anthropic.Reply{Model: req.Model, Skip: len(input), Client: make(map[string]bool, len(mr.Tools))}
	for _, t := range mr.Tools {
		reply.Client[t.Name] = true
	}
	tr := host.TurnRequest{
		SessionID: sessionID, Input: input, Route: route, Stream: true,
		// Without the session header the client resends the whole
		// conversation next time: nothing need stay in memory.
		OneShot: sessionID == "",
		// Answered once at its end, the session's id included.
		AnswerAtEnd: !req.Stream,
	}
	tr.Model, tr.ProviderSettingID, tr.SystemPrompt, tr.MaxTokens = model, settingID, mr.System, mr.MaxTokens
	tr.ClientTools, tr.ToolChoice, tr.NoAsk = mr.Tools, mr.ToolChoice, true
	if ws, ok := anthropic.WebSearchTool(req.Tools); ok {
		// The host's own web search serves Anthropic's server tool.
		reply.WebSearch = true
		if ws.MaxUses > 0 {
			tr.ToolUseLimits = map[string]int{anthropic.WebSearchName: ws.MaxUses}
		}
	}
	return tr, reply, nil
}

// turnInput is anthropic.TurnInput with its refusal as a 400.
func turnInput(msgs []agent.Message, bound bool) ([]agent.Message, error) {
	in, err := anthropic.TurnInput(msgs, bound)
	if err != nil {
		return nil, invalid(err.Error())
	}
	return in, nil
}

// awaitTurn waits for a non-streaming turn to end. It reads the turn's
// events only to learn whether a server tool ran, which makes a failed
// turn unsafe to retry.
func (s *Server) awaitTurn(t *host.Turn) (res *agent.QueryResult, toolRan bool, err error) {
	st := t.Events
	defer st.Close()
	note := func(ev agent.Event) {
		if ev.Kind == agent.KindRuntime && ev.Runtime != nil && ev.Runtime.Type == agent.RuntimeToolStarted {
			toolRan = true
		}
	}
	for _, ev := range st.Replay {
		note(ev)
	}
	done := s.baseCtx.Done()
drain:
	for {
		select {
		case ev, ok := <-st.C:
			if !ok {
				break drain
			}
			note(*ev)
		case <-done:
			break drain
		}
	}
	res, err = t.Wait(s.baseCtx)
	if err != nil && s.baseCtx.Err() != nil && errors.Is(err, s.baseCtx.Err()) {
		err = agent.ErrClosed
	}
	return res, toolRan, err
}

// Messages of the error event that ends a message stream the turn did not
// end.
const (
	msgMessageStreamDropped = "stream dropped: the client fell behind"
	msgMessageShuttingDown  = "server shutting down"
)

// serveMessageStream answers 200 text/event-stream and writes the message
// stream of st (driveStream). As serveStream, the stream captures only st,
// m and the server's logger, settings and base context, never ctx.
func (s *Server) serveMessageStream(ctx *fasthttp.RequestCtx, st *host.Stream, m *anthropic.TurnStream) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("text/event-stream; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.Response.Header.Set("X-Accel-Buffering", "no")
	ms := &messageStream{m: m, replay: st.Replay}
	s.driveStream(ctx, "message stream writer", st, ms.start, ms.write, ms.ping(messagePingInterval), ms.finish)
}

// messageStream frames a turn's events as an Anthropic message stream.
// Only one goroutine at a time uses it.
type messageStream struct {
	m      *anthropic.TurnStream
	replay []agent.Event
	ended  bool
	// data is the scratch buffer events are encoded into.
	data []byte
}

func (ms *messageStream) put(w *sse.Writer, evs []anthropic.StreamEvent) error {
	for _, ev := range evs {
		name, data := anthropic.AppendEncode(ms.data[:0], ev)
		if cap(data) <= maxPooledJSON {
			ms.data = data
		}
		if err := w.Unnumbered(name, data); err != nil {
			return err
		}
	}
	return nil
}

// start writes message_start at once (which sends the headers), then the
// replay.
func (ms *messageStream) start(w *sse.Writer) (bool, error) {
	if err := ms.put(w, ms.m.Conv.Start()); err != nil {
		return false, err
	}
	for i := range ms.replay {
		if _, err := ms.write(w, &ms.replay[i]); err != nil || ms.ended {
			return ms.ended, errors.Join(err, w.Flush())
		}
	}
	ms.replay = nil
	return false, w.Flush()
}

func (ms *messageStream) write(w *sse.Writer, ev *agent.Event) (bool, error) {
	evs, end := ms.m.Next(*ev)
	ms.ended = end
	return end, ms.put(w, evs)
}

func (ms *messageStream) ping(every time.Duration) sse.Idle {
	return sse.Idle{Every: every, Write: func(w *sse.Writer) error { return ms.put(w, ms.m.Conv.Ping()) }}
}

// finish ends a stream the turn did not end with an error event: at
// shutdown, or when the session dropped the subscriber that fell behind.
func (ms *messageStream) finish(w *sse.Writer, err error) {
	_ = ms.end(w, err)
}

func (ms *messageStream) end(w *sse.Writer, err error) error {
	switch {
	case errors.Is(err, sse.ErrShutdown):
		return errors.Join(ms.put(w, ms.m.Conv.Error(anthropic.StatusOverloaded, msgMessageShuttingDown)), w.Flush())
	case err != nil || ms.ended:
		return err
	}
	// The session dropped the subscriber before the turn ended.
	return errors.Join(ms.put(w, ms.m.Conv.Error(fasthttp.StatusInternalServerError, msgMessageStreamDropped)), w.Flush())
}

// writeMessageStream writes message_start at once (which sends the
// headers), then the stream events of replay and of ch through the one
// stream loop (sse.PumpUntil), with a ping after ping of silence. It ends
// after the turn's done or error event; when ch closes before either (the
// session dropped a subscriber that fell behind) or done closes (the
// server is shutting down), the stream ends with an error event instead,
// never silently. It returns the write error if the client went away.
func writeMessageStream(done <-chan struct{}, w *sse.Writer, replay []agent.Event, ch <-chan *agent.Event, m *anthropic.TurnStream, ping time.Duration) error {
	ms := &messageStream{m: m, replay: replay}
	if ended, err := ms.start(w); err != nil || ended {
		return err
	}
	return ms.end(w, sse.PumpUntil(done, w, ch, ms.write, ms.ping(ping)))
}

// countTokens answers POST /v1/messages/count_tokens with an estimate
// (anthropic.EstimateTokens: system, tools and messages; never 0). The
// model is not checked: a client must not take a failed count as a sign
// that the model is broken.
func (s *Server) countTokens(ctx *fasthttp.RequestCtx) error {
	if _, err := apiVersion(ctx); err != nil {
		return err
	}
	var req anthropic.CountTokensRequest
	if err := decodeJSONLenient(ctx, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Model) == "" {
		return invalid("model: Field required")
	}
	mr := req.MessagesRequest()
	if _, err := anthropic.FromMessagesRequest(mr); err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, anthropic.CountTokensResponse{InputTokens: anthropic.EstimateTokens(mr)})
}

// Bounds of the limit parameter of GET /v1/models.
const (
	modelsDefaultLimit = 20
	modelsMaxLimit     = 1000
)

// listModels answers GET /v1/models?limit=&after_id=&before_id= with the
// models the caller can use, one page at a time.
func (s *Server) listModels(ctx *fasthttp.RequestCtx) error {
	models, err := s.callerModels(ctx)
	if err != nil {
		return err
	}
	args := ctx.QueryArgs()
	limit := modelsDefaultLimit
	if v := args.Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > modelsMaxLimit {
			return invalid(fmt.Sprintf("limit: must be an integer from 1 to %d", modelsMaxLimit))
		}
		limit = n
	}
	page, hasMore := anthropic.PageModels(models, string(args.Peek("after_id")), string(args.Peek("before_id")), limit)
	return writeJSON(ctx, fasthttp.StatusOK, anthropic.NewModelList(page, hasMore))
}

// getModel answers GET /v1/models/{model_id}: the caller's model of that
// id, or of that provider's own id ("claude-haiku-4-5" finds
// "anthropic:claude-haiku-4-5").
func (s *Server) getModel(ctx *fasthttp.RequestCtx) error {
	models, err := s.callerModels(ctx)
	if err != nil {
		return err
	}
	id := pathParam(ctx, "model_id")
	if u, err := url.PathUnescape(id); err == nil {
		id = u
	}
	for _, exact := range []bool{true, false} {
		for _, m := range models {
			_, own, _ := strings.Cut(m.ID, ":")
			if m.ID == id || (!exact && own == id) {
				return writeJSON(ctx, fasthttp.StatusOK, m)
			}
		}
	}
	return &Error{Status: fasthttp.StatusNotFound, Code: CodeNotFound, Msg: fmt.Sprintf("model: %s not found", id)}
}

// modelsEpoch stands in for the creation date of a model, which the
// runtime does not know.
var modelsEpoch = time.Unix(0, 0).UTC()

// callerModels returns the caller's models on the wire.
func (s *Server) callerModels(ctx *fasthttp.RequestCtx) ([]anthropic.Model, error) {
	if _, err := apiVersion(ctx); err != nil {
		return nil, err
	}
	p := principal(ctx)
	ms, err := s.deps.Providers.ListModels(s.opCtx, p.UserID)
	if err != nil {
		return nil, err
	}
	out := make([]anthropic.Model, len(ms))
	for i, m := range ms {
		name := m.DisplayName
		if name == "" {
			name = m.ID
		}
		out[i] = anthropic.Model{ID: m.ID, DisplayName: name, CreatedAt: modelsEpoch,
			MaxInputTokens: int64(m.ContextWindow), MaxTokens: int64(m.MaxOutputTokens)}
	}
	return out, nil
}
