package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// The browser tests drive the web console in a real headless Chromium
// against the real server. A machine without a browser skips them, unless
// SESHAT_REQUIRE_BROWSER=1 (CI), where a missing browser fails. Each
// scenario saves a screenshot in SESHAT_SCREENSHOTS, else in t.TempDir().

// browserNames are the executables tried, in order.
var browserNames = []string{"chromium-headless-shell", "chromium", "chromium-browser", "google-chrome", "headless-shell"}

// browserPath finds a browser or skips (or, in CI, fails) the test.
func browserPath(t testing.TB) string {
	t.Helper()
	for _, name := range browserNames {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium found (tried " + strings.Join(browserNames, ", ") + "): install Debian's chromium-headless-shell to run the browser tests"
	if os.Getenv("SESHAT_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browserTab is one tab of a fresh headless browser, pointed at a server.
type browserTab struct {
	t   testing.TB
	ctx context.Context
	srv *testServer

	mu sync.Mutex
	// Guarded by mu: uncaught exceptions and console errors (a CSP
	// violation is one) of the page.
	problems []string
}

// openBrowser starts a browser with its own profile and opens a tab. The
// browser is stopped, and waited for, at cleanup.
func openBrowser(t testing.TB, srv *testServer) *browserTab {
	t.Helper()
	path := browserPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	b := &browserTab{t: t, ctx: ctx, srv: srv}
	t.Cleanup(func() {
		// Cancel closes the browser and waits for it to exit.
		_ = chromedp.Cancel(ctx)
		cancelTab()
		cancelAlloc()
	})
	// The first call starts the browser; it must not carry a timeout.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")))
	_, err := chromedp.Call(ctx, log.Enable, struct{}{})
	require.NoError(t, err)
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "exception: " + e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError && !strings.Contains(e.Entry.Text, "status of 4") {
				msg = "console: " + e.Entry.Text
			}
		}
		if msg != "" {
			b.mu.Lock()
			b.problems = append(b.problems, msg)
			b.mu.Unlock()
		}
	}))
	return b
}

// run runs actions with a deadline and fails the test on an error.
func (b *browserTab) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, actions...), "%s; page problems: %v", what, b.pageProblems())
}

// waitFor polls a JavaScript predicate until it is truthy.
func (b *browserTab) waitFor(what, predicate string) {
	b.t.Helper()
	b.run("waiting for "+what, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
}

// eval evaluates expression and decodes its value into T.
func evalJS[T any](b *browserTab, expression string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression))
	require.NoError(b.t, err, "evaluate %s", expression)
	return v
}

// pageProblems returns the page's exceptions and console errors so far.
func (b *browserTab) pageProblems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// requireNoProblems fails on any exception or console error of the page:
// a script error, or a resource the Content-Security-Policy refused.
func (b *browserTab) requireNoProblems() {
	b.t.Helper()
	require.Empty(b.t, b.pageProblems(), "the page reported problems")
}

// screenshot saves the page as NAME.png in the screenshot folder.
func (b *browserTab) screenshot(name string) string {
	b.t.Helper()
	dir := os.Getenv("SESHAT_SCREENSHOTS")
	if dir == "" {
		dir = b.t.TempDir()
	}
	require.NoError(b.t, os.MkdirAll(dir, 0o755))
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(b.t, err)
	path := filepath.Join(dir, name+".png")
	require.NoError(b.t, os.WriteFile(path, png, 0o644))
	b.t.Logf("screenshot: %s", path)
	return path
}

// signIn opens the console at the server's root and signs in with the
// password form, then waits for the sessions page.
func (b *browserTab) signIn(email, password string) {
	b.t.Helper()
	b.run("open the console", chromedp.Navigate(b.srv.URL+"/"))
	b.waitFor("the sign-in form", `document.querySelector('form input[type=email]') !== null`)
	b.run("sign in",
		chromedp.SendKeys(chromedp.CSS(`form input[type=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`form input[type=password]`), password),
		chromedp.Click(chromedp.CSS(`form button[type=submit]`)))
	b.waitFor("the signed-in header", fmt.Sprintf(`document.getElementById('whoami')?.textContent === %q`, email))
}

// startChat opens a new chat from the sessions page and returns its id.
func (b *browserTab) startChat() string {
	b.t.Helper()
	b.run("go to sessions", chromedp.Navigate(b.srv.URL+"/console/#/sessions"))
	b.waitFor("the New chat button", `[...document.querySelectorAll('button')].some(x => x.textContent === 'New chat')`)
	b.run("new chat", chromedp.Click(chromedp.JSPath(`[...document.querySelectorAll('button')].find(x => x.textContent === 'New chat')`)))
	b.waitFor("the composer", `document.getElementById('prompt') !== null && document.getElementById('turn-state')?.dataset.state === 'idle'`)
	return strings.TrimPrefix(evalJS[string](b, `location.hash`), "#/sessions/")
}

// send types a prompt into the composer and sends it.
func (b *browserTab) send(prompt string) {
	b.t.Helper()
	b.run("send "+prompt,
		chromedp.SetValue(chromedp.ID("prompt"), prompt),
		chromedp.Click(chromedp.ID("send")))
}

// assistantText is the text of the assistant's bubbles, without labels.
func (b *browserTab) assistantText() string {
	return evalJS[string](b, `[...document.querySelectorAll('.msg.assistant')].map(m => m.lastChild.textContent).join('|')`)
}

// browserUser registers the server's first account (its admin) and
// returns its email and password.
func browserUser(t testing.TB, srv *testServer) (string, string, string) {
	t.Helper()
	email, password := "ada@example.com", "correct horse battery"
	reg := srv.register(t, email, password)
	return email, password, reg.Token
}

func TestBrowserSignIn(t *testing.T) {
	srv := startServer(t, "", nil)
	email, password, token := browserUser(t, srv)
	b := openBrowser(t, srv)
	b.signIn(email, password)
	require.Contains(t, evalJS[string](b, `location.pathname`), "/console/")
	// The token stays in this tab's session storage, never in a cookie.
	require.Empty(t, evalJS[string](b, `document.cookie`))
	require.NotEmpty(t, evalJS[string](b, `sessionStorage.getItem('seshat.token') || ''`))
	b.screenshot("signin-sessions")

	// Signing out forgets the token; an API key signs in too.
	key := srv.createKey(t, token, "browser")
	b.run("sign out", chromedp.Click(chromedp.JSPath(`[...document.querySelectorAll('#who button')].find(x => x.textContent === 'Sign out')`)))
	b.waitFor("the sign-in form", `document.querySelector('form input[type=email]') !== null`)
	require.Empty(t, evalJS[string](b, `sessionStorage.getItem('seshat.token') || ''`))
	b.run("choose API key", chromedp.Click(chromedp.JSPath(`[...document.querySelectorAll('[role=tab]')].find(x => x.textContent === 'API key')`)))
	b.waitFor("the key field", `document.activeElement?.type === 'password'`)
	b.run("sign in with the key",
		chromedp.SendKeys(chromedp.CSS(`form input[type=password]`), key.Key),
		chromedp.Click(chromedp.CSS(`form button[type=submit]`)))
	b.waitFor("the signed-in header", fmt.Sprintf(`document.getElementById('whoami')?.textContent === %q`, email))

	// The admin's navigation offers the admin pages, and each page of a
	// family this server has draws without an error.
	for _, page := range []string{"users", "audit", "quotas", "settings", "jobs", "files", "api"} {
		b.run("open "+page, chromedp.Navigate(srv.URL+"/console/#/"+page))
		b.waitFor(page+" page", `document.querySelector('main h1') !== null && !document.getElementById('boot')`)
		require.Zero(t, evalJS[int](b, `document.querySelectorAll('main .error:not(:empty)').length`),
			"%s shows an error: %s", page, evalJS[string](b, `[...document.querySelectorAll('main .error')].map(e => e.textContent).join('; ')`))
	}
	b.waitFor("the API page's routes", `document.querySelectorAll('#api-routes tr').length > 40`)
	b.screenshot("api-page")
	b.run("verify the audit chain", chromedp.Navigate(srv.URL+"/console/#/audit"))
	b.waitFor("the verify button", `[...document.querySelectorAll('main button')].some(x => x.textContent === 'Verify the chain')`)
	b.run("verify", chromedp.Click(chromedp.JSPath(`[...document.querySelectorAll('main button')].find(x => x.textContent === 'Verify the chain')`)))
	b.waitFor("the verdict", `document.getElementById('audit-verdict')?.textContent.includes('intact')`)
	b.screenshot("audit")
	b.requireNoProblems()
}

func TestBrowserStreamTurn(t *testing.T) {
	srv := startServer(t, "", nil)
	email, password, _ := browserUser(t, srv)
	b := openBrowser(t, srv)
	b.signIn(email, password)
	b.startChat()
	b.send("@tokens 5")
	b.waitFor("the turn's end", `document.querySelector('.ev.done') !== null && document.getElementById('turn-state').dataset.state === 'idle'`)
	require.Equal(t, "tok0 tok1 tok2 tok3 tok4", b.assistantText())
	require.Contains(t, evalJS[string](b, `document.querySelector('.ev.done').textContent`), "end_turn")
	b.screenshot("stream")
	b.requireNoProblems()
}

func TestBrowserApprovePermission(t *testing.T) {
	srv := startServer(t, "", nil)
	email, password, token := browserUser(t, srv)
	b := openBrowser(t, srv)
	b.signIn(email, password)
	b.startChat()
	b.send(`@tool write_file {"path":"notes/hello.txt","content":"hello from the console"}`)
	b.waitFor("the permission request", `document.querySelector('.ev.permission button.approve') !== null`)
	// The request takes the focus, so a keyboard user answers at once.
	require.True(t, evalJS[bool](b, `document.activeElement === document.querySelector('.ev.permission button.approve')`))
	require.Equal(t, "waiting", evalJS[string](b, `document.getElementById('turn-state').dataset.state`))
	b.screenshot("permission-request")
	b.run("approve", chromedp.Click(chromedp.CSS(`.ev.permission button.approve`)))
	b.waitFor("the tool to finish", `document.querySelector('.ev.tool.ok') !== null && document.querySelector('.ev.done') !== null`)
	require.Contains(t, b.assistantText(), "tool write_file returned")
	require.Contains(t, evalJS[string](b, `document.querySelector('.ev.permission .badge').textContent`), "Allowed")
	b.screenshot("permission-approved")

	// The tool really ran: the file is in the workspace.
	resp := srv.get(t, "/api/v1/files", token)
	require.Equal(t, http.StatusOK, resp.Status)
	require.Contains(t, string(resp.Body), `"path":"notes/hello.txt"`)
	b.requireNoProblems()
}

func TestBrowserAnswerPrompt(t *testing.T) {
	srv := startServer(t, "", nil)
	email, password, _ := browserUser(t, srv)
	b := openBrowser(t, srv)
	b.signIn(email, password)
	b.startChat()
	b.send(`@tool ask_user {"question":"Which colour should the report use?"}`)
	b.waitFor("the question", `document.querySelector('.ev.prompt .question')?.textContent === 'Which colour should the report use?'`)
	require.True(t, evalJS[bool](b, `document.activeElement === document.querySelector('.ev.prompt input')`))
	b.run("answer", chromedp.SendKeys(chromedp.CSS(`.ev.prompt input`), "teal"),
		chromedp.Click(chromedp.CSS(`.ev.prompt button.answer`)))
	b.waitFor("the turn's end", `document.querySelector('.ev.done') !== null`)
	require.Contains(t, b.assistantText(), "tool ask_user returned: teal")
	b.screenshot("prompt-answered")
	b.requireNoProblems()
}

func TestBrowserReattachAfterReload(t *testing.T) {
	srv := startServer(t, "", nil)
	email, password, _ := browserUser(t, srv)
	b := openBrowser(t, srv)
	b.signIn(email, password)
	b.startChat()
	b.send("@delay 100ms\n@tokens 20")
	b.waitFor("the first chunks", `(document.querySelector('.msg.assistant')?.textContent || '').includes('tok2')`)
	require.Equal(t, "running", evalJS[string](b, `document.getElementById('turn-state').dataset.state`))
	b.run("reload mid-turn", chromedp.Reload())
	b.waitFor("the re-attached turn's end", `document.querySelector('.ev.done') !== null`)
	// The turn was redrawn from its first event and followed to its end,
	// each chunk once.
	want := make([]string, 20)
	for i := range want {
		want[i] = fmt.Sprintf("tok%d", i)
	}
	require.Equal(t, strings.Join(want, " "), b.assistantText())
	b.screenshot("reattached")
	b.requireNoProblems()
}

// familyMissing reports whether the server answers 404 for a family's
// list route: that family is not on this server yet.
func familyMissing(t testing.TB, srv *testServer, token, path string) bool {
	t.Helper()
	return srv.get(t, path, token).Status == http.StatusNotFound
}

func TestBrowserCorpusUpload(t *testing.T) {
	srv := startServer(t, "", nil)
	email, password, token := browserUser(t, srv)
	if familyMissing(t, srv, token, "/api/v1/corpora") {
		t.Skip("the server answers 404 for /api/v1/corpora: the knowledge family is not on this server yet")
	}
	b := openBrowser(t, srv)
	b.signIn(email, password)
	b.run("open files", chromedp.Navigate(srv.URL+"/console/#/files"))
	b.waitFor("the corpus form", `[...document.querySelectorAll('#corpora button')].some(x => x.textContent === 'Create corpus')`)
	b.run("create a corpus",
		chromedp.SendKeys(chromedp.CSS(`#corpora input[name=name]`), "Handbook"),
		chromedp.Click(chromedp.JSPath(`[...document.querySelectorAll('#corpora button')].find(x => x.textContent === 'Create corpus')`)))
	b.waitFor("the corpus page", `location.hash.startsWith('#/files/corp_') && document.getElementById('corpus-files') !== null`)

	doc := filepath.Join(t.TempDir(), "falcons.md")
	require.NoError(t, os.WriteFile(doc, []byte("# Falcons\n\nThe peregrine falcon is the fastest bird; it dives at over 300 km/h.\n"), 0o644))
	b.run("upload into the corpus",
		chromedp.SetUploadFiles(chromedp.CSS(`main form input[type=file]`), []string{doc}),
		chromedp.Click(chromedp.JSPath(`[...document.querySelectorAll('main button')].find(x => x.textContent === 'Upload and add')`)))
	b.waitFor("ingestion to complete", `document.querySelector('#corpus-files td[data-status=completed]') !== null`)
	b.screenshot("corpus-ingested")
	b.run("search", chromedp.SendKeys(chromedp.CSS(`main input[name=query]`), "fastest bird"),
		chromedp.Click(chromedp.JSPath(`[...document.querySelectorAll('main button')].find(x => x.textContent === 'Search')`)))
	b.waitFor("a hit", `document.querySelector('#search-results .hit') !== null`)
	require.Contains(t, evalJS[string](b, `document.querySelector('#search-results .hit').textContent`), "falcons.md")
	b.screenshot("corpus-search")
	b.requireNoProblems()
}

func TestBrowserApprovePlan(t *testing.T) {
	srv := startServer(t, "", nil)
	email, password, token := browserUser(t, srv)
	if familyMissing(t, srv, token, "/api/v1/plans") {
		t.Skip("the server answers 404 for /api/v1/plans: the plans family is not on this server yet")
	}
	b := openBrowser(t, srv)
	b.signIn(email, password)
	b.startChat()
	b.run("choose plan mode", chromedp.SetValue(chromedp.ID("mode"), "plan"))
	b.send("@say 1. List the files\n@say 2. Summarise them")
	b.waitFor("the proposed plan", `document.querySelector('.ev.plan button.approve') !== null && document.querySelector('.ev.done') !== null`)
	b.waitFor("the plan's text", `document.querySelector('.ev.plan .plan-content').textContent.includes('Summarise')`)
	b.screenshot("plan-proposed")
	b.run("approve the plan", chromedp.Click(chromedp.CSS(`.ev.plan button.approve`)))
	b.waitFor("the approval", `document.querySelector('.ev.plan .badge').textContent === 'Approved'`)
	b.waitFor("the executing turn's end", `document.querySelectorAll('.ev.done').length >= 2`)
	b.screenshot("plan-approved")
	resp := srv.get(t, "/api/v1/plans", token)
	require.Equal(t, http.StatusOK, resp.Status)
	require.NotContains(t, string(resp.Body), `"status":"proposed"`)
	b.requireNoProblems()
}

// BenchmarkConsoleFirstPaint loads the console from a loopback server in a
// headless browser with its cache disabled and reports the browser's own
// timings: first contentful paint and DOMContentLoaded, in milliseconds.
func BenchmarkConsoleFirstPaint(b *testing.B) {
	srv := startServer(b, "", nil)
	tab := openBrowser(b, srv)
	_, err := chromedp.Call(tab.ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true})
	require.NoError(b, err)
	_, err = chromedp.Call(tab.ctx, network.Enable, network.EnableParams{})
	require.NoError(b, err)
	var fcp, dcl []float64
	for b.Loop() {
		tab.run("load the console", chromedp.Navigate(srv.URL+"/console/"))
		tab.waitFor("the first paint", `performance.getEntriesByName('first-contentful-paint').length > 0`)
		fcp = append(fcp, evalJS[float64](tab, `performance.getEntriesByName('first-contentful-paint')[0].startTime`))
		dcl = append(dcl, evalJS[float64](tab, `performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd`))
	}
	b.ReportMetric(median(fcp), "fcp-ms")
	b.ReportMetric(median(dcl), "dcl-ms")
	b.ReportMetric(0, "ns/op")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// TestBrowserPlanTitleOnce checks that a plan's card shows its title once:
// a first line of the content that only repeats the title (here a
// Markdown heading the title was made of) is left out, in the chat's card
// and on the plans page, while a first line that is not the title stays.
func TestBrowserPlanTitleOnce(t *testing.T) {
	srv := startServer(t, "", nil)
	email, password, token := browserUser(t, srv)
	if familyMissing(t, srv, token, "/api/v1/plans") {
		t.Skip("the server answers 404 for /api/v1/plans: the plans family is not on this server yet")
	}
	b := openBrowser(t, srv)
	b.signIn(email, password)
	const card = `(document.querySelector('.ev.plan .plan-content')?.textContent ?? '')`

	b.startChat()
	b.run("choose plan mode", chromedp.SetValue(chromedp.ID("mode"), "plan"))
	b.send("@say # Tidy the notes\n@say 1. List the files\n@say 2. Summarise them")
	b.waitFor("the plan's text", card+`.includes('Summarise')`)
	text := evalJS[string](b, card)
	require.Equal(t, "Tidy the notes\n\n1. List the files\n2. Summarise them", text)
	b.screenshot("plan-title-once")

	b.startChat()
	b.run("choose plan mode", chromedp.SetValue(chromedp.ID("mode"), "plan"))
	b.send(`@tool submit_plan {"title":"Clean up","plan":"1. Tidy the notes\n2. Summarise them"}`)
	b.waitFor("the submitted plan's text", card+`.includes('Summarise')`)
	require.Equal(t, "Clean up\n\n1. Tidy the notes\n2. Summarise them", evalJS[string](b, card), "a first line that is not the title stays")

	b.run("open the plans page", chromedp.Navigate(srv.URL+"/console/#/plans"))
	b.waitFor("both plans", `document.querySelectorAll('.card.plan').length === 2`)
	bodies := evalJS[map[string]string](b, `Object.fromEntries([...document.querySelectorAll('.card.plan')].map(c => [c.querySelector('strong').textContent, c.querySelector('pre').textContent]))`)
	require.Equal(t, map[string]string{
		"Tidy the notes": "1. List the files\n2. Summarise them",
		"Clean up":       "1. Tidy the notes\n2. Summarise them",
	}, bodies)
	b.requireNoProblems()
}
