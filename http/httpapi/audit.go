package httpapi

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/http/apitype"
	"github.com/seshat-host/seshat/http/auth"
	"github.com/seshat-host/seshat/persist"
)

// Audit is what the audit log handlers need of the runtime. *tenancy.Host
// implements it.
type Audit interface {
	ListAudit(ctx context.Context, userID, serverRole string, q persist.AuditQuery) ([]persist.AuditEntry, string, error)
	VerifyAudit(ctx context.Context) (persist.AuditVerification, error)
}

// GET /api/v1/audit/logs?actor_id=&action=&resource_type=&resource_id=
// &workspace_id=&organization_id=&outcome=&from=&to=&limit=&cursor=
func (s *Server) listAudit(ctx *fasthttp.RequestCtx) error {
	p := principal(ctx)
	args := ctx.QueryArgs()
	arg := func(name string) string { return string(args.Peek(name)) }
	q := persist.AuditQuery{
		ActorID: arg("actor_id"), Action: arg("action"), ResourceType: arg("resource_type"),
		ResourceID: arg("resource_id"), WorkspaceID: arg("workspace_id"), OrganizationID: arg("organization_id"),
		Outcome: arg("outcome"), Cursor: arg("cursor"),
	}
	var err error
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if v := arg(t.name); v != "" {
			if *t.dst, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return invalid(t.name + " must be an RFC 3339 time such as 2025-01-02T15:04:05Z")
			}
		}
	}
	if l := arg("limit"); l != "" {
		if q.Limit, err = strconv.Atoi(l); err != nil || q.Limit < 1 || q.Limit > 500 {
			return invalid("limit must be a number from 1 to 500")
		}
	}
	entries, next, err := s.deps.Tenancy.ListAudit(s.opCtx, p.UserID, p.Role, q)
	if err != nil {
		return err
	}
	out := apitype.AuditList{Data: make([]apitype.AuditEntry, len(entries)), NextCursor: next}
	for i, e := range entries {
		out.Data[i] = apitype.AuditEntry(e)
	}
	return writeJSON(ctx, fasthttp.StatusOK, out)
}

// GET /api/v1/audit/verify (server admins)
func (s *Server) verifyAudit(ctx *fasthttp.RequestCtx) error {
	v, err := s.deps.Tenancy.VerifyAudit(s.opCtx)
	if err != nil {
		return err
	}
	out := apitype.AuditVerification{OK: v.OK, Entries: v.Entries, FirstSeq: v.FirstSeq, LastSeq: v.LastSeq, AnchorSeq: v.AnchorSeq}
	if v.Broken != nil {
		out.Broken = &apitype.AuditBreak{Seq: v.Broken.Seq, ID: v.Broken.ID, Reason: v.Broken.Reason}
	}
	return writeJSON(ctx, fasthttp.StatusOK, out)
}

// The audit hook. adapt records every request that is not a GET (and not
// marked noAudit) as one entry: the caller, "METHOD /route/pattern" as the
// action, the resource named by the path's {id} (or the first parameter),
// the workspace and organization it belongs to (looked up before the
// handler runs, since a DELETE removes them), the other path parameters,
// the status and the outcome. Handlers add what only they know through
// noteAudit: the id of what they created, the workspace it went to, and
// details such as a decision or a role. Nothing secret is ever noted:
// request bodies are not recorded, only fields a handler picks.
//
// A request refused for its credential is not recorded (there is no one
// to name and nothing happened), except on public routes such as login,
// whose every attempt is.

// auditor records the requests of one route.
type auditor struct {
	s      *Server
	on     bool
	public bool
	action string
	params []string
}

// auditKey is the user-value key of a request's *auditNote.
type auditKey struct{}

// auditNote is what a request's entry records beyond the route's own.
type auditNote struct {
	actorID        string
	resourceID     string
	workspaceID    string
	organizationID string
	details        map[string]string
}

// auditorFor returns the audit hook of a route.
func (s *Server) auditorFor(rt route) auditor {
	on := !rt.noAudit && rt.method != fasthttp.MethodGet && rt.method != fasthttp.MethodHead && rt.method != fasthttp.MethodOptions
	return auditor{s: s, on: on, public: rt.access == public, action: rt.method + " " + rt.path, params: pathParamNames(rt.path)}
}

// pathParamNames returns the {name}s of a route pattern, in order.
func pathParamNames(pattern string) []string {
	var out []string
	for _, seg := range strings.Split(pattern, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, seg[1:len(seg)-1])
		}
	}
	return out
}

// begin starts the request's note: the resource of its path and where it
// belongs, resolved now, before a DELETE removes it.
func (a auditor) begin(ctx *fasthttp.RequestCtx) *auditNote {
	if !a.on {
		return nil
	}
	n := &auditNote{details: map[string]string{}}
	ctx.SetUserValue(auditKey{}, n)
	main := ""
	for _, name := range a.params {
		if name == "id" || main == "" {
			main = name
		}
	}
	for _, name := range a.params {
		v := pathParam(ctx, name)
		if name == main {
			n.resourceID = v
			n.workspaceID, n.organizationID = a.s.access.Place(v)
		} else if v != "" {
			n.details[name] = v
		}
	}
	return n
}

// end records the request.
func (a auditor) end(ctx *fasthttp.RequestCtx, n *auditNote, err error) {
	if n == nil {
		return
	}
	p, authed := auth.PrincipalFrom(ctx)
	if !authed && !a.public {
		return
	}
	status := ctx.Response.StatusCode()
	e := persist.AuditEntry{
		ActorID:        n.actorID,
		ActorType:      persist.ActorAnonymous,
		Action:         a.action,
		ResourceID:     n.resourceID,
		ResourceType:   agent.ResourceType(n.resourceID),
		WorkspaceID:    n.workspaceID,
		OrganizationID: n.organizationID,
		RequestID:      requestID(ctx),
		IP:             ctx.RemoteIP().String(),
		Outcome:        persist.OutcomeSuccess,
		Details:        n.details,
	}
	if authed {
		e.ActorID, e.ActorType = p.UserID, persist.ActorUser
		if p.KeyID != "" {
			e.ActorType = persist.ActorAPIKey
			e.Details["key_id"] = p.KeyID
		}
	} else if e.ActorID != "" {
		e.ActorType = persist.ActorUser
	}
	switch {
	case e.WorkspaceID == "" && e.OrganizationID == "" && e.ResourceID != "":
		// A resource the handler created: where it went.
		e.WorkspaceID, e.OrganizationID = a.s.access.Place(e.ResourceID)
	case e.OrganizationID == "" && e.WorkspaceID != "":
		_, e.OrganizationID = a.s.access.Place(e.WorkspaceID)
	}
	e.Details["status"] = statusString(status)
	if err != nil || status >= 400 {
		e.Outcome = persist.OutcomeFailure
		if err != nil {
			if _, code, _, _ := classify(err); code != "" {
				e.Details["error"] = code
			}
		}
	}
	log := a.s.log
	a.s.deps.Store.AppendAudit(e, func(err error) {
		if err != nil {
			log.Error("audit entry not recorded", "action", e.Action, logKeyRequestID, e.RequestID, "err", err)
		}
	})
}

// statusStrings are the decimal forms of the HTTP status codes, made
// once: every audited request records its status.
var statusStrings = func() (t [600]string) {
	for i := 100; i < len(t); i++ {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

// statusString is strconv.Itoa(code), without allocating for a status
// code.
func statusString(code int) string {
	if code >= 100 && code < len(statusStrings) {
		return statusStrings[code]
	}
	return strconv.Itoa(code)
}

// noteAudit returns the request's audit note; its methods do nothing on a
// request that is not audited.
func noteAudit(ctx *fasthttp.RequestCtx) *auditNote {
	n, _ := ctx.UserValue(auditKey{}).(*auditNote)
	return n
}

// resource names the entry's resource (what a request created) and the
// workspace it belongs to ("" if none).
func (n *auditNote) resource(id, workspaceID string) {
	if n == nil {
		return
	}
	n.resourceID = id
	if workspaceID != "" {
		n.workspaceID = workspaceID
	}
}

// org names the organization of the entry.
func (n *auditNote) org(id string) {
	if n != nil && id != "" {
		n.organizationID = id
	}
}

// actor names the user of a request that authenticated no one (a login,
// a registration).
func (n *auditNote) actor(id string) {
	if n != nil {
		n.actorID = id
	}
}

// set adds a detail. Never pass a secret.
func (n *auditNote) set(k, v string) {
	if n != nil && v != "" {
		n.details[k] = v
	}
}
