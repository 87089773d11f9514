package anthropic

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestContentForms(t *testing.T) {
	var m MessageParam
	require.NoError(t, json.Unmarshal([]byte(`{"role":"user","content":"hi"}`), &m))
	require.Equal(t, Content{{Type: BlockText, Text: "hi"}}, m.Content)

	require.NoError(t, json.Unmarshal([]byte(`{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}`), &m))
	require.Len(t, m.Content, 2)

	require.NoError(t, json.Unmarshal([]byte(`{"role":"user","content":null}`), &m))
	require.Nil(t, m.Content)
	out, err := json.Marshal(m)
	require.NoError(t, err)
	require.JSONEq(t, `{"role":"user","content":[]}`, string(out))

	require.Error(t, json.Unmarshal([]byte(`{"role":"user","content":5}`), &m))

	var r MessagesRequest
	require.NoError(t, json.Unmarshal([]byte(`{"system":"be brief","messages":[]}`), &r))
	require.Equal(t, Content{{Type: BlockText, Text: "be brief"}}, r.System)
	out, err = json.Marshal(MessagesRequest{Model: "m", MaxTokens: 1})
	require.NoError(t, err)
	require.JSONEq(t, `{"model":"m","max_tokens":1,"messages":null}`, string(out), "an empty system prompt is left out")
}

func TestContentBlockRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   string
		out  string // "" means the same as in
	}{
		{name: "text", in: `{"type":"text","text":""}`},
		{name: "text with cache control", in: `{"type":"text","text":"x","cache_control":{"type":"ephemeral"}}`},
		{name: "text with citations", in: `{"type":"text","text":"x","citations":null}`},
		{name: "tool_use", in: `{"type":"tool_use","id":"toolu_1","name":"f","input":{"a":[1,2]}}`},
		{name: "tool_use without input", in: `{"type":"tool_use","id":"toolu_1","name":"f"}`, out: `{"type":"tool_use","id":"toolu_1","name":"f","input":{}}`},
		{name: "tool_result string", in: `{"type":"tool_result","tool_use_id":"toolu_1","content":"ok"}`},
		{name: "tool_result one block", in: `{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"ok"}]}`, out: `{"type":"tool_result","tool_use_id":"toolu_1","content":"ok"}`},
		{name: "tool_result blocks", in: `{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"a"},{"type":"image","source":{"type":"url","url":"https://x/y.png"}}],"is_error":true}`},
		{name: "tool_result without content", in: `{"type":"tool_result","tool_use_id":"toolu_1"}`},
		{name: "thinking", in: `{"type":"thinking","thinking":"hmm","signature":"c2ln+/="}`},
		{name: "thinking empty", in: `{"type":"thinking","thinking":"","signature":""}`},
		{name: "redacted thinking", in: `{"type":"redacted_thinking","data":"EmwKAhgB"}`},
		{name: "image raw", in: `{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/4AAQ"}}`},
		{name: "document raw", in: `{"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}, "title": "T"}`,
			out: `{"type":"document","source":{"type":"text","media_type":"text/plain","data":"x"},"title":"T"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b ContentBlock
			require.NoError(t, json.Unmarshal([]byte(tc.in), &b))
			got, err := json.Marshal(b)
			require.NoError(t, err)
			want := tc.out
			if want == "" {
				want = tc.in
			}
			require.Equal(t, want, string(got), "blocks are written back unchanged (raw JSON compacted)")
		})
	}
}

func TestMessagesResponseJSON(t *testing.T) {
	in := `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"hi"}],"stop_reason":"stop_sequence","stop_sequence":"END","stop_details":{"type":"x"},"usage":{"input_tokens":3,"cache_creation_input_tokens":1,"cache_read_input_tokens":2,"output_tokens":4}}`
	var r MessagesResponse
	require.NoError(t, json.Unmarshal([]byte(in), &r))
	require.Equal(t, "stop_sequence", r.StopReason)
	require.Equal(t, "END", r.StopSequence)
	require.JSONEq(t, `{"type":"x"}`, string(r.StopDetails))
	out, err := json.Marshal(r)
	require.NoError(t, err)
	require.JSONEq(t, in, string(out))

	out, err = json.Marshal(MessagesResponse{ID: "msg_2"})
	require.NoError(t, err)
	require.JSONEq(t, `{"id":"msg_2","type":"message","role":"assistant","model":"","content":[],"stop_reason":null,"stop_sequence":null,"stop_details":null,"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`, string(out))
}

func TestNewError(t *testing.T) {
	tests := []struct {
		status int
		want   string
	}{
		{400, "invalid_request_error"}, {401, "authentication_error"}, {402, "billing_error"},
		{403, "permission_error"}, {404, "not_found_error"}, {409, "conflict_error"},
		{413, "request_too_large"}, {415, "invalid_request_error"}, {429, "rate_limit_error"},
		{500, "api_error"}, {502, "api_error"}, {504, "timeout_error"}, {529, "overloaded_error"},
	}
	for _, tc := range tests {
		e := NewError(tc.status, "msg")
		require.Equal(t, tc.want, e.Error.Type, tc.status)
		if tc.status != 415 && tc.status != 502 {
			require.Equal(t, tc.status, ErrorStatus(tc.want), tc.want)
		}
	}
	require.Equal(t, 500, ErrorStatus("brand_new_error"))
	out, err := json.Marshal(NewError(529, "Overloaded"))
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, string(out))
	e := NewError(400, "max_tokens: Field required")
	e.RequestID = "req_011CWkB65DcNzK2MiofhXx8b"
	out, err = json.Marshal(e)
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"},"request_id":"req_011CWkB65DcNzK2MiofhXx8b"}`, string(out))
}

func TestModelList(t *testing.T) {
	created := time.Date(2025, 10, 1, 0, 0, 0, 0, time.UTC)
	l := NewModelList([]Model{
		{ID: "claude-haiku-4-5", DisplayName: "Claude Haiku 4.5", CreatedAt: created},
		{ID: "claude-sonnet-4-5", DisplayName: "Claude Sonnet 4.5", CreatedAt: created.In(time.FixedZone("x", 3600)), MaxTokens: 64000},
	}, false)
	out, err := json.Marshal(l)
	require.NoError(t, err)
	require.JSONEq(t, `{"object":"list","data":[
		{"type":"model","id":"claude-haiku-4-5","display_name":"Claude Haiku 4.5","created_at":"2025-10-01T00:00:00Z",
		 "object":"model","created":1759276800,"owned_by":"seshat"},
		{"type":"model","id":"claude-sonnet-4-5","display_name":"Claude Sonnet 4.5","created_at":"2025-10-01T00:00:00Z","max_tokens":64000,
		 "object":"model","created":1759276800,"owned_by":"seshat"}
	],"has_more":false,"first_id":"claude-haiku-4-5","last_id":"claude-sonnet-4-5"}`, string(out))

	var back ModelList
	require.NoError(t, json.Unmarshal(out, &back))
	require.Equal(t, "claude-sonnet-4-5", back.LastID)
	require.Len(t, back.Data, 2)

	out, err = json.Marshal(NewModelList(nil, false))
	require.NoError(t, err)
	require.JSONEq(t, `{"object":"list","data":[],"has_more":false,"first_id":null,"last_id":null}`, string(out))
}

func TestCountTokensRequest(t *testing.T) {
	var r CountTokensRequest
	require.NoError(t, json.Unmarshal([]byte(`{"model":"m","system":"s","messages":[{"role":"user","content":"hello"}],"tools":[{"name":"t","input_schema":{"type":"object"}}]}`), &r))
	m := r.MessagesRequest()
	require.Equal(t, "m", m.Model)
	require.Len(t, m.Messages, 1)
	require.Len(t, m.Tools, 1)
	out, err := json.Marshal(CountTokensResponse{InputTokens: 2095})
	require.NoError(t, err)
	require.JSONEq(t, `{"input_tokens":2095}`, string(out))
}

func TestEstimateTokens(t *testing.T) {
	msgs := func(s string) []MessageParam {
		var m []MessageParam
		require.NoError(t, json.Unmarshal([]byte(s), &m))
		return m
	}
	base := MessagesRequest{Messages: msgs(`[{"role":"user","content":"hello world!"}]`)}
	require.Equal(t, int64(3), EstimateTokens(base), "12 bytes")

	empty := MessagesRequest{Messages: msgs(`[{"role":"user","content":""},{"role":"assistant","content":[]}]`)}
	require.Equal(t, int64(2), EstimateTokens(empty), "at least one token per message")
	require.Equal(t, int64(1), EstimateTokens(MessagesRequest{}), "never 0")

	withSystem := base
	withSystem.System = Content{{Type: BlockText, Text: "12345678"}}
	require.Equal(t, int64(5), EstimateTokens(withSystem), "the system prompt counts")

	withTools := base
	withTools.Tools = []Tool{{Name: "get_weather", Description: "Current weather", InputSchema: json.RawMessage(`{"type":"object"}`)}}
	require.Greater(t, EstimateTokens(withTools), EstimateTokens(base), "tools count")

	withImage := MessagesRequest{Messages: msgs(`[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]}]`)}
	require.Equal(t, int64(1+imageTokens), EstimateTokens(withImage))

	blocks := MessagesRequest{Messages: msgs(`[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"abcd","input":{"k":"v"}},{"type":"thinking","thinking":"abcd","signature":"s"}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"abcdefgh"}]}]`)}
	require.Equal(t, int64(3+2+2), EstimateTokens(blocks))
}

// checkContentString checks that a content string decodes as
// encoding/json decodes the string itself.
func checkContentString(t *testing.T, s string) {
	t.Helper()
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range [][]byte{data, []byte(`"` + s + `"`)} {
		var want string
		wantErr := json.Unmarshal(in, &want)
		var c Content
		err := c.UnmarshalJSON(in)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("content %q: error %v, encoding/json %v", in, err, wantErr)
		}
		if err == nil && (len(c) != 1 || c[0].Type != BlockText || c[0].Text != want) {
			t.Fatalf("content %q = %+v, want one text block %q", in, c, want)
		}
	}
}

func TestContentStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "Plan a trip to Paris", "caf\u00e9 \U0001F600", "a\\nb", `q"`, "\xff", "\xed\xa0\x80", "tab\there", "\u2028"} {
		checkContentString(t, s)
	}
}

func FuzzContentString(f *testing.F) {
	f.Add("hello")
	f.Add("\\u00e9\xff")
	f.Fuzz(checkContentString)
}
