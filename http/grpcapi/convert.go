package grpcapi

import (
	"encoding/json"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/seshat-host/seshat/actors/agent"
	"github.com/seshat-host/seshat/actors/host"
	"github.com/seshat-host/seshat/persist"
	seshatv1 "github.com/seshat-host/seshat/proto/seshat/v1"
)

// fromJSON fills m from the REST JSON shape of the same value. The proto
// messages carry REST's field names, so this is the one translation of
// the shapes the runtime already encodes for REST (the query response,
// runtime events), and it picks up fields added there without a change
// here. Fields the proto does not know are skipped.
var fromJSON = protojson.UnmarshalOptions{DiscardUnknown: true}

// timestamp is t as a Timestamp, nil for the zero time (REST's null).
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// structOf is a JSON object as a Struct; nil for no JSON or JSON that is
// not an object.
func structOf(raw json.RawMessage) *structpb.Struct {
	if len(raw) == 0 {
		return nil
	}
	var s structpb.Struct
	if fromJSON.Unmarshal(raw, &s) != nil {
		return nil
	}
	return &s
}

// optional is nil for "", so that an unset field stays unset.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func sessionOf(r persist.Session) *seshatv1.Session {
	out := &seshatv1.Session{
		Id: r.ID, WorkspaceId: r.WorkspaceID, Title: r.Title, Model: r.Model, SystemPrompt: r.SystemPrompt,
		PermissionMode: r.PermissionMode, Status: r.Status,
		CreatedAt: timestamp(r.CreatedAt), UpdatedAt: timestamp(r.UpdatedAt),
		MessageCount: int32(r.MessageCount),
		Usage:        &seshatv1.Usage{InputTokens: r.InputTokens, OutputTokens: r.OutputTokens},
		AgentId:      r.AgentID, AgentVersion: int32(r.AgentVersion), CorpusIds: r.CorpusIDs,
	}
	if r.Memory != nil {
		inject := r.Memory.Inject
		out.Memory = &seshatv1.MemorySettings{Extract: r.Memory.Extract, Inject: &inject}
	}
	return out
}

func sessionViewOf(v host.SessionView) *seshatv1.Session {
	out := sessionOf(v.Session)
	out.Messages = make([]*seshatv1.Message, len(v.Messages))
	for i, m := range v.Messages {
		out.Messages[i] = messageOf(m)
	}
	out.Pending = make([]*seshatv1.Pending, len(v.Pending))
	for i, p := range v.Pending {
		out.Pending[i] = &seshatv1.Pending{
			Type: p.Type, RequestId: p.RequestID, ToolUseId: p.ToolUseID, ToolName: p.ToolName,
			Input: structOf(p.Input), Question: p.Question,
			CreatedAt: timestamp(p.CreatedAt), ExpiresAt: timestamp(p.ExpiresAt),
		}
	}
	return out
}

func messageOf(m agent.Message) *seshatv1.Message {
	out := &seshatv1.Message{Role: string(m.Role), Content: make([]*seshatv1.Block, len(m.Content)), CreatedAt: timestamp(m.CreatedAt)}
	for i, b := range m.Content {
		pb := &seshatv1.Block{Type: b.Type}
		switch b.Type {
		case agent.BlockThinking:
			pb.Thinking = b.Text
		case agent.BlockToolUse:
			pb.Id, pb.Name, pb.Input = b.ID, b.Name, structOf(b.Input)
			if pb.Input == nil {
				pb.Input = &structpb.Struct{}
			}
		case agent.BlockToolResult:
			pb.ToolUseId, pb.Content, pb.IsError = b.ToolUseID, proto.String(b.Content), proto.Bool(b.IsError)
		default:
			pb.Text = b.Text
		}
		out.Content[i] = pb
	}
	return out
}

// queryResponseOf translates the query response through its REST JSON,
// so that the unary answer and the done event are the same message.
func queryResponseOf(r *agent.QueryResult) (*seshatv1.QueryResponse, error) {
	r.Normalize()
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var out seshatv1.QueryResponse
	if err := fromJSON.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// eventOf is a turn's event as the API sends it: SSE's id, event name and
// data, and the data typed. A payload the proto cannot read (a tool input
// that is not an object) is left out; data still has it.
func eventOf(ev *agent.Event) *seshatv1.Event {
	out := &seshatv1.Event{Id: ev.ID, Event: ev.Kind.SSEName(), Data: string(ev.Data)}
	switch ev.Kind {
	case agent.KindDelta:
		typ := "text_delta"
		if ev.Thinking {
			typ = "thinking_delta"
		}
		out.Payload = &seshatv1.Event_Delta{Delta: &seshatv1.Delta{Type: typ, Text: ev.Delta}}
	case agent.KindRuntime:
		var r seshatv1.RuntimeEvent
		if fromJSON.Unmarshal(ev.Data, &r) == nil {
			out.Payload = &seshatv1.Event_Runtime{Runtime: &r}
		}
	case agent.KindDone:
		var r seshatv1.QueryResponse
		if fromJSON.Unmarshal(ev.Data, &r) == nil {
			out.Payload = &seshatv1.Event_Done{Done: &r}
		}
	case agent.KindError:
		out.Payload = &seshatv1.Event_Error{Error: &seshatv1.StreamError{Error: ev.Error}}
	}
	return out
}

func fileOf(f persist.File) *seshatv1.File {
	return &seshatv1.File{
		Id: f.ID, WorkspaceId: f.WorkspaceID, Path: f.Path, Size: f.Size, ContentType: f.ContentType,
		Sha256: f.SHA256, CreatedAt: timestamp(f.CreatedAt), UpdatedAt: timestamp(f.UpdatedAt),
	}
}

func jobOf(j persist.Job) *seshatv1.Job {
	return &seshatv1.Job{
		Id: j.ID, Name: j.Name, Schedule: j.Schedule, Timezone: j.Timezone, Prompt: j.Prompt,
		WorkspaceId: j.WorkspaceID, SessionId: optional(j.SessionID), Model: optional(j.Model),
		PermissionMode: j.PermissionMode, Enabled: j.Enabled,
		NextRunAt: timestamp(j.NextRunAt), LastRunAt: timestamp(j.LastRunAt), LastStatus: optional(j.LastStatus),
		CreatedAt: timestamp(j.CreatedAt), UpdatedAt: timestamp(j.UpdatedAt),
	}
}

func jobRunOf(r persist.JobRun) *seshatv1.JobRun {
	return &seshatv1.JobRun{
		Id: r.ID, JobId: r.JobID, SessionId: optional(r.SessionID), TurnId: optional(r.TurnID),
		Status: r.Status, StopReason: optional(r.StopReason), Error: optional(r.Error),
		StartedAt: timestamp(r.StartedAt), FinishedAt: timestamp(r.FinishedAt),
	}
}
