package grpcapi

import (
	"context"
	"errors"
	"net"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/http/apierr"
	"github.com/seshat-host/seshat/persist"
)

// AuditLog is where the calls that change something are recorded: the
// REST server's hash-chained audit log. cmd/seshat adapts *persist.Store
// (AppendAudit) and *tenancy.Access (Place) to it.
type AuditLog interface {
	// AppendAudit queues an entry and returns at once; done gets the
	// outcome of its write.
	AppendAudit(e persist.AuditEntry, done func(error))
	// Place returns the workspace and organization a resource id belongs
	// to, as far as the store knows them.
	Place(id string) (workspaceID, orgID string)
}

// The audit hook records every call of the API that is not a read, as
// REST's records every request that is not a GET: the caller, the
// procedure as the action ("/seshat.v1.SessionService/DeleteSession"),
// the resource (the request's id, or what the call created or used, read
// from the response), the workspace and organization it belongs to
// (looked up before the handler runs, since a delete removes them), the
// request's other ids, the outcome with the gRPC code and, on failure,
// REST's error code. Handlers add what only they know through noteAudit.
// Request bodies are never recorded: only ids and the fields a handler
// picks. A call the gate refused (no or a bad credential, a spent quota)
// is not recorded, as REST does not record a 401.

// readPrefixes name the procedures that only read: like REST's GET routes
// and its searches, they are not recorded.
var readPrefixes = []string{"Get", "List", "Search", "Watch", "Attach"}

// unaudited are the procedures besides the reads that REST does not
// record either (a connection test changes nothing).
var unaudited = map[string]bool{
	"/seshat.v1.McpService/TestMcpServer": true,
}

// audited reports whether the calls of procedure are recorded.
func audited(procedure string) bool {
	if unaudited[procedure] {
		return false
	}
	i := strings.LastIndexByte(procedure, '/')
	method := procedure[i+1:]
	for _, p := range readPrefixes {
		if strings.HasPrefix(method, p) {
			return false
		}
	}
	return true
}

// auditKey is the context key of a call's *auditNote.
type auditKey struct{}

// auditNote is what a call's entry records beyond what the hook reads of
// its messages.
type auditNote struct {
	resourceID  string
	workspaceID string
	details     map[string]string
}

// noteAudit returns the call's audit note; its methods do nothing on a
// call that is not recorded.
func noteAudit(ctx context.Context) *auditNote {
	n, _ := ctx.Value(auditKey{}).(*auditNote)
	return n
}

// resource names the entry's resource and the workspace it belongs to,
// when the response does not say them.
func (n *auditNote) resource(id, workspaceID string) {
	if n != nil && id != "" {
		n.resourceID, n.workspaceID = id, workspaceID
	}
}

// set adds a detail. Never pass a secret.
func (n *auditNote) set(k, v string) {
	if n != nil && v != "" {
		n.details[k] = v
	}
}

// auditInterceptor records the calls that change something. It runs
// inside errorInterceptor, so that it sees the handler's own error.
type auditInterceptor struct{ s *Server }

// call is one recorded call in progress.
type call struct {
	s         *Server
	procedure string
	peer      string
	note      *auditNote
	// The resource of the request and where it belonged before the call.
	resourceID, workspaceID, orgID string
}

// begin starts the record of a call of procedure from peer, if such calls
// are recorded: the note it puts in ctx gathers what the handler adds.
func (i auditInterceptor) begin(ctx context.Context, procedure, peer string) (context.Context, *call) {
	if i.s.deps.Audit == nil || !audited(procedure) {
		return ctx, nil
	}
	n := &auditNote{details: map[string]string{}}
	return context.WithValue(ctx, auditKey{}, n), &call{s: i.s, procedure: procedure, peer: peer, note: n}
}

// request reads the request's resource (its id) and other ids.
func (c *call) request(msg any) {
	m, ok := msg.(proto.Message)
	if !ok || c.resourceID != "" {
		return
	}
	r := m.ProtoReflect()
	fields := r.Descriptor().Fields()
	for j := range fields.Len() {
		f := fields.Get(j)
		if f.Kind() != protoreflect.StringKind || f.IsList() || f.IsMap() {
			continue
		}
		name, v := string(f.Name()), r.Get(f).String()
		switch {
		case !idLike(v):
			// Not an id (or empty): a message field may be megabytes,
			// where REST's path parameter is bounded by its URL.
		case name == "id":
			c.resourceID = v
		case name != "workspace_id" && strings.HasSuffix(name, "_id"):
			c.note.set(name, v)
		}
	}
	if c.resourceID != "" {
		c.workspaceID, c.orgID = c.s.deps.Audit.Place(c.resourceID)
	}
}

// finish records the call: res is its last response message (nil if
// none), err what the handler returned.
func (c *call) finish(ctx context.Context, res any, err error) {
	pr, perr := caller(ctx)
	if perr != nil {
		return
	}
	e := persist.AuditEntry{
		ActorID: pr.UserID, ActorType: persist.ActorUser, Action: c.procedure,
		ResourceID: c.resourceID, WorkspaceID: c.workspaceID, OrganizationID: c.orgID,
		RequestID: requestIDFrom(ctx), IP: c.peer, Outcome: persist.OutcomeSuccess, Details: c.note.details,
	}
	if pr.KeyID != "" {
		e.ActorType = persist.ActorAPIKey
		e.Details["key_id"] = pr.KeyID
	}
	if e.ResourceID == "" {
		if c.note.resourceID != "" {
			e.ResourceID, e.WorkspaceID = c.note.resourceID, c.note.workspaceID
		} else if m, ok := res.(proto.Message); ok && err == nil {
			e.ResourceID, e.WorkspaceID = resourceOf(m.ProtoReflect(), e.Details)
		}
		// What the call created or used: where it is.
		if e.ResourceID != "" {
			ws, org := c.s.deps.Audit.Place(e.ResourceID)
			if e.WorkspaceID == "" {
				e.WorkspaceID = ws
			}
			e.OrganizationID = org
		}
	}
	if e.OrganizationID == "" && e.WorkspaceID != "" {
		_, e.OrganizationID = c.s.deps.Audit.Place(e.WorkspaceID)
	}
	e.ResourceType = agent.ResourceType(e.ResourceID)
	code := "ok"
	if err != nil {
		e.Outcome = persist.OutcomeFailure
		var ce *connect.Error
		if errors.As(err, &ce) {
			code = ce.Code().String()
		} else {
			cl := apierr.Classify(err)
			code = codeOf(cl.Status).String()
			if cl.Code != "" {
				e.Details["error"] = cl.Code
			}
		}
	}
	e.Details["code"] = code
	log := c.s.log
	c.s.deps.Audit.AppendAudit(e, func(err error) {
		if err != nil {
			log.Error("audit entry not recorded", "action", e.Action, logKeyRequestID, e.RequestID, "err", err)
		}
	})
}

// resourceOf reads what a response names: its own id, or the id of the
// resource it carries (a created session, agent, plan, …), or the session
// a turn ran in; and the turn it started, into details.
func resourceOf(r protoreflect.Message, details map[string]string) (id, workspaceID string) {
	str := func(r protoreflect.Message, name protoreflect.Name) string {
		f := r.Descriptor().Fields().ByName(name)
		if f == nil || f.Kind() != protoreflect.StringKind || f.IsList() {
			return ""
		}
		return r.Get(f).String()
	}
	if t := str(r, "turn_id"); t != "" {
		details["turn_id"] = t
	}
	if id = str(r, "id"); id != "" {
		return id, str(r, "workspace_id")
	}
	fields := r.Descriptor().Fields()
	for j := range fields.Len() {
		f := fields.Get(j)
		if f.Kind() != protoreflect.MessageKind || f.IsList() || f.IsMap() || !r.Has(f) {
			continue
		}
		inner := r.Get(f).Message()
		if id = str(inner, "id"); id != "" {
			return id, str(inner, "workspace_id")
		}
	}
	return str(r, "session_id"), ""
}

// maxAuditID caps the ids an entry takes from a request.
const maxAuditID = 128

// idLike reports whether v may be an id: 1 to maxAuditID characters of
// those ids are made of (agent.ValidID's).
func idLike(v string) bool {
	if v == "" || len(v) > maxAuditID {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// peerIP is a peer address without its port, as REST records it.
func peerIP(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

func (i auditInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		ctx, c := i.begin(ctx, req.Spec().Procedure, peerIP(req.Peer().Addr))
		if c == nil {
			return next(ctx, req)
		}
		c.request(req.Any())
		res, err := next(ctx, req)
		var msg any
		if res != nil {
			msg = res.Any()
		}
		c.finish(ctx, msg, err)
		return res, err
	}
}

func (i auditInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i auditInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, c := i.begin(ctx, conn.Spec().Procedure, peerIP(conn.Peer().Addr))
		if c == nil {
			return next(ctx, conn)
		}
		w := &auditedConn{StreamingHandlerConn: conn, c: c}
		err := next(ctx, w)
		if sid := conn.ResponseHeader().Get(headerSessionID); sid != "" {
			// A streamed turn names its session in the response metadata.
			c.note.resource(sid, "")
		}
		c.finish(ctx, w.last, err)
		return err
	}
}

// auditedConn reads a stream's first request message and keeps its last
// response message for the record.
type auditedConn struct {
	connect.StreamingHandlerConn
	c    *call
	seen bool
	last any
}

func (a *auditedConn) Receive(msg any) error {
	err := a.StreamingHandlerConn.Receive(msg)
	if err == nil && !a.seen {
		a.seen = true
		a.c.request(msg)
	}
	return err
}

func (a *auditedConn) Send(msg any) error {
	a.last = msg
	return a.StreamingHandlerConn.Send(msg)
}

var _ connect.Interceptor = auditInterceptor{}
