package persist

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
)

// maxProblems caps the problems Check reports; past a few, more only hide
// the first.
const maxProblems = 20

type problems []error

func (p *problems) add(format string, args ...any) {
	if len(*p) < maxProblems {
		*p = append(*p, fmt.Errorf(format, args...))
	}
}

// checkBlobs reports referenced blobs the backend lacks, or holds with
// another size than a file record says.
func (s *Store) checkBlobs(shas []string) error {
	slices.Sort(shas)
	have, err := s.blobs.sizes(shas)
	if err != nil {
		return err
	}
	var p problems
	for _, sha := range shas {
		if _, ok := have[sha]; !ok {
			p.add("blob %s: missing", sha)
		}
	}
	if len(p) > 0 {
		return fmt.Errorf("persist: inconsistent store: %w", errors.Join(p...))
	}
	return nil
}

// checkInvariants scans every bucket and reports index entries without
// their record (or the reverse), wrong counters and reference counts, and
// missing blobs. It reads the whole file: for tests and offline checks.
func (tx *Tx) checkInvariants() error {
	var p problems
	tx.checkUsers(&p)
	tx.checkKeys(&p)
	tx.checkFiles(&p)
	tx.checkSessions(&p)
	tx.checkIndex(&p)
	tx.checkTenancy(&p)
	tx.checkMemories(&p)
	tx.checkSkills(&p)
	if len(p) > 0 {
		return fmt.Errorf("persist: inconsistent store: %w", errors.Join(p...))
	}
	return nil
}

func each(b bucket, fn func(k, v []byte)) {
	_ = b.ForEach(func(k, v []byte) error { fn(k, v); return nil })
}

func (tx *Tx) checkUsers(p *problems) {
	users, byEmail := tx.bucket(bucketUsers), tx.bucket(bucketUsersByEmail)
	workspaces := tx.bucket(bucketWorkspaces)
	each(users, func(k, v []byte) {
		var u User
		if _, err := getJSON(users, k, &u); err != nil {
			p.add("user %s: %v", k, err)
			return
		}
		if u.ID != string(k) || u.Email != normEmail(u.Email) {
			p.add("user %s: id %q or email %q not in stored form", k, u.ID, u.Email)
		}
		if id := byEmail.Get([]byte(u.Email)); !bytes.Equal(id, k) {
			p.add("user %s: email index names %q", k, id)
		}
	})
	each(byEmail, func(k, v []byte) {
		if users.Get(v) == nil {
			p.add("email %s names missing user %s", k, v)
		}
	})
	each(workspaces, func(k, v []byte) {
		var ws Workspace
		if _, err := getJSON(workspaces, k, &ws); err != nil || ws.ID != string(k) {
			p.add("workspace %s: bad record (%v)", k, err)
		}
	})
	each(tx.bucket(bucketMembers), func(k, v []byte) {
		user, ws, ok := bytes.Cut(k, []byte{0})
		if !ok || users.Get(user) == nil || workspaces.Get(ws) == nil {
			p.add("membership %q names a missing user or workspace", k)
		}
	})
}

func (tx *Tx) checkKeys(p *problems) {
	keys, byPrefix, byUser := tx.bucket(bucketKeys), tx.bucket(bucketKeysByPrefix), tx.bucket(bucketKeysByUser)
	each(keys, func(k, v []byte) {
		var ak APIKey
		if _, err := getJSON(keys, k, &ak); err != nil || ak.ID != string(k) {
			p.add("api key %s: bad record (%v)", k, err)
			return
		}
		if !bytes.Equal(byPrefix.Get([]byte(ak.Prefix)), k) {
			p.add("api key %s: prefix index does not name it", k)
		}
		if !has(byUser, key(ak.UserID, ak.ID)) {
			p.add("api key %s: user index lacks it", k)
		}
	})
	each(byPrefix, func(k, v []byte) {
		var ak APIKey
		if ok, _ := getJSON(keys, v, &ak); !ok || ak.Prefix != string(k) {
			p.add("prefix %s names key %s, which does not have it", k, v)
		}
	})
	each(byUser, func(k, v []byte) {
		user, id, _ := bytes.Cut(k, []byte{0})
		var ak APIKey
		if ok, _ := getJSON(keys, id, &ak); !ok || ak.UserID != string(user) {
			p.add("user index entry %q names a missing key", k)
		}
	})
}

func (tx *Tx) checkFiles(p *problems) {
	files, byPath, refs := tx.bucket(bucketFiles), tx.bucket(bucketFilesByPath), tx.bucket(bucketBlobRefs)
	counts := make(map[string]uint64)
	each(files, func(k, v []byte) {
		var f File
		if _, err := getJSON(files, k, &f); err != nil || f.ID != string(k) {
			p.add("file %s: bad record (%v)", k, err)
			return
		}
		if !bytes.Equal(byPath.Get(key(f.WorkspaceID, f.Path)), k) {
			p.add("file %s: path index does not name it", k)
		}
		counts[f.SHA256]++
	})
	each(byPath, func(k, v []byte) {
		ws, path, _ := bytes.Cut(k, []byte{0})
		var f File
		if ok, _ := getJSON(files, v, &f); !ok || f.WorkspaceID != string(ws) || f.Path != string(path) {
			p.add("path %q names file %s, which is elsewhere", k, v)
		}
	})
	each(refs, func(k, v []byte) {
		if n := readU64(v); n != counts[string(k)] {
			p.add("blob %s: reference count %d, files %d", k, n, counts[string(k)])
		}
		delete(counts, string(k))
		// Checked against the blob backend after the transaction.
		tx.blobs = append(tx.blobs, string(k))
	})
	for sha := range counts {
		p.add("blob %s: referenced by files but has no count", sha)
	}
}

func (tx *Tx) checkSessions(p *problems) {
	sessions, byTime := tx.bucket(bucketSessions), tx.bucket(bucketIdxTime)
	n := 0
	each(sessions, func(k, v []byte) {
		n++
		var s Session
		if _, err := getJSON(sessions, k, &s); err != nil || s.ID != string(k) {
			p.add("session %s: bad record (%v)", k, err)
			return
		}
		if !has(byTime, listKey(s.WorkspaceID, s.CreatedAt, s.ID)) {
			p.add("session %s: time index lacks it", k)
		}
	})
	if c := tx.counter(metaSessionCount); c != n {
		p.add("session counter %d, records %d", c, n)
	}
	each(byTime, func(k, v []byte) {
		if !tx.postingMatches(k) {
			p.add("time index entry %q names no such session", k)
		}
	})
	each(tx.bucket(bucketSnapshots), func(k, v []byte) {
		if sessions.Get(k) == nil {
			p.add("snapshot of missing session %s", k)
		}
	})
	each(tx.bucket(bucketMessages), func(k, v []byte) {
		id, _, ok := bytes.Cut(k, []byte{0})
		if !ok || sessions.Get(id) == nil {
			p.add("message %q of missing session", k)
		}
	})
}

// postingMatches reports whether k is the list key of an existing session.
func (tx *Tx) postingMatches(k []byte) bool {
	_, rest, ok := bytes.Cut(k, []byte{0})
	if !ok || len(rest) <= 8 {
		return false
	}
	var s Session
	if ok, _ := getJSON(tx.bucket(bucketSessions), rest[8:], &s); !ok {
		return false
	}
	return bytes.Equal(listKey(s.WorkspaceID, s.CreatedAt, s.ID), k)
}

func (tx *Tx) checkIndex(p *problems) {
	docs, posts := tx.bucket(bucketIdxDocs), tx.bucket(bucketIdxPostings)
	sessions := tx.bucket(bucketSessions)
	each(docs, func(id, v []byte) {
		var s Session
		if ok, _ := getJSON(sessions, id, &s); !ok {
			p.add("index terms of missing session %s", id)
			return
		}
		terms := docTerms(v)
		if !slices.IsSorted(terms) {
			p.add("session %s: index terms not sorted", id)
		}
		pos := position(s)
		for _, term := range terms {
			if !has(posts, append(postingPrefix(s.WorkspaceID, term), pos...)) {
				p.add("session %s: term %q lacks its posting", id, term)
			}
		}
	})
	each(posts, func(k, _ []byte) {
		wsID, rest, ok := bytes.Cut(k, []byte{0})
		term, pos, ok2 := bytes.Cut(rest, []byte{0})
		if !ok || !ok2 || len(term) == 0 || len(pos) <= 8 {
			p.add("bad posting %q", k)
			return
		}
		var s Session
		if ok, _ := getJSON(sessions, pos[8:], &s); !ok || s.WorkspaceID != string(wsID) || !bytes.Equal(position(s), pos) {
			p.add("term %q: posting %q names no such session in %s", term, pos, wsID)
			return
		}
		if _, found := slices.BinarySearch(docTerms(docs.Get(pos[8:])), string(term)); !found {
			p.add("term %q: session %s does not list it", term, pos[8:])
		}
	})
}
