package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// Every end-to-end test server's client records what it exchanged; when
// the test ends, each response is checked against the server's own
// OpenAPI document (GET /api/v1/openapi.json): its status must be
// documented, a JSON body must match its schema, and each frame of an
// event stream must match StreamFrame. A response of a route the document
// does not have fails too, unless it is the router's 404 or 405.

// Bounds of the recording, so that load tests stay cheap.
const (
	maxRecordedExchanges = 4000
	maxRecordedBody      = 1 << 20
)

// exchange is one recorded request and its response.
type exchange struct {
	req       *http.Request
	status    int
	header    http.Header
	body      bytes.Buffer
	truncated bool
}

// recordingTransport records the exchanges of a test server's client.
type recordingTransport struct {
	base *http.Transport
	// host is the server's address; calls to other servers (a test's fake
	// upstream, the debug listener) are not the API's and are not recorded.
	host string

	mu sync.Mutex
	// Guarded by mu.
	exchanges []*exchange
	dropped   int
}

func (rt *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rt.base.RoundTrip(req)
	if err != nil || req.URL.Host != rt.host {
		return resp, err
	}
	rt.mu.Lock()
	full := len(rt.exchanges) >= maxRecordedExchanges
	if full {
		rt.dropped++
	}
	rt.mu.Unlock()
	if full {
		return resp, nil
	}
	ex := &exchange{req: req.Clone(context.Background()), status: resp.StatusCode, header: resp.Header.Clone()}
	resp.Body = &recordedBody{ReadCloser: resp.Body, ex: ex, rt: rt}
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach base.
func (rt *recordingTransport) CloseIdleConnections() { rt.base.CloseIdleConnections() }

// recordedBody keeps what the test read of a body and files the exchange
// when the body is closed.
type recordedBody struct {
	io.ReadCloser
	ex   *exchange
	rt   *recordingTransport
	once sync.Once
}

func (b *recordedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if room := maxRecordedBody - b.ex.body.Len(); n > 0 && room > 0 {
		b.ex.body.Write(p[:min(n, room)])
	}
	if n > 0 && b.ex.body.Len() >= maxRecordedBody {
		b.ex.truncated = true
	}
	return n, err
}

func (b *recordedBody) Close() error {
	b.once.Do(func() {
		// A body closed before its end was cut by the test (a stream it
		// left): only its complete frames are checked.
		if _, err := b.ReadCloser.Read(make([]byte, 1)); err != io.EOF {
			b.ex.truncated = true
		}
		b.rt.mu.Lock()
		b.rt.exchanges = append(b.rt.exchanges, b.ex)
		b.rt.mu.Unlock()
	})
	return b.ReadCloser.Close()
}

// apiSpec is the OpenAPI document, loaded from the first test server.
var apiSpec struct {
	once sync.Once
	doc  *openapi3.T
	ops  []specOp
	err  error
}

// specOp is one operation of the document with its path's matcher.
type specOp struct {
	route  *routers.Route
	re     *regexp.Regexp
	params []string
}

// loadSpec fetches and loads the document once per test binary.
func loadSpec(baseURL string) {
	apiSpec.once.Do(func() {
		// A client of its own that keeps no connection (goleak).
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Get(baseURL + "/api/v1/openapi.json")
		if err != nil {
			apiSpec.err = err
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			apiSpec.err = err
			return
		}
		doc, err := openapi3.NewLoader().LoadFromData(data)
		if err != nil {
			apiSpec.err = err
			return
		}
		apiSpec.doc = doc
		for path, item := range doc.Paths.Map() {
			var params []string
			segs := strings.Split(path, "/")
			for i, seg := range segs {
				if !strings.HasPrefix(seg, "{") {
					segs[i] = regexp.QuoteMeta(seg)
					continue
				}
				params = append(params, strings.Trim(seg, "{}"))
				segs[i] = "([^/]+)"
				if strings.HasPrefix(path, "/console/") || (i == len(segs)-1 && strings.HasPrefix(path, "/api/v1/skills/") && seg == "{path}") {
					segs[i] = "(.*)" // the console's and a skill file's catch-all
				}
			}
			pattern := "^" + strings.Join(segs, "/") + "$"
			re := regexp.MustCompile(pattern)
			for method, op := range item.Operations() {
				apiSpec.ops = append(apiSpec.ops, specOp{
					route:  &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op},
					re:     re,
					params: params,
				})
			}
		}
		// Static paths before parameterised ones, as the router does.
		sort.SliceStable(apiSpec.ops, func(i, j int) bool { return len(apiSpec.ops[i].params) < len(apiSpec.ops[j].params) })
	})
}

// findOp returns the operation of method and path, with its parameters.
func findOp(method, path string) (*routers.Route, map[string]string) {
	for _, op := range apiSpec.ops {
		if op.route.Method != method {
			continue
		}
		m := op.re.FindStringSubmatch(path)
		if m == nil {
			continue
		}
		params := map[string]string{}
		for i, name := range op.params {
			params[name] = m[i+1]
		}
		return op.route, params
	}
	return nil, nil
}

// checkAgainstSpec validates every exchange the server's client recorded
// and fails t with the first problems.
func (s *testServer) checkAgainstSpec(t testing.TB) {
	t.Helper()
	rt, ok := s.Client.Transport.(*recordingTransport)
	if !ok {
		return
	}
	if apiSpec.err != nil {
		t.Errorf("load the OpenAPI document: %v", apiSpec.err)
		return
	}
	if apiSpec.doc == nil {
		return
	}
	rt.mu.Lock()
	exchanges := rt.exchanges
	rt.mu.Unlock()
	var problems []string
	for _, ex := range exchanges {
		if err := validateExchange(ex); err != nil {
			problems = append(problems, fmt.Sprintf("%s %s → %d: %v", ex.req.Method, ex.req.URL.Path, ex.status, err))
		}
	}
	if len(problems) > 0 {
		if len(problems) > 15 {
			problems = append(problems[:15], fmt.Sprintf("… and %d more", len(problems)-15))
		}
		t.Errorf("responses that do not match the OpenAPI document:\n%s", strings.Join(problems, "\n"))
	}
}

func validateExchange(ex *exchange) error {
	route, params := findOp(ex.req.Method, ex.req.URL.Path)
	if route == nil {
		switch {
		case ex.status == http.StatusNotFound, ex.status == http.StatusMethodNotAllowed,
			ex.req.Method == http.MethodOptions, ex.req.Method == http.MethodHead:
			return nil
		}
		return fmt.Errorf("the document has no such operation")
	}
	mt, _, _ := mime.ParseMediaType(ex.header.Get("Content-Type"))
	isJSON := mt == "application/json"
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: ex.req, PathParams: params, Route: route},
		Status:                 ex.status,
		Header:                 ex.header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true,
			ExcludeResponseBody: !isJSON || ex.truncated},
	}
	input.SetBodyBytes(ex.body.Bytes())
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		return err
	}
	if mt == "text/event-stream" && ex.status == http.StatusOK {
		return validateFrames(route, ex.body.Bytes())
	}
	return nil
}

// validateFrames checks each complete SSE frame of body against the
// StreamFrame schema, when the operation's stream is described by it.
func validateFrames(route *routers.Route, body []byte) error {
	resp := route.Operation.Responses.Status(http.StatusOK)
	if resp == nil || resp.Value.Content.Get("text/event-stream") == nil {
		return fmt.Errorf("an event stream the operation does not document")
	}
	if _, ok := resp.Value.Content.Get("text/event-stream").Extensions["x-sse-frames"]; !ok {
		return nil // a stream of another wire format (Anthropic's)
	}
	schema := route.Spec.Components.Schemas["StreamFrame"].Value
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), maxRecordedBody)
	frame := map[string]any{}
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if len(data) == 0 {
				continue
			}
			var v any
			if err := json.Unmarshal([]byte(strings.Join(data, "\n")), &v); err != nil {
				return fmt.Errorf("a frame's data is not JSON: %q", data)
			}
			frame["data"] = v
			if _, ok := frame["event"]; !ok {
				frame["event"] = "message"
			}
			if _, ok := frame["id"]; !ok {
				frame["id"] = nil
			}
			if err := schema.VisitJSON(frame, openapi3.EnableJSONSchema2020()); err != nil {
				b, _ := json.Marshal(frame)
				return fmt.Errorf("frame %s: %v", b, err)
			}
			frame, data = map[string]any{}, nil
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		case strings.HasPrefix(line, "event:"):
			frame["event"] = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "id:"):
			n, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, "id:")), 64)
			if err != nil {
				return fmt.Errorf("a frame's id is not a number: %q", line)
			}
			frame["id"] = n
		}
	}
	return nil
}
