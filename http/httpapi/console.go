package httpapi

import (
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/http/console"
)

// consolePath is where the web console lives, below Config.PathPrefix.
const consolePath = "/console/"

// GET /: to the console, under the public path prefix.
func (s *Server) toConsole(ctx *fasthttp.RequestCtx) error {
	ctx.Response.Header.Set(fasthttp.HeaderLocation, s.cfg.PathPrefix+consolePath)
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-cache")
	ctx.SetStatusCode(fasthttp.StatusFound)
	return nil
}

// GET /console/{file:*}: a file of the embedded console, with its
// Content-Security-Policy; an unknown name is the API's 404.
func (s *Server) consoleFile(ctx *fasthttp.RequestCtx) error {
	f, ok := console.Lookup(pathParam(ctx, "file"))
	if !ok {
		return &Error{Status: fasthttp.StatusNotFound, Code: CodeNotFound, Msg: "no such console file"}
	}
	for _, kv := range console.Header() {
		ctx.Response.Header.Set(kv[0], kv[1])
	}
	ctx.Response.Header.Set(fasthttp.HeaderETag, f.ETag)
	if etagMatches(ctx.Request.Header.Peek(fasthttp.HeaderIfNoneMatch), f.ETag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return nil
	}
	ctx.SetContentType(f.ContentType)
	ctx.SetBody(f.Body)
	return nil
}

// etagMatches reports whether an If-None-Match value names etag.
func etagMatches(header []byte, etag string) bool {
	for tag := range strings.SplitSeq(string(header), ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == etag || tag == "*" {
			return true
		}
	}
	return false
}

// GET /api/v1/openapi.json: the OpenAPI document, built once in New.
func (s *Server) openAPI(ctx *fasthttp.RequestCtx) error {
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-cache")
	ctx.SetContentType(contentTypeJSON)
	ctx.SetBody(s.openapiDoc)
	return nil
}
