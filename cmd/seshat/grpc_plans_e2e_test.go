package main

import (
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	seshatv1 "github.com/seshat-host/seshat/proto/seshat/v1"
)

// TestGRPCPlans reviews a plan over gRPC with REST's rules: a plan-mode
// turn proposes it, an edit is a new version, another user finds none of
// it, and approving with execute starts the turn that carries it out.
func TestGRPCPlans(t *testing.T) {
	g := startGRPCServer(t, nil)
	ctx := t.Context()
	aliceAcct := g.register(t, "alice@example.com", "password123")
	alice, bob := aliceAcct.Token, g.register(t, "bob@example.com", "password123").Token
	const svc = "/seshat.v1.PlanService/"

	var sess seshatv1.CreateSessionResponse
	require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.SessionService/CreateSession", &seshatv1.CreateSessionRequest{PermissionMode: "plan"}, &sess))
	sid := sess.GetSession().GetId()
	in, err := json.Marshal(map[string]string{"title": "Back up", "plan": "1. list the files\n2. write a note"})
	require.NoError(t, err)
	cs := g.openStream(t, ctx, alice, "/seshat.v1.QueryService/QueryStream", &seshatv1.QueryStreamRequest{SessionId: sid, Prompt: "@tool submit_plan " + string(in)})
	var planID string
	for {
		ev, err := recvEvent(cs)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if rt := ev.GetRuntime(); rt.GetType() == "plan_proposed" {
			planID = rt.GetPlanId()
			require.EqualValues(t, 1, rt.GetVersion())
		}
	}
	require.NotEmpty(t, planID, "the turn proposed a plan")

	var got seshatv1.GetPlanResponse
	require.NoError(t, g.invoke(ctx, alice, svc+"GetPlan", &seshatv1.GetPlanRequest{Id: planID}, &got))
	p := got.GetPlan()
	require.Equal(t, "proposed", p.GetStatus())
	require.Equal(t, "Back up", p.GetTitle())
	require.Equal(t, sid, p.GetSessionId())
	require.Equal(t, aliceAcct.User.DefaultWorkspaceID, p.GetWorkspaceId())
	require.NotEmpty(t, p.GetTurnId())
	require.Equal(t, aliceAcct.User.ID, p.GetCreatedBy())

	for _, call := range []func() error{
		func() error { return g.invoke(ctx, bob, svc+"GetPlan", &seshatv1.GetPlanRequest{Id: planID}, &got) },
		func() error {
			return g.invoke(ctx, bob, svc+"UpdatePlan", &seshatv1.UpdatePlanRequest{Id: planID, Content: "mine"}, &seshatv1.UpdatePlanResponse{})
		},
		func() error {
			return g.invoke(ctx, bob, svc+"ApprovePlan", &seshatv1.ApprovePlanRequest{Id: planID}, &seshatv1.ApprovePlanResponse{})
		},
	} {
		code, info := errorInfo(t, call())
		require.Equal(t, codes.NotFound, code)
		require.Equal(t, "not_found", info.GetReason())
	}
	var list seshatv1.ListPlansResponse
	require.NoError(t, g.invoke(ctx, bob, svc+"ListPlans", &seshatv1.ListPlansRequest{}, &list))
	require.Empty(t, list.GetData())
	require.NoError(t, g.invoke(ctx, alice, svc+"ListPlans", &seshatv1.ListPlansRequest{SessionId: sid}, &list))
	require.Len(t, list.GetData(), 1)

	code, _ := errorInfo(t, g.invoke(ctx, alice, svc+"UpdatePlan", &seshatv1.UpdatePlanRequest{Id: planID, Content: " "}, &seshatv1.UpdatePlanResponse{}))
	require.Equal(t, codes.InvalidArgument, code)
	var edited seshatv1.UpdatePlanResponse
	require.NoError(t, g.invoke(ctx, alice, svc+"UpdatePlan", &seshatv1.UpdatePlanRequest{Id: planID, Content: "1. list the files\n2. check"}, &edited))
	require.EqualValues(t, 2, edited.GetPlan().GetVersion())
	require.Empty(t, edited.GetPlan().GetTurnId(), "a person's edit has no turn")
	var versions seshatv1.ListPlanVersionsResponse
	require.NoError(t, g.invoke(ctx, alice, svc+"ListPlanVersions", &seshatv1.ListPlanVersionsRequest{Id: planID}, &versions))
	require.Len(t, versions.GetData(), 2)
	require.Equal(t, "superseded", versions.GetData()[0].GetStatus())

	var approved seshatv1.ApprovePlanResponse
	require.NoError(t, g.invoke(ctx, alice, svc+"ApprovePlan", &seshatv1.ApprovePlanRequest{Id: planID, Execute: new(true)}, &approved))
	require.Equal(t, sid, approved.GetSessionId())
	require.NotEmpty(t, approved.GetTurnId(), "execute started a turn")
	require.NotEmpty(t, approved.GetPlan().GetDecidedBy())
	// Follow the execution turn to its end.
	at := g.openStream(t, ctx, alice, "/seshat.v1.QueryService/Attach", &seshatv1.AttachRequest{Id: sid})
	var doneEv *seshatv1.Event
	for {
		ev, err := recvEvent(at)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		doneEv = ev
	}
	require.Equal(t, "done", doneEv.GetEvent(), "the execution turn ran to its end")
	code, _ = errorInfo(t, g.invoke(ctx, alice, svc+"RejectPlan", &seshatv1.RejectPlanRequest{Id: planID}, &seshatv1.RejectPlanResponse{}))
	require.Equal(t, codes.FailedPrecondition, code, "a decided plan cannot be rejected")
}
