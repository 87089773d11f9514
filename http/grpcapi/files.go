package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"io"

	"connectrpc.com/connect"

	"github.com/seshat-host/seshat/actors/files"
	"github.com/seshat-host/seshat/http/apierr"
	"github.com/seshat-host/seshat/persist"
	seshatv1 "github.com/seshat-host/seshat/proto/seshat/v1"
	"github.com/seshat-host/seshat/proto/seshat/v1/seshatv1connect"
)

// Files is what FileService needs of the files family. *files.Service
// implements it.
type Files interface {
	Upload(ctx context.Context, userID string, up files.Upload, content io.Reader) (persist.File, error)
	List(ctx context.Context, userID, workspaceID string) ([]persist.File, error)
	Get(ctx context.Context, userID, id string) (persist.File, error)
	Open(ctx context.Context, userID, id string) (io.ReadCloser, persist.File, error)
	Delete(ctx context.Context, userID, id string) error
}

// downloadChunk is the size of the data of one GetFileContent message.
const downloadChunk = 64 << 10

// fileService translates FileService to Files.
type fileService struct {
	seshatv1connect.UnimplementedFileServiceHandler
	s  *Server
	rt Files
}

func (s *Server) fileService() seshatv1connect.FileServiceHandler {
	if s.deps.Files == nil {
		return seshatv1connect.UnimplementedFileServiceHandler{}
	}
	return fileService{s: s, rt: s.deps.Files}
}

// UploadFile stores the bytes that follow the first (metadata) message;
// the files family caps the total size.
func (h fileService) UploadFile(ctx context.Context, in *connect.ClientStream[seshatv1.UploadFileRequest]) (*connect.Response[seshatv1.UploadFileResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if !in.Receive() {
		if err := in.Err(); err != nil {
			return nil, err
		}
		return nil, apierr.Invalid("an upload starts with a metadata message")
	}
	meta := in.Msg().GetMetadata()
	if meta == nil {
		return nil, apierr.Invalid("an upload starts with a metadata message")
	}
	f, err := h.rt.Upload(ctx, p.UserID, files.Upload{WorkspaceID: meta.WorkspaceId, Path: meta.Path, ContentType: meta.ContentType},
		&uploadReader{in: in})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.UploadFileResponse{File: fileOf(f)}), nil
}

// errUploadMetadata refuses a second metadata message.
var errUploadMetadata = apierr.Invalid("only the first message of an upload carries metadata")

// uploadReader reads the data messages of an upload as one stream of
// bytes.
type uploadReader struct {
	in  *connect.ClientStream[seshatv1.UploadFileRequest]
	buf []byte
	err error
}

func (r *uploadReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if !r.in.Receive() {
			if r.err = r.in.Err(); r.err == nil {
				r.err = io.EOF
			}
			continue
		}
		d, ok := r.in.Msg().GetPart().(*seshatv1.UploadFileRequest_Data)
		if !ok {
			r.err = errUploadMetadata
			continue
		}
		r.buf = d.Data
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (h fileService) ListFiles(ctx context.Context, req *connect.Request[seshatv1.ListFilesRequest]) (*connect.Response[seshatv1.ListFilesResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	list, err := h.rt.List(ctx, p.UserID, req.Msg.WorkspaceId)
	if err != nil {
		return nil, err
	}
	out := &seshatv1.ListFilesResponse{Data: make([]*seshatv1.File, len(list))}
	for i, f := range list {
		out.Data[i] = fileOf(f)
	}
	return connect.NewResponse(out), nil
}

func (h fileService) GetFile(ctx context.Context, req *connect.Request[seshatv1.GetFileRequest]) (*connect.Response[seshatv1.GetFileResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	f, err := h.rt.Get(ctx, p.UserID, req.Msg.Id)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.GetFileResponse{File: fileOf(f)}), nil
}

// GetFileContent streams the file's bytes in chunks, the metadata in the
// first message.
func (h fileService) GetFileContent(ctx context.Context, req *connect.Request[seshatv1.GetFileContentRequest], out *connect.ServerStream[seshatv1.GetFileContentResponse]) error {
	p, err := caller(ctx)
	if err != nil {
		return err
	}
	rc, f, err := h.rt.Open(ctx, p.UserID, req.Msg.Id)
	if err != nil {
		return err
	}
	defer rc.Close()
	msg := &seshatv1.GetFileContentResponse{File: fileOf(f)}
	buf := make([]byte, downloadChunk)
	for {
		n, rerr := io.ReadFull(rc, buf)
		if n > 0 || msg.File != nil {
			msg.Data = buf[:n]
			setWriteDeadline(ctx, h.s.cfg.StreamWriteTimeout)
			if err := out.Send(msg); err != nil {
				return err
			}
			msg = &seshatv1.GetFileContentResponse{}
		}
		switch {
		case errors.Is(rerr, io.EOF), errors.Is(rerr, io.ErrUnexpectedEOF):
			return nil
		case rerr != nil:
			return fmt.Errorf("read file %s: %w", f.ID, rerr)
		}
	}
}

func (h fileService) DeleteFile(ctx context.Context, req *connect.Request[seshatv1.DeleteFileRequest]) (*connect.Response[seshatv1.DeleteFileResponse], error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.rt.Delete(ctx, p.UserID, req.Msg.Id); err != nil {
		return nil, err
	}
	return connect.NewResponse(&seshatv1.DeleteFileResponse{}), nil
}

var _ seshatv1connect.FileServiceHandler = fileService{}
