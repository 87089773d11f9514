package skills

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/seshat-host/seshat/actors/egress"
	"github.com/seshat-host/seshat/persist"
)

// Bounds of a repository walk.
const (
	// maxWalkDepth is how deep under the repository's path skill folders
	// are looked for.
	maxWalkDepth = 6
	// maxTreeBytes caps one tree object read during the walk.
	maxTreeBytes = 4 << 20
	// maxRepoSkills caps the skill folders one sync takes.
	maxRepoSkills = 1000
)

// errPackTooLarge ends a fetch whose pack passes Config.RepoMaxBytes.
var errPackTooLarge = errors.New("the repository's pack is larger than the sync limit")

// transportFor returns the git transport of a repository URL: https
// through the outbound fence (every connection and redirect checked), or
// the in-process reader of a local repository for file URLs (no git
// binary is run).
func (s *Service) transportFor(raw string) (transport.Transport, *transport.Endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, nil, err
	}
	ep, err := transport.NewEndpoint(raw)
	if err != nil {
		return nil, nil, err
	}
	switch u.Scheme {
	case "https":
		return githttp.NewClientWithOptions(egress.NewClient(s.fence()), &githttp.ClientOptions{}), ep, nil
	case "file":
		return server.NewClient(server.NewFilesystemLoader(osfs.New(""))), ep, nil
	}
	return nil, nil, fmt.Errorf("unsupported url scheme %q", u.Scheme)
}

// fetch reads the skills of repo at its ref.
func (s *Service) fetch(ctx context.Context, repo persist.SkillRepository) (persist.SkillSync, error) {
	tr, ep, err := s.transportFor(repo.URL)
	if err != nil {
		return persist.SkillSync{}, err
	}
	dir, err := os.MkdirTemp(s.cfg.WorkDir, ".skill-sync-")
	if err != nil {
		return persist.SkillSync{}, err
	}
	defer os.RemoveAll(dir)
	sto := filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRUDefault())
	hash, err := s.fetchRef(ctx, tr, ep, repo.Ref, sto)
	if err != nil {
		return persist.SkillSync{}, err
	}
	commit, err := commitOf(sto, hash)
	if err != nil {
		return persist.SkillSync{}, err
	}
	root, err := commit.Tree()
	if err != nil {
		return persist.SkillSync{}, err
	}
	if repo.Path != "" {
		if root, err = root.Tree(repo.Path); err != nil {
			return persist.SkillSync{}, fmt.Errorf("path %q is not a folder at %s: %w", repo.Path, repo.Ref, err)
		}
	}
	w := &walker{s: s, sto: sto, out: persist.SkillSync{Commit: commit.Hash.String(), Errors: map[string]string{}}, left: s.cfg.RepoMaxBytes}
	rootName := path.Base(repo.Path)
	if repo.Path == "" {
		rootName = repoBaseName(repo.URL)
	}
	if err := w.walk(ctx, root, "", rootName, 0); err != nil {
		return persist.SkillSync{}, err
	}
	return w.out, nil
}

// fetchRef fetches the commit ref names (a branch, else a tag) into sto,
// shallow where the server allows, and returns its hash.
func (s *Service) fetchRef(ctx context.Context, tr transport.Transport, ep *transport.Endpoint, ref string, sto *filesystem.Storage) (plumbing.Hash, error) {
	sess, err := tr.NewUploadPackSession(ep, nil)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	refs, err := ar.AllReferences()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	var hash plumbing.Hash
	for _, name := range []string{"refs/heads/" + ref, "refs/tags/" + ref, ref} {
		if r, err := refs.Reference(plumbing.ReferenceName(name)); err == nil && r.Type() == plumbing.HashReference {
			hash = r.Hash()
			if peeled, ok := ar.Peeled[name]; ok {
				hash = peeled
			}
			break
		}
	}
	if hash.IsZero() {
		return plumbing.ZeroHash, fmt.Errorf("ref %q: %w", ref, plumbing.ErrReferenceNotFound)
	}
	req := packp.NewUploadPackRequestFromCapabilities(ar.Capabilities)
	req.Capabilities.Delete(capability.ThinPack)
	req.Wants = []plumbing.Hash{hash}
	if ar.Capabilities.Supports(capability.Shallow) {
		req.Depth = packp.DepthCommits(1)
	}
	resp, err := sess.UploadPack(ctx, req)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	defer resp.Close()
	var pack io.Reader = &limitedPack{r: resp, left: s.cfg.RepoMaxBytes}
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		pack = sideband.NewDemuxer(sideband.Sideband64k, pack)
	case req.Capabilities.Supports(capability.Sideband):
		pack = sideband.NewDemuxer(sideband.Sideband, pack)
	}
	if err := packfile.UpdateObjectStorage(sto, pack); err != nil {
		return plumbing.ZeroHash, err
	}
	return hash, nil
}

// limitedPack fails a fetch once its pack passes the limit.
type limitedPack struct {
	r    io.Reader
	left int64
}

func (l *limitedPack) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errPackTooLarge
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// commitOf returns the commit at hash, through an annotated tag.
func commitOf(sto storer.EncodedObjectStorer, hash plumbing.Hash) (*object.Commit, error) {
	if tag, err := object.GetTag(sto, hash); err == nil {
		return tag.Commit()
	}
	return object.GetCommit(sto, hash)
}

func repoBaseName(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(path.Base(u.Path), ".git")
}

// walker finds skill folders in a tree.
type walker struct {
	s    *Service
	sto  *filesystem.Storage
	out  persist.SkillSync
	left int64
	n    int
}

// walk looks at tree (at rel under the repository's path, named name):
// with a SKILL.md it is a skill; otherwise its folders are looked at, but
// not those whose name starts with a dot.
func (w *walker) walk(ctx context.Context, tree *object.Tree, rel, name string, depth int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if e, err := tree.FindEntry(persist.SkillManifest); err == nil && e.Mode.IsFile() {
		w.n++
		if w.n > maxRepoSkills {
			w.out.Errors[orDot(rel)] = fmt.Sprintf("a repository may hold at most %d skills", maxRepoSkills)
			return nil
		}
		w.skill(tree, rel, name)
		return nil
	}
	if depth >= maxWalkDepth {
		return nil
	}
	for _, e := range tree.Entries {
		if e.Mode != filemode.Dir || strings.HasPrefix(e.Name, ".") {
			continue
		}
		sub, err := w.tree(e.Hash)
		if err != nil {
			w.out.Errors[path.Join(rel, e.Name)] = err.Error()
			continue
		}
		if err := w.walk(ctx, sub, path.Join(rel, e.Name), e.Name, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func orDot(p string) string {
	if p == "" {
		return "."
	}
	return p
}

func (w *walker) tree(h plumbing.Hash) (*object.Tree, error) {
	obj, err := w.sto.EncodedObject(plumbing.TreeObject, h)
	if err != nil {
		return nil, err
	}
	if obj.Size() > maxTreeBytes {
		return nil, fmt.Errorf("a folder lists more than %d bytes of entries", maxTreeBytes)
	}
	return object.DecodeTree(w.sto, obj)
}

// skill reads one skill folder and adds it, or its error.
func (w *walker) skill(tree *object.Tree, rel, name string) {
	lim := w.s.Limits()
	files := map[string][]byte{}
	var total int64
	fail := func(err error) { w.out.Errors[orDot(rel)] = err.Error() }
	var read func(t *object.Tree, prefix string, depth int) error
	read = func(t *object.Tree, prefix string, depth int) error {
		for _, e := range t.Entries {
			p := path.Join(prefix, e.Name)
			switch e.Mode {
			case filemode.Dir:
				if depth >= maxPathDepth {
					return broken(RulePath, "%q is deeper than %d folders", p, maxPathDepth)
				}
				sub, err := w.tree(e.Hash)
				if err != nil {
					return err
				}
				if err := read(sub, p, depth+1); err != nil {
					return err
				}
				continue
			case filemode.Symlink:
				return broken(RuleLink, "%q is a symbolic link; links are not allowed", p)
			case filemode.Submodule:
				return broken(RuleLink, "%q is a submodule; skills hold files only", p)
			case filemode.Regular, filemode.Executable, filemode.Deprecated:
			default:
				return broken(RuleLink, "%q is not a regular file", p)
			}
			if _, _, err := cleanName(p); err != nil {
				return err
			}
			if len(files) >= lim.MaxFiles {
				return broken(RuleFileCount, "a skill may hold at most %d files", lim.MaxFiles)
			}
			obj, err := w.sto.EncodedObject(plumbing.BlobObject, e.Hash)
			if err != nil {
				return err
			}
			if obj.Size() > lim.MaxBytes-total {
				return broken(RuleSize, "a skill may hold at most %d bytes", lim.MaxBytes)
			}
			if obj.Size() > w.left {
				return broken(RuleSize, "the repository's skills pass the sync limit of %d bytes", w.s.cfg.RepoMaxBytes)
			}
			rc, err := obj.Reader()
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			n, err := io.Copy(&buf, io.LimitReader(rc, obj.Size()+1))
			rc.Close()
			if err != nil {
				return err
			}
			if n != obj.Size() {
				return fmt.Errorf("%q: read %d bytes of %d", p, n, obj.Size())
			}
			total += n
			files[p] = buf.Bytes()
		}
		return nil
	}
	if err := read(tree, "", 0); err != nil {
		fail(err)
		return
	}
	sk, _, err := Build(name, files)
	if err != nil {
		fail(err)
		return
	}
	w.left -= total
	sk.Source.Path = orDot(rel)
	w.out.Skills = append(w.out.Skills, persist.SyncedSkill{Skill: sk, Files: files})
}

// fetchMessage says why a fetch failed, for the repository's last_error
// and the client: what git or the fence reported, without internals.
func fetchMessage(err error) string {
	switch {
	case errors.Is(err, egress.ErrBlocked):
		return "the outbound fence refused the repository's address"
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return "repository not found"
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return "the repository needs credentials; only public repositories are supported"
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return "the repository is empty"
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		return "the ref is neither a branch nor a tag of the repository"
	case errors.Is(err, errPackTooLarge):
		return errPackTooLarge.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "the sync timed out"
	case errors.Is(err, object.ErrDirectoryNotFound):
		return "the repository's path is not a folder at the ref"
	}
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300]
	}
	return msg
}
