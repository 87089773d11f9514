package scenario

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/seshat-host/seshat/compat/anthropic"
	"github.com/seshat-host/seshat/http/apitype"
)

// prompt is the text of every non-streamed turn: the mock echoes it.
const prompt = "hello there"

func bearer(key string) [2]string { return [2]string{"Authorization", "Bearer " + key} }

// streamPrompt asks the mock for tokens chunks, delay apart.
func streamPrompt(tokens int, delay time.Duration) string {
	return fmt.Sprintf("@tokens %d\n@delay %s", tokens, delay)
}

// queryOp is one non-streaming turn on a session. The first turn and
// every perSession-th after it start a new session (the request names
// none), so that the history a turn carries stays bounded however long
// the run: the host's per-turn cost grows with a session's history.
// perSession ≤ 0 keeps one session for the whole run.
func queryOp(t *target, perSession int) opFunc {
	fresh := t.cl.Build(Request{
		Method: http.MethodPost, Path: "/api/v1/query", Header: [][2]string{bearer(t.key)},
		Body: JSON(apitype.QueryRequest{Model: mockModel, Prompt: prompt}),
	})
	var req []byte
	turns := 0
	return func(c *Conn, deadline time.Time) (time.Duration, error) {
		if req == nil || (perSession > 0 && turns >= perSession) {
			qr, err := doQuery(c, fresh, deadline)
			if err != nil {
				return 0, err
			}
			req, turns = sessionQuery(t, qr.SessionID), 1
			return 0, nil
		}
		_, err := doQuery(c, req, deadline)
		turns++
		return 0, err
	}
}

// sessionQuery is a prebuilt turn on an existing session.
func sessionQuery(t *target, sessionID string) []byte {
	return t.cl.Build(Request{
		Method: http.MethodPost, Path: "/api/v1/query", Header: [][2]string{bearer(t.key)},
		Body: JSON(apitype.QueryRequest{SessionID: sessionID, Prompt: prompt}),
	})
}

// sessionQueryOp is one turn on a given session.
func sessionQueryOp(t *target, sessionID string) opFunc {
	req := sessionQuery(t, sessionID)
	return func(c *Conn, deadline time.Time) (time.Duration, error) {
		_, err := doQuery(c, req, deadline)
		return 0, err
	}
}

// doQuery sends a prebuilt query and checks its answer.
func doQuery(c *Conn, req []byte, deadline time.Time) (apitype.QueryResponse, error) {
	qr, err := sendQuery(c, req, deadline)
	if err == nil && (qr.StopReason != "end_turn" || qr.SessionID == "") {
		err = fmt.Errorf("%w: stop_reason %q", errBadAnswer, qr.StopReason)
	}
	return qr, err
}

// sendQuery sends a prebuilt query and decodes a 200 answer.
func sendQuery(c *Conn, req []byte, deadline time.Time) (apitype.QueryResponse, error) {
	var qr apitype.QueryResponse
	resp, err := c.Do(req, deadline)
	if err != nil {
		return qr, err
	}
	if resp.Status != http.StatusOK {
		return qr, statusError(resp.Status, resp.Body)
	}
	if err := json.Unmarshal(resp.Body, &qr); err != nil {
		return qr, fmt.Errorf("%w: %v", errBadAnswer, err)
	}
	return qr, nil
}

// baselineOp sends the query request's twin to the baseline server, which
// answers {"ok":true} to anything.
func baselineOp(t *target) opFunc {
	req := t.cl.Build(Request{
		Method: http.MethodPost, Path: "/api/v1/query", Header: [][2]string{bearer("sk-baseline")},
		Body: JSON(apitype.QueryRequest{SessionID: "sess_baseline", Prompt: prompt}),
	})
	return func(c *Conn, deadline time.Time) (time.Duration, error) {
		resp, err := c.Do(req, deadline)
		if err != nil {
			return 0, err
		}
		if resp.Status != http.StatusOK {
			return 0, statusError(resp.Status, resp.Body)
		}
		if !bytes.Equal(resp.Body, []byte(`{"ok":true}`)) {
			return 0, fmt.Errorf("%w: %q", errBadAnswer, resp.Body)
		}
		return 0, nil
	}
}

// messagesRequestFor builds POST /v1/messages of model with an API key, as
// an Anthropic SDK sends it.
func messagesRequestFor(t *target, model string, stream bool) []byte {
	return t.cl.Build(Request{
		Method: http.MethodPost, Path: "/v1/messages",
		Header: [][2]string{{"X-Api-Key", t.key}, {"Anthropic-Version", "2023-06-01"}},
		Body: JSON(anthropic.MessagesRequest{
			Model: model, MaxTokens: 64, Stream: stream,
			Messages: []anthropic.MessageParam{{Role: anthropic.RoleUser, Content: anthropic.Content{{Type: anthropic.BlockText, Text: prompt}}}},
		}),
	})
}

// messagesOp is one non-streaming /v1/messages call.
func messagesOp(t *target) opFunc { return messagesOpFor(t, mockModel) }

// messagesOpFor is messagesOp for another model.
func messagesOpFor(t *target, model string) opFunc {
	req := messagesRequestFor(t, model, false)
	return func(c *Conn, deadline time.Time) (time.Duration, error) {
		resp, err := c.Do(req, deadline)
		if err != nil {
			return 0, err
		}
		if resp.Status != http.StatusOK {
			return 0, statusError(resp.Status, resp.Body)
		}
		var m anthropic.MessagesResponse
		if err := json.Unmarshal(resp.Body, &m); err != nil {
			return 0, fmt.Errorf("%w: %v", errBadAnswer, err)
		}
		if m.StopReason != anthropic.StopEndTurn || len(m.Content) == 0 {
			return 0, fmt.Errorf("%w: stop_reason %q", errBadAnswer, m.StopReason)
		}
		return 0, nil
	}
}

// messagesStreamOp is one streaming /v1/messages call, read to its
// message_stop with the Anthropic stream grammar checked.
func messagesStreamOp(t *target) opFunc { return messagesStreamOpFor(t, mockModel) }

// messagesStreamOpFor is messagesStreamOp for another model.
func messagesStreamOpFor(t *target, model string) opFunc {
	req := messagesRequestFor(t, model, true)
	return func(c *Conn, deadline time.Time) (time.Duration, error) {
		sent := time.Now()
		if err := c.Write(req, deadline); err != nil {
			return 0, err
		}
		resp, _, err := c.ReadStream()
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			_ = c.Close()
			return 0, statusError(resp.StatusCode, b)
		}
		dec := anthropic.NewStreamDecoder(resp.Body)
		var ttfe time.Duration
		for {
			ev, err := dec.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				_ = c.Close()
				return 0, err
			}
			if ttfe == 0 && ev.Type == anthropic.EventMessageStart {
				ttfe = time.Since(sent)
			}
		}
		// The decoder stops at message_stop; the body's end (the last
		// chunk) must be read before the connection can carry the next
		// request.
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			_ = c.Close()
			return 0, err
		}
		if resp.Close {
			_ = c.Close()
		}
		if m := dec.Message(); m.StopReason != anthropic.StopEndTurn {
			return 0, fmt.Errorf("%w: stop_reason %q", errBadAnswer, m.StopReason)
		}
		return ttfe, nil
	}
}

// getSessionOp is GET /api/v1/sessions/{id}: the request that activates a
// passivated session.
func getSessionOp(t *target, id string) opFunc {
	req := t.cl.Build(Request{Method: http.MethodGet, Path: "/api/v1/sessions/" + id, Header: [][2]string{bearer(t.key)}})
	return func(c *Conn, deadline time.Time) (time.Duration, error) {
		resp, err := c.Do(req, deadline)
		if err != nil {
			return 0, err
		}
		if resp.Status != http.StatusOK {
			return 0, statusError(resp.Status, resp.Body)
		}
		var s apitype.Session
		if err := json.Unmarshal(resp.Body, &s); err != nil || s.ID != id {
			return 0, fmt.Errorf("%w: session %q", errBadAnswer, s.ID)
		}
		return 0, nil
	}
}

// streamRequest is POST /api/v1/query/stream of a new mock session.
func streamRequest(t *target, tokens int, delay time.Duration) []byte {
	return t.cl.Build(Request{
		Method: http.MethodPost, Path: "/api/v1/query/stream", Header: [][2]string{bearer(t.key)},
		Body: JSON(apitype.QueryRequest{Model: mockModel, Prompt: streamPrompt(tokens, delay)}),
	})
}

// attachRequest is GET /api/v1/sessions/{id}/stream after event id after.
func attachRequest(t *target, sessionID string, after uint64) []byte {
	return t.cl.Build(Request{
		Method: http.MethodGet, Path: "/api/v1/sessions/" + sessionID + "/stream",
		Header: [][2]string{bearer(t.key), {"Last-Event-ID", strconv.FormatUint(after, 10)}},
	})
}
