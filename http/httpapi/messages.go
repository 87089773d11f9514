package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/host"
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
var knownAPIVersions = map[string]bool{"2023-01-01": true, apiVersionDefault: true, apiVersion2026: true}

// messagePingInterval is how long a message stream may stay silent (a long
// tool loop, a slow model) before a ping event is written.
const messagePingInterval = 10 * time.Second

// messageCoalesce caps the queued events written before one flush.
const messageCoalesce = 64

// modelCatalog is what the Anthropic-compatible routes need of the runtime
// besides Sessions: the caller's models and the routing of a requested
// model name. It is part of Runtime.
type modelCatalog interface {
	ListModels(ctx context.Context, userID string) ([]host.ModelInfo, error)
	ResolveModel(ctx context.Context, userID, settingID, name string) (string, error)
}

// apiVersion returns the request's anthropic-version: apiVersionDefault
// when absent, and a 400 for a value the API does not know (a proxy that
// appends instead of setting the header sends "2023-06-01, 2023-06-01",
// which upstream rejects too).
func apiVersion(ctx *fasthttp.RequestCtx) (string, error) {
	v := string(bytes.TrimSpace(ctx.Request.Header.Peek(headerAnthropicVersion)))
	switch {
	case v == "":
		return apiVersionDefault, nil
	case knownAPIVersions[v]:
		return v, nil
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
	reply.id = "msg_" + strings.TrimPrefix(t.TurnID, agent.PrefixTurn+"_")
	if req.Stream {
		s.serveMessageStream(ctx, t.Events, &messageStream{reply: reply,
			conv: anthropic.NewStreamConverter(reply.id, reply.model, anthropic.EstimateTokens(req))})
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
	return writeJSON(ctx, fasthttp.StatusOK, reply.response(res))
}

// decodeMessagesRequest reads and checks a Messages body, including the
// rules of the request's API version.
func decodeMessagesRequest(ctx *fasthttp.RequestCtx) (anthropic.MessagesRequest, error) {
	var req anthropic.MessagesRequest
	version, err := apiVersion(ctx)
	if err != nil {
		return req, err
	}
	if err := decodeJSON(ctx, &req); err != nil {
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
func (s *Server) messageTurn(ctx *fasthttp.RequestCtx, userID string, req anthropic.MessagesRequest) (host.TurnRequest, *messageReply, error) {
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
	model, err := s.deps.Runtime.ResolveModel(s.opCtx, userID, settingID, req.Model)
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
	reply := &messageReply{model: req.Model, skip: len(input), client: make(map[string]bool, len(mr.Tools))}
	for _, t := range mr.Tools {
		reply.client[t.Name] = true
	}
	return host.TurnRequest{
		SessionID: sessionID, Input: input, Model: model, ProviderSettingID: settingID,
		SystemPrompt: mr.System, MaxTokens: mr.MaxTokens, ClientTools: mr.Tools, ToolChoice: mr.ToolChoice,
		NoAsk: true, Stream: true,
	}, reply, nil
}

// turnInput returns the messages a turn takes from a request. A session
// named by the request has a history of its own, which is authoritative:
// Anthropic clients resend the whole conversation, so the turn takes only
// the trailing user messages after the request's last assistant message.
// A new session has no history yet, so it starts from the whole
// conversation. The last message must be the user's: a final assistant
// message (prefill) has no meaning for an agent turn.
func turnInput(msgs []agent.Message, bound bool) ([]agent.Message, error) {
	if n := len(msgs); n == 0 || msgs[n-1].Role != agent.RoleUser {
		return nil, invalid(`messages: the last message must have role "user" (assistant prefill is not supported)`)
	}
	if !bound {
		return msgs, nil
	}
	i := len(msgs)
	for i > 0 && msgs[i-1].Role == agent.RoleUser {
		i--
	}
	return msgs[i:], nil
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

// messageReply builds the one Anthropic message that reports a turn.
type messageReply struct {
	// id is "msg_" and the turn id's suffix.
	id string
	// model is echoed as the request named it.
	model string
	// skip is the number of the turn's first messages that were its input.
	skip int
	// client holds the names of the tools the client declared.
	client map[string]bool
}

// blocks returns what the client sees of the messages a turn committed:
// the text and thinking of its assistant messages, and the tool uses of
// the client's tools. Server tool uses and their results stay inside, and
// the text of consecutive model calls is joined into one block, as the
// stream delivers it.
func (r *messageReply) blocks(msgs []agent.Message) []agent.Block {
	var out []agent.Block
	for i, m := range msgs {
		if i < r.skip || m.Role != agent.RoleAssistant {
			continue
		}
		for _, b := range m.Content {
			switch {
			case b.Type == agent.BlockToolUse && !r.client[b.Name]:
				continue
			case b.Type == agent.BlockText && len(out) > 0 && out[len(out)-1].Type == agent.BlockText:
				out[len(out)-1].Text += b.Text
				continue
			case b.Type == agent.BlockText && b.Text == "":
				continue
			}
			out = append(out, b)
		}
	}
	return out
}

// clientToolUses returns the client tool uses among blocks.
func clientToolUses(blocks []agent.Block) []agent.Block {
	var out []agent.Block
	for _, b := range blocks {
		if b.Type == agent.BlockToolUse {
			out = append(out, b)
		}
	}
	return out
}

// response is the non-streaming answer for a finished turn.
func (r *messageReply) response(res *agent.QueryResult) anthropic.MessagesResponse {
	return anthropic.ToResponse(r.id, r.model, r.blocks(res.Messages), res.StopReason, res.Usage)
}

// Messages of the error event that ends a message stream the turn did not
// end.
const (
	msgMessageStreamDropped = "stream dropped: the client fell behind"
	msgMessageShuttingDown  = "server shutting down"
)

// messageStream turns the events of one turn into the stream events of one
// Anthropic message: text and thinking deltas live, the client's tool uses
// from the committed messages once the turn is done, then the stop reason
// and usage. Runtime events are not forwarded. It is used by one goroutine.
type messageStream struct {
	reply  *messageReply
	conv   *anthropic.StreamConverter
	pinged bool
}

// next returns the stream events for ev and whether the message is over.
func (m *messageStream) next(ev agent.Event) ([]anthropic.StreamEvent, bool) {
	switch ev.Kind {
	case agent.KindDelta:
		if ev.Thinking {
			return m.pingOnce(m.conv.Thinking(ev.Delta)), false
		}
		return m.pingOnce(m.conv.Text(ev.Delta)), false
	case agent.KindDone:
		var evs []anthropic.StreamEvent
		for _, b := range clientToolUses(m.reply.blocks(ev.Result.Messages)) {
			evs = append(evs, m.conv.ToolUse(b)...)
		}
		return m.pingOnce(append(evs, m.conv.End(ev.Result.StopReason, ev.Result.Usage)...)), true
	case agent.KindError:
		return m.conv.Error(fasthttp.StatusInternalServerError, ev.Error), true
	}
	return nil, false
}

// pingOnce puts a ping right after the stream's first content_block_start,
// as upstream does.
func (m *messageStream) pingOnce(evs []anthropic.StreamEvent) []anthropic.StreamEvent {
	if m.pinged {
		return evs
	}
	for i, ev := range evs {
		if ev.Type == anthropic.EventContentBlockStart {
			m.pinged = true
			return append(evs[:i+1], append([]anthropic.StreamEvent{{Type: anthropic.EventPing}}, evs[i+1:]...)...)
		}
	}
	return evs
}

// serveMessageStream answers 200 text/event-stream and writes the message
// stream of st. As serveStream, the writer captures only st, m, the
// connection's deadline setter and the base context's done channel, never
// ctx.
func (s *Server) serveMessageStream(ctx *fasthttp.RequestCtx, st *host.Stream, m *messageStream) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("text/event-stream; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.Response.Header.Set("X-Accel-Buffering", "no")
	_ = ctx.SetWriteDeadline(time.Time{})
	setDeadline := ctx.Conn().SetWriteDeadline
	done := s.baseCtx.Done()
	log := s.log
	cfg := s.cfg.SSE
	ctx.SetBodyStreamWriter(func(bw *bufio.Writer) {
		defer st.Close()
		defer func() {
			if r := recover(); r != nil {
				log.Error("message stream writer panic", "panic", r, "stack", string(debug.Stack()))
			}
		}()
		_ = writeMessageStream(done, sse.NewWriter(bw, setDeadline, cfg), st.Replay, st.C, m, messagePingInterval)
	})
}

// writeMessageStream writes message_start at once (which sends the
// headers), then the stream events of replay and of ch, coalescing what is
// queued into one flush and writing a ping after ping of silence. It ends
// after the turn's done or error event; when ch closes before either (the
// session dropped a subscriber that fell behind) or done closes (the
// server is shutting down), the stream ends with an error event instead,
// never silently. It returns the write error if the client went away.
func writeMessageStream(done <-chan struct{}, w *sse.Writer, replay []agent.Event, ch <-chan *agent.Event, m *messageStream, ping time.Duration) error {
	write := func(evs []anthropic.StreamEvent) error {
		for _, ev := range evs {
			name, data := anthropic.Encode(ev)
			if err := w.Unnumbered(name, data); err != nil {
				return err
			}
		}
		return nil
	}
	ended := false
	handle := func(ev agent.Event) error {
		evs, end := m.next(ev)
		ended = end
		return write(evs)
	}
	if err := write(m.conv.Start()); err != nil {
		return err
	}
	for _, ev := range replay {
		if err := handle(ev); err != nil || ended {
			return errors.Join(err, w.Flush())
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	idle := time.NewTimer(ping)
	defer idle.Stop()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return errors.Join(write(m.conv.Error(fasthttp.StatusInternalServerError, msgMessageStreamDropped)), w.Flush())
			}
			if err := handle(*ev); err != nil {
				return err
			}
		drain:
			for i := 1; i < messageCoalesce && !ended; i++ {
				select {
				case ev, ok := <-ch:
					if !ok {
						break drain
					}
					if err := handle(*ev); err != nil {
						return err
					}
				default:
					break drain
				}
			}
			if err := w.Flush(); err != nil || ended {
				return err
			}
		case <-idle.C:
			if err := write(m.conv.Ping()); err != nil {
				return err
			}
			if err := w.Flush(); err != nil {
				return err
			}
		case <-done:
			return errors.Join(write(m.conv.Error(anthropic.StatusOverloaded, msgMessageShuttingDown)), w.Flush())
		}
		idle.Reset(ping)
	}
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
	if err := decodeJSON(ctx, &req); err != nil {
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
	page, hasMore := pageModels(models, string(args.Peek("after_id")), string(args.Peek("before_id")), limit)
	return writeJSON(ctx, fasthttp.StatusOK, anthropic.NewModelList(page, hasMore))
}

// pageModels returns the page of at most limit models after afterID (or
// before beforeID), and whether more lie beyond it in that direction. An
// unknown cursor gives an empty page.
func pageModels(models []anthropic.Model, afterID, beforeID string, limit int) ([]anthropic.Model, bool) {
	index := func(id string) int {
		for i, m := range models {
			if m.ID == id {
				return i
			}
		}
		return -1
	}
	switch {
	case afterID != "":
		i := index(afterID)
		if i < 0 {
			return nil, false
		}
		rest := models[i+1:]
		return rest[:min(limit, len(rest))], len(rest) > limit
	case beforeID != "":
		i := index(beforeID)
		if i < 0 {
			return nil, false
		}
		head := models[:i]
		return head[max(0, len(head)-limit):], len(head) > limit
	}
	return models[:min(limit, len(models))], len(models) > limit
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
	ms, err := s.deps.Runtime.ListModels(s.opCtx, p.UserID)
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

var _ modelCatalog = (*host.Host)(nil)
