package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seshat-host/seshat/actors/skills/skillstest"
	seshatv1 "github.com/seshat-host/seshat/proto/seshat/v1"
)

// grpcUpload stores a file through FileService's client stream.
func (g *grpcServer) grpcUpload(t testing.TB, ctx context.Context, tok, path string, data []byte) *seshatv1.File {
	t.Helper()
	cs, err := g.Conn.NewStream(authed(ctx, tok), &grpc.StreamDesc{ClientStreams: true}, "/seshat.v1.FileService/UploadFile")
	require.NoError(t, err)
	require.NoError(t, cs.SendMsg(&seshatv1.UploadFileRequest{Part: &seshatv1.UploadFileRequest_Metadata{
		Metadata: &seshatv1.UploadFileMetadata{Path: path}}}))
	require.NoError(t, cs.SendMsg(&seshatv1.UploadFileRequest{Part: &seshatv1.UploadFileRequest_Data{Data: data}}))
	require.NoError(t, cs.CloseSend())
	var up seshatv1.UploadFileResponse
	require.NoError(t, cs.RecvMsg(&up))
	return up.GetFile()
}

// TestGRPCCorpora walks the knowledge family over gRPC with the rules REST
// has: a corpus is created with its chunking strategy, files are ingested
// (followed on WatchCorpus, numbered one by one), search finds their
// text, another user's calls find nothing, sessions and queries take the
// corpus, and a deleted corpus is gone.
func TestGRPCCorpora(t *testing.T) {
	g := startGRPCServer(t, nil)
	ctx := t.Context()
	aliceAcct := g.register(t, "alice@example.com", "password123")
	alice, bob := aliceAcct.Token, g.register(t, "bob@example.com", "password123").Token
	const svc = "/seshat.v1.CorpusService/"

	err := g.invoke(ctx, alice, svc+"CreateCorpus", &seshatv1.CreateCorpusRequest{
		Name: "x", ChunkingStrategy: &seshatv1.ChunkingStrategy{MaxChunkSizeTokens: 50},
	}, &seshatv1.CreateCorpusResponse{})
	code, info := errorInfo(t, err)
	require.Equal(t, codes.InvalidArgument, code)
	require.Equal(t, "invalid_request", info.GetReason())

	var created seshatv1.CreateCorpusResponse
	require.NoError(t, g.invoke(ctx, alice, svc+"CreateCorpus", &seshatv1.CreateCorpusRequest{
		Name: "Birds", Description: "field notes", ChunkingStrategy: &seshatv1.ChunkingStrategy{MaxChunkSizeTokens: 200, ChunkOverlapTokens: 40},
	}, &created))
	corp := created.GetCorpus()
	require.Equal(t, aliceAcct.User.DefaultWorkspaceID, corp.GetWorkspaceId())
	require.Equal(t, "empty", corp.GetStatus())
	require.EqualValues(t, 200, corp.GetChunkingStrategy().GetMaxChunkSizeTokens())
	require.EqualValues(t, 40, corp.GetChunkingStrategy().GetChunkOverlapTokens())
	require.Equal(t, "builtin", corp.GetEmbedder().GetProvider())
	require.NotNil(t, corp.GetCreatedAt())

	code, info = errorInfo(t, g.invoke(ctx, bob, svc+"GetCorpus", &seshatv1.GetCorpusRequest{Id: corp.GetId()}, &seshatv1.GetCorpusResponse{}))
	require.Equal(t, codes.NotFound, code, "another user's corpus is not found")
	require.Equal(t, "not_found", info.GetReason())

	falcons := g.grpcUpload(t, ctx, alice, "falcons.md", []byte(falconText))
	owls := g.grpcUpload(t, ctx, alice, "owls.txt", []byte("The barn owl hunts at night by sound alone, hearing voles under snow."))
	bobs := g.grpcUpload(t, ctx, bob, "bob.txt", []byte("Bob's own notes."))

	code, _ = errorInfo(t, g.invoke(ctx, alice, svc+"AddCorpusFiles", &seshatv1.AddCorpusFilesRequest{
		Id: corp.GetId(), FileIds: []string{bobs.GetId()},
	}, &seshatv1.AddCorpusFilesResponse{}))
	require.Equal(t, codes.NotFound, code, "another user's file cannot be added")

	watch := g.openStream(t, ctx, alice, svc+"WatchCorpus", &seshatv1.WatchCorpusRequest{Id: corp.GetId()})
	var added seshatv1.AddCorpusFilesResponse
	require.NoError(t, g.invoke(ctx, alice, svc+"AddCorpusFiles", &seshatv1.AddCorpusFilesRequest{
		Id: corp.GetId(), FileIds: []string{falcons.GetId(), owls.GetId()},
	}, &added))
	job := added.GetJob()
	require.Len(t, job.GetFiles(), 2)
	require.EqualValues(t, 2, job.GetFileCounts().GetTotal())

	// Follow the events until every file is done.
	done := map[string]string{}
	var last uint64
	for len(done) < 2 {
		var ev seshatv1.WatchCorpusResponse
		require.NoError(t, watch.RecvMsg(&ev))
		if last != 0 {
			require.Equal(t, last+1, ev.GetId(), "corpus events are numbered one by one")
		}
		last = ev.GetId()
		if ev.GetStatus() != "in_progress" {
			done[ev.GetFileId()] = ev.GetStatus()
		}
	}
	require.Equal(t, map[string]string{falcons.GetId(): "completed", owls.GetId(): "completed"}, done)

	var files seshatv1.ListCorpusFilesResponse
	require.NoError(t, g.invoke(ctx, alice, svc+"ListCorpusFiles", &seshatv1.ListCorpusFilesRequest{Id: corp.GetId()}, &files))
	require.Len(t, files.GetData(), 2)
	for _, f := range files.GetData() {
		require.Equal(t, "done", f.GetStage())
		require.Positive(t, f.GetChunkCount())
		require.Len(t, f.GetSha256(), 64)
	}
	var gotJob seshatv1.GetIngestionJobResponse
	require.NoError(t, g.invoke(ctx, alice, svc+"GetIngestionJob", &seshatv1.GetIngestionJobRequest{Id: corp.GetId(), JobId: job.GetId()}, &gotJob))
	require.Equal(t, "completed", gotJob.GetJob().GetStatus())
	require.NotNil(t, gotJob.GetJob().GetFinishedAt())

	var found seshatv1.SearchCorpusResponse
	require.NoError(t, g.invoke(ctx, alice, svc+"SearchCorpus", &seshatv1.SearchCorpusRequest{
		Id: corp.GetId(), Query: "barn owl voles", MaxNumResults: 3, Ranker: "bm25",
	}, &found))
	require.NotEmpty(t, found.GetData())
	require.Equal(t, "bm25", found.GetRanker())
	top := found.GetData()[0]
	require.Equal(t, owls.GetId(), top.GetFileId())
	require.Equal(t, "owls.txt", top.GetPath())
	require.Contains(t, top.GetText(), "barn owl")
	require.Positive(t, top.GetScore())

	code, _ = errorInfo(t, g.invoke(ctx, alice, svc+"SearchCorpus", &seshatv1.SearchCorpusRequest{Id: corp.GetId(), Query: " "}, &found))
	require.Equal(t, codes.InvalidArgument, code)
	code, _ = errorInfo(t, g.invoke(ctx, bob, svc+"SearchCorpus", &seshatv1.SearchCorpusRequest{Id: corp.GetId(), Query: "owl"}, &found))
	require.Equal(t, codes.NotFound, code, "another user cannot search the corpus")

	// A session takes the corpus, and an unknown one is refused.
	var sess seshatv1.CreateSessionResponse
	require.NoError(t, g.invoke(ctx, alice, "/seshat.v1.SessionService/CreateSession", &seshatv1.CreateSessionRequest{CorpusIds: []string{corp.GetId()}}, &sess))
	require.Equal(t, []string{corp.GetId()}, sess.GetSession().GetCorpusIds())
	code, _ = errorInfo(t, g.invoke(ctx, alice, "/seshat.v1.SessionService/CreateSession", &seshatv1.CreateSessionRequest{CorpusIds: []string{"corp_nope"}}, &sess))
	require.Equal(t, codes.NotFound, code)

	var listed seshatv1.ListCorporaResponse
	require.NoError(t, g.invoke(ctx, alice, svc+"ListCorpora", &seshatv1.ListCorporaRequest{}, &listed))
	require.Len(t, listed.GetData(), 1)
	require.EqualValues(t, 2, listed.GetData()[0].GetFileCounts().GetCompleted())
	require.NoError(t, g.invoke(ctx, bob, svc+"ListCorpora", &seshatv1.ListCorporaRequest{}, &listed))
	require.Empty(t, listed.GetData())

	// Cancelling a watch ends that subscription only: the other watcher
	// still hears the corpus go.
	ctx2, cancel2 := context.WithCancel(ctx)
	watch2 := g.openStream(t, ctx2, alice, svc+"WatchCorpus", &seshatv1.WatchCorpusRequest{Id: corp.GetId(), After: last})
	cancel2()
	require.Equal(t, codes.Canceled, status.Code(watch2.RecvMsg(&seshatv1.WatchCorpusResponse{})))

	// Deleting the corpus ends its watchers with NotFound.
	require.NoError(t, g.invoke(ctx, alice, svc+"DeleteCorpus", &seshatv1.DeleteCorpusRequest{Id: corp.GetId()}, &seshatv1.DeleteCorpusResponse{}))
	for {
		var ev seshatv1.WatchCorpusResponse
		err := watch.RecvMsg(&ev)
		if err == nil {
			continue
		}
		require.False(t, errors.Is(err, io.EOF), "the stream ends with a status, not cleanly")
		code, info = errorInfo(t, err)
		require.Equal(t, codes.NotFound, code, "%v", err)
		require.Equal(t, "not_found", info.GetReason())
		break
	}
	code, _ = errorInfo(t, g.invoke(ctx, alice, svc+"GetCorpus", &seshatv1.GetCorpusRequest{Id: corp.GetId()}, &seshatv1.GetCorpusResponse{}))
	require.Equal(t, codes.NotFound, code)
}

// TestGRPCSkills uploads, lists, reads, disables and deletes skills over
// gRPC with REST's rules: an archive or fields, a workspace's skill is
// its members', global skills are for admins, and what the family refuses
// comes back with REST's code.
func TestGRPCSkills(t *testing.T) {
	g := startGRPCServer(t, nil)
	ctx := t.Context()
	admin := g.register(t, "root@example.com", "password123").Token
	memberAcct := g.register(t, "member@example.com", "password123")
	member, other := memberAcct.Token, g.register(t, "other@example.com", "password123").Token
	ws := memberAcct.User.DefaultWorkspaceID
	const svc = "/seshat.v1.SkillService/"

	archive := skillstest.Zip(t, map[string]string{
		"csv-tools/SKILL.md":      "---\nname: csv-tools\ndescription: Clean and summarise CSV files.\nlicense: MIT\nmetadata:\n  author: team\n---\nRead ref/format.md first.\n",
		"csv-tools/ref/format.md": "Columns are comma separated.",
	})
	var up seshatv1.CreateSkillResponse
	require.NoError(t, g.invoke(ctx, member, svc+"CreateSkill", &seshatv1.CreateSkillRequest{File: archive, Filename: "csv-tools.zip", WorkspaceId: ws}, &up))
	csv := up.GetSkill()
	require.Equal(t, "csv-tools", csv.GetName())
	require.Equal(t, "workspace", csv.GetScope())
	require.Equal(t, ws, csv.GetWorkspaceId())
	require.Equal(t, "upload", csv.GetSource().GetType())
	require.Equal(t, "MIT", csv.GetLicense())
	require.Equal(t, map[string]any{"author": "team"}, csv.GetMetadata().AsMap())
	require.True(t, csv.GetEnabled())
	require.Len(t, csv.GetFiles(), 2)
	require.Contains(t, csv.GetBody(), "Read ref/format.md first")

	for _, tc := range []struct {
		name   string
		tok    string
		req    *seshatv1.CreateSkillRequest
		code   codes.Code
		reason string
	}{
		{"the same skill again", member, &seshatv1.CreateSkillRequest{File: archive, Filename: "csv-tools.zip", WorkspaceId: ws}, codes.FailedPrecondition, "conflict"},
		{"a global skill by a member", member, &seshatv1.CreateSkillRequest{File: archive, Filename: "csv-tools.zip"}, codes.PermissionDenied, "forbidden"},
		{"into another user's workspace", other, &seshatv1.CreateSkillRequest{File: archive, Filename: "csv-tools.zip", WorkspaceId: ws}, codes.NotFound, "not_found"},
		{"not an archive", member, &seshatv1.CreateSkillRequest{File: []byte("plain text"), WorkspaceId: ws}, codes.InvalidArgument, ""},
		{"both an archive and fields", member, &seshatv1.CreateSkillRequest{File: archive, Name: "x", WorkspaceId: ws}, codes.InvalidArgument, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, info := errorInfo(t, g.invoke(ctx, tc.tok, svc+"CreateSkill", tc.req, &seshatv1.CreateSkillResponse{}))
			require.Equal(t, tc.code, code)
			if tc.reason != "" {
				require.Equal(t, tc.reason, info.GetReason())
			}
		})
	}

	var global seshatv1.CreateSkillResponse
	require.NoError(t, g.invoke(ctx, admin, svc+"CreateSkill", &seshatv1.CreateSkillRequest{
		Name: "greeter", Description: "Greets people politely.", Body: "Say hello.",
	}, &global))
	require.Equal(t, "global", global.GetSkill().GetScope())

	var list seshatv1.ListSkillsResponse
	require.NoError(t, g.invoke(ctx, member, svc+"ListSkills", &seshatv1.ListSkillsRequest{WorkspaceId: ws}, &list))
	names := map[string]string{}
	for _, s := range list.GetData() {
		names[s.GetName()] = s.GetScope()
		require.Empty(t, s.GetBody(), "a listing carries no bodies")
	}
	require.Equal(t, map[string]string{"csv-tools": "workspace", "greeter": "global"}, names)
	require.NoError(t, g.invoke(ctx, other, svc+"ListSkills", &seshatv1.ListSkillsRequest{}, &list))
	require.Len(t, list.GetData(), 1, "another user sees only the global skill")

	var got seshatv1.GetSkillResponse
	require.NoError(t, g.invoke(ctx, member, svc+"GetSkill", &seshatv1.GetSkillRequest{Id: csv.GetId()}, &got))
	require.Equal(t, csv.GetId(), got.GetSkill().GetId())
	require.Contains(t, got.GetSkill().GetBody(), "Read ref/format.md first")
	code, _ := errorInfo(t, g.invoke(ctx, other, svc+"GetSkill", &seshatv1.GetSkillRequest{Id: csv.GetId()}, &got))
	require.Equal(t, codes.NotFound, code)

	var file seshatv1.GetSkillFileResponse
	require.NoError(t, g.invoke(ctx, member, svc+"GetSkillFile", &seshatv1.GetSkillFileRequest{Id: csv.GetId(), Path: "ref/format.md"}, &file))
	require.Equal(t, "Columns are comma separated.", string(file.GetData()))
	require.Contains(t, file.GetContentType(), "text/markdown")
	code, _ = errorInfo(t, g.invoke(ctx, member, svc+"GetSkillFile", &seshatv1.GetSkillFileRequest{Id: csv.GetId(), Path: "nope.md"}, &file))
	require.Equal(t, codes.NotFound, code)

	code, _ = errorInfo(t, g.invoke(ctx, member, svc+"UpdateSkill", &seshatv1.UpdateSkillRequest{Id: csv.GetId()}, &seshatv1.UpdateSkillResponse{}))
	require.Equal(t, codes.InvalidArgument, code, "enabled is required")
	var updated seshatv1.UpdateSkillResponse
	require.NoError(t, g.invoke(ctx, member, svc+"UpdateSkill", &seshatv1.UpdateSkillRequest{Id: csv.GetId(), Enabled: new(false)}, &updated))
	require.False(t, updated.GetSkill().GetEnabled())

	var repos seshatv1.ListSkillRepositoriesResponse
	code, _ = errorInfo(t, g.invoke(ctx, member, svc+"ListSkillRepositories", &seshatv1.ListSkillRepositoriesRequest{}, &repos))
	require.Equal(t, codes.PermissionDenied, code, "repositories are for admins")
	require.NoError(t, g.invoke(ctx, admin, svc+"ListSkillRepositories", &seshatv1.ListSkillRepositoriesRequest{}, &repos))
	require.Empty(t, repos.GetData())

	require.NoError(t, g.invoke(ctx, member, svc+"DeleteSkill", &seshatv1.DeleteSkillRequest{Id: csv.GetId()}, &seshatv1.DeleteSkillResponse{}))
	code, _ = errorInfo(t, g.invoke(ctx, member, svc+"GetSkill", &seshatv1.GetSkillRequest{Id: csv.GetId()}, &got))
	require.Equal(t, codes.NotFound, code)
}

// BenchmarkUnarySearchCorpus is one corpus search of two small files,
// over REST and over gRPC: the same family call behind both.
func BenchmarkUnarySearchCorpus(b *testing.B) {
	g := startGRPCServer(b, nil)
	ctx := b.Context()
	tok := g.register(b, "search@example.com", "password123").Token
	var created seshatv1.CreateCorpusResponse
	require.NoError(b, g.invoke(ctx, tok, "/seshat.v1.CorpusService/CreateCorpus", &seshatv1.CreateCorpusRequest{Name: "bench"}, &created))
	id := created.GetCorpus().GetId()
	f1 := g.grpcUpload(b, ctx, tok, "falcons.md", []byte(falconText))
	f2 := g.grpcUpload(b, ctx, tok, "owls.txt", []byte("The barn owl hunts at night by sound alone, hearing voles under snow."))
	watch := g.openStream(b, ctx, tok, "/seshat.v1.CorpusService/WatchCorpus", &seshatv1.WatchCorpusRequest{Id: id})
	require.NoError(b, g.invoke(ctx, tok, "/seshat.v1.CorpusService/AddCorpusFiles", &seshatv1.AddCorpusFilesRequest{
		Id: id, FileIds: []string{f1.GetId(), f2.GetId()}}, &seshatv1.AddCorpusFilesResponse{}))
	for done := 0; done < 2; {
		var ev seshatv1.WatchCorpusResponse
		require.NoError(b, watch.RecvMsg(&ev))
		if ev.GetStatus() != "in_progress" {
			done++
		}
	}
	b.Run("rest", func(b *testing.B) {
		for range b.N {
			if r := g.call(b, http.MethodPost, "/api/v1/corpora/"+id+"/search", tok, map[string]any{"query": "barn owl"}); r.Status != http.StatusOK {
				b.Fatal(r.Status)
			}
		}
	})
	b.Run("grpc", func(b *testing.B) {
		for range b.N {
			var out seshatv1.SearchCorpusResponse
			require.NoError(b, g.invoke(ctx, tok, "/seshat.v1.CorpusService/SearchCorpus", &seshatv1.SearchCorpusRequest{Id: id, Query: "barn owl"}, &out))
		}
	})
}
