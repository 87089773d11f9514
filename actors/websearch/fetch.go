package websearch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	htmltomarkdown "github.com/JohannesKaufmann/html-to-markdown/v2"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/egress"
)

// Page is a fetched page as text.
type Page struct {
	// URL is the final URL, after redirects.
	URL         string
	ContentType string
	// Text is the page as Markdown (HTML) or as sent (other text).
	Text      string
	Truncated bool
}

// Fetch reads a page through the outbound fence: an http or https URL,
// at most 5 redirects, the size and time caps. HTML becomes Markdown;
// other text types come back as they are; anything else is refused.
func (s *Service) Fetch(ctx context.Context, raw string) (Page, error) {
	u, err := egress.CheckURL(ctx, egress.Policy{AllowPrivate: s.cfg.AllowPrivate}, strings.TrimSpace(raw))
	if err != nil {
		return Page{}, fmt.Errorf("%w: %s", agent.ErrInvalid, strings.TrimPrefix(err.Error(), "egress: "))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Page{}, fmt.Errorf("%w: %v", agent.ErrInvalid, err)
	}
	req.Header.Set("User-Agent", "seshat-host (web_fetch)")
	req.Header.Set("Accept", "text/html, text/markdown, text/plain;q=0.9, application/json;q=0.8, */*;q=0.1")
	resp, err := s.fetch.Do(req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return Page{}, ctx.Err()
		case errors.Is(err, egress.ErrBlocked):
			return Page{}, &agent.UpstreamError{Service: "web_fetch", Msg: "the page (or a redirect) leads to a destination that is not allowed"}
		}
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			return Page{}, &agent.UpstreamError{Service: "web_fetch", Msg: "the page did not load in " + s.cfg.FetchTimeout.String()}
		}
		return Page{}, &agent.UpstreamError{Service: "web_fetch", Msg: "the page could not be fetched"}
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Page{}, &agent.UpstreamError{Service: "web_fetch", Status: resp.StatusCode, Msg: "the page answered " + http.StatusText(resp.StatusCode)}
	}
	ctype, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.cfg.FetchMaxBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return Page{}, ctx.Err()
		}
		return Page{}, &agent.UpstreamError{Service: "web_fetch", Msg: "the page broke off while loading"}
	}
	p := Page{URL: resp.Request.URL.String(), ContentType: ctype}
	if int64(len(body)) > s.cfg.FetchMaxBytes {
		body, p.Truncated = body[:s.cfg.FetchMaxBytes], true
	}
	if ctype == "" {
		ctype = http.DetectContentType(body)
		ctype, _, _ = mime.ParseMediaType(ctype)
		p.ContentType = ctype
	}
	switch {
	case ctype == "text/html" || ctype == "application/xhtml+xml":
		md, err := htmltomarkdown.ConvertString(string(body))
		if err != nil {
			return Page{}, &agent.UpstreamError{Service: "web_fetch", Msg: "the page's HTML could not be read"}
		}
		p.Text = md
	case strings.HasPrefix(ctype, "text/") || ctype == "application/json" || strings.HasSuffix(ctype, "+json") ||
		ctype == "application/xml" || strings.HasSuffix(ctype, "+xml"):
		p.Text = string(body)
	default:
		return Page{}, &agent.UpstreamError{Service: "web_fetch", Msg: fmt.Sprintf("the page is %s, not text", ctype)}
	}
	p.Text = strings.ToValidUTF8(p.Text, "\uFFFD")
	if int64(len(p.Text)) > s.cfg.FetchMaxBytes {
		cut := int(s.cfg.FetchMaxBytes)
		for cut > 0 && !utf8.RuneStart(p.Text[cut]) {
			cut--
		}
		p.Text, p.Truncated = p.Text[:cut], true
	}
	return p, nil
}
