package httpapi

import (
	"errors"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/http/apitype"
)

// FuzzDecodeJSON runs arbitrary bodies and content types through the one
// JSON decoder into every native request type: the result is a decoded
// value or an *Error with a 4xx status, never a panic or another error.
func FuzzDecodeJSON(f *testing.F) {
	f.Add("application/json", `{"prompt":"hi","session_id":"sess_x","max_turns":3}`)
	f.Add("", `{"email":"a@b.c","password":"12345678"}`)
	f.Add("application/json; charset=utf-8", `{"decision":"allow","remember":true}`)
	f.Add("text/plain", `{}`)
	f.Add("application/json", `{"title":null,"permission_mode":7}`)
	f.Add("application/json", `[`)
	f.Fuzz(func(t *testing.T, contentType, body string) {
		targets := []any{
			&apitype.QueryRequest{}, &apitype.CreateSessionRequest{}, &apitype.UpdateSessionRequest{},
			&apitype.PermissionDecision{}, &apitype.PromptAnswer{}, &apitype.RegisterRequest{},
			&apitype.LoginRequest{}, &apitype.CreateKeyRequest{}, &apitype.CreateJobRequest{},
			&apitype.UpdateJobRequest{},
		}
		for _, v := range targets {
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetContentType(contentType)
			ctx.Request.SetBodyString(body)
			err := decodeJSON(&ctx, v)
			if err == nil {
				continue
			}
			var he *Error
			if !errors.As(err, &he) || he.Status < 400 || he.Status > 499 {
				t.Fatalf("decodeJSON(%q, %q) = %v", contentType, body, err)
			}
		}
	})
}
