package httpapi

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/host"
	"github.com/seshat-host/seshat/compat/chatcompat"
	"github.com/seshat-host/seshat/compat/openai"
	"github.com/seshat-host/seshat/http/sse"
)

// The OpenAI-compatible Chat Completions API: POST /v1/chat/completions,
// the same turn as POST /v1/messages in OpenAI's shape. GET /v1/models is
// shared with the Anthropic-compatible routes (messages.go).

// chatCompletions answers POST /v1/chat/completions with one turn of a
// session: a new one in the caller's default workspace, or the one
// x-seshat-session-id names. The turn starts (or is refused with a real
// status) before anything is streamed.
func (s *Server) chatCompletions(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	var wire openai.ChatRequest
	if err := decodeJSONLenient(ctx, &wire); err != nil {
		return err
	}
	req, err := chatcompat.FromRequest(wire)
	if err != nil {
		return err
	}
	tr, reply, err := s.chatTurn(ctx, p.UserID, req)
	if err != nil {
		return err
	}
	t, err := s.deps.Runtime.StartTurn(s.opCtx, p.UserID, tr)
	if err != nil {
		return err
	}
	ctx.Response.Header.Set(headerSeshatSession, t.SessionID)
	reply.ID = "chatcmpl-" + strings.TrimPrefix(t.TurnID, agent.PrefixTurn+"_")
	if req.Stream {
		s.serveChatStream(ctx, t.Events, chatcompat.NewStream(reply, req.IncludeUsage))
		return nil
	}
	res, toolRan, err := s.awaitTurn(t)
	if err != nil {
		if toolRan {
			ctx.Response.Header.Set(headerShouldRetry, "false")
		}
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, reply.Completion(res))
}

// chatTurn turns a checked request into the turn it runs and the reply
// that will report it, as messageTurn does for a Messages request.
func (s *Server) chatTurn(ctx *fasthttp.RequestCtx, userID string, req chatcompat.Request) (host.TurnRequest, *chatcompat.Reply, error) {
	sessionID := string(bytes.TrimSpace(ctx.Request.Header.Peek(headerSeshatSession)))
	settingID := string(bytes.TrimSpace(ctx.Request.Header.Peek(headerProviderSetting)))
	input, err := turnInput(req.Turn.Messages, sessionID != "")
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
	reply := chatcompat.NewReply(req, len(input), time.Now().Unix())
	tr := host.TurnRequest{
		SessionID: sessionID, Input: input, Route: route, Stream: true,
		OneShot: sessionID == "",
		// Answered once at its end, the session's id included.
		AnswerAtEnd: !req.Stream,
	}
	tr.Model, tr.ProviderSettingID, tr.SystemPrompt, tr.MaxTokens = model, settingID, req.Turn.System, req.Turn.MaxTokens
	tr.ClientTools, tr.ToolChoice, tr.NoAsk = req.Turn.Tools, req.Turn.ToolChoice, true
	tr.ResponseFormat = req.Turn.ResponseFormat
	return tr, reply, nil
}

// Messages of the error that ends a chunk stream the turn did not end.
const msgChatStreamDropped = "stream dropped: the client fell behind"

// serveChatStream answers 200 text/event-stream and writes the chunk
// stream of st; as serveMessageStream, the writer never captures ctx.
func (s *Server) serveChatStream(ctx *fasthttp.RequestCtx, st *host.Stream, m *chatcompat.Stream) {
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
				log.Error("chat stream writer panic", "panic", r, "stack", string(debug.Stack()))
			}
		}()
		_ = writeChatStream(done, sse.NewWriter(bw, setDeadline, cfg), st.Replay, st.C, m, messagePingInterval)
	})
}

// writeChatStream writes the first chunk at once, then the chunks of
// replay and ch, and ends with data: [DONE] after the turn's done event.
// A failed turn, a dropped subscriber or a shutdown end the stream with an
// error envelope instead, never silently. Silence of ping is filled with
// an SSE comment.
func writeChatStream(done <-chan struct{}, w *sse.Writer, replay []agent.Event, ch <-chan *agent.Event, m *chatcompat.Stream, ping time.Duration) error {
	write := func(chunks []openai.ChatChunk) error {
		for _, c := range chunks {
			if err := w.Unnumbered("", chatcompat.Encode(c)); err != nil {
				return err
			}
		}
		return nil
	}
	fail := func(status int, msg string) error {
		return errors.Join(w.Unnumbered("", chatcompat.Encode(chatcompat.NewError(status, msg, ""))), w.Flush())
	}
	ended := false
	handle := func(ev agent.Event) error {
		chunks, end := m.Next(ev)
		ended = end
		if err := write(chunks); err != nil {
			return err
		}
		if e, bad := chatcompat.Failed(ev); bad {
			return w.Unnumbered("", chatcompat.Encode(e))
		}
		if end {
			return w.Unnumbered("", []byte(chatcompat.Done))
		}
		return nil
	}
	if err := write(m.Start()); err != nil {
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
	err := sse.PumpUntil(done, w, ch, func(_ *sse.Writer, ev *agent.Event) (bool, error) {
		err := handle(*ev)
		return ended, err
	}, sse.Idle{Every: ping, Write: func(w *sse.Writer) error { return w.Comment("ping") }})
	switch {
	case errors.Is(err, sse.ErrShutdown):
		return fail(fasthttp.StatusServiceUnavailable, msgMessageShuttingDown)
	case err != nil || ended:
		return err
	}
	return fail(fasthttp.StatusInternalServerError, msgChatStreamDropped)
}
