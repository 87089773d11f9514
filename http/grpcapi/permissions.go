package grpcapi

import (
	"context"
	"strconv"

	"connectrpc.com/connect"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/http/apierr"
	seshatv1 "github.com/seshat-host/seshat/proto/seshat/v1"
	"github.com/seshat-host/seshat/proto/seshat/v1/seshatv1connect"
)

// Permissions is what PermissionService needs of the runtime. *host.Host
// implements it.
type Permissions interface {
	DecidePermission(ctx context.Context, userID, id, requestID string, allow, remember bool, reason string) error
	AnswerPrompt(ctx context.Context, userID, id, requestID, answer string) error
}

// permissionService translates PermissionService to Permissions.
type permissionService struct {
	seshatv1connect.UnimplementedPermissionServiceHandler
	rt Permissions
}

func (s *Server) permissionService() seshatv1connect.PermissionServiceHandler {
	if s.deps.Permissions == nil {
		return seshatv1connect.UnimplementedPermissionServiceHandler{}
	}
	return permissionService{rt: s.deps.Permissions}
}

func (h permissionService) DecidePermission(ctx context.Context, req *connect.Request[seshatv1.DecidePermissionRequest]) (*connect.Response[seshatv1.DecidePermissionResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if m.Decision != agent.DecisionAllow && m.Decision != agent.DecisionDeny {
		return nil, apierr.Invalid(`decision must be "allow" or "deny"`)
	}
	if err := h.rt.DecidePermission(ctx, p.UserID, m.Id, m.RequestId, m.Decision == agent.DecisionAllow, m.Remember, m.Reason); err != nil {
		return nil, err
	}
	noteAudit(ctx).set("decision", m.Decision)
	noteAudit(ctx).set("remember", strconv.FormatBool(m.Remember))
	return connect.NewResponse(&seshatv1.DecidePermissionResponse{RequestId: m.RequestId, Decision: m.Decision}), nil
}

func (h permissionService) AnswerPrompt(ctx context.Context, req *connect.Request[seshatv1.AnswerPromptRequest]) (*connect.Response[seshatv1.AnswerPromptResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if err := h.rt.AnswerPrompt(ctx, p.UserID, m.Id, m.RequestId, m.Answer); err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.AnswerPromptResponse{RequestId: m.RequestId, Answered: true}), nil
}

var _ seshatv1connect.PermissionServiceHandler = permissionService{}
