package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/seshat-host/seshat/persist"
)

// migrateUsage is the synopsis of `seshat migrate`.
const migrateUsage = "seshat migrate --from bolt://DATA_DIR --to postgres://USER:PASSWORD@HOST:PORT/DB [flags]"

// runMigrate answers `seshat migrate`: it copies the embedded store of a
// data dir into PostgreSQL, so that a server started with SESHAT_STORE set
// to the same URL finds every record. The source must not be in use (the
// data dir's lock says so) and the target must be empty unless -replace.
// File blobs are copied into the database's blob tables, each checked
// against its SHA-256. Progress goes to stderr, the summary to stdout.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("seshat migrate", flag.ContinueOnError)
	fset.SetOutput(stderr)
	from := fset.String("from", "", "the store to copy: bolt://DATA_DIR, the data dir of a stopped server on the embedded store")
	to := fset.String("to", "", "the PostgreSQL database to copy into (postgres://…); if empty, SESHAT_STORE")
	dataDir := fset.String("data-dir", "", "the data dir the server on PostgreSQL will use, where secrets.json is copied to; if empty, the source's own")
	blobDir := fset.String("blob-dir", "", "the source's SESHAT_BLOB_DIR, where its file blobs are, if it had one; if empty, blobs/ in the source's data dir")
	replace := fset.Bool("replace", false, "empty the target first if it already holds records (without it such a target is refused)")
	batch := fset.Int("batch", 5000, "rows sent to PostgreSQL in one COPY")
	progress := fset.String("progress", "auto", "progress bars on stderr: auto (on a terminal), on, off")
	fset.Usage = func() {
		fmt.Fprintln(stderr, "usage: "+migrateUsage)
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: migrate: %w", errUsage, err)
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("%w: migrate: unexpected arguments %q (want %s)", errUsage, fset.Args(), migrateUsage)
	}
	srcDir, ok := strings.CutPrefix(*from, "bolt://")
	if !ok || srcDir == "" {
		return fmt.Errorf("%w: migrate: -from must be bolt://DATA_DIR (want %s)", errUsage, migrateUsage)
	}
	if *to == "" {
		*to = getenv("SESHAT_STORE")
	}
	if !strings.HasPrefix(*to, "postgres://") && !strings.HasPrefix(*to, "postgresql://") {
		return fmt.Errorf("%w: migrate: -to must be a postgres:// URL (or SESHAT_STORE one)", errUsage)
	}
	if *progress != "auto" && *progress != "on" && *progress != "off" {
		return fmt.Errorf("%w: migrate: -progress must be auto, on or off", errUsage)
	}
	if *batch <= 0 {
		return fmt.Errorf("%w: migrate: -batch must be positive", errUsage)
	}
	if _, err := os.Stat(filepath.Join(srcDir, "seshat.db")); err != nil {
		return fmt.Errorf("migrate: %s holds no embedded store: %w", srcDir, err)
	}
	if *dataDir == "" {
		*dataDir = srcDir
	}
	bars := showBars(*progress, stderr)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	// Opening the source takes its data dir's lock, so no server writes
	// to it while it is copied (and one running makes this fail), and
	// brings it to this build's schema, as a server would.
	src, err := persist.Open(persist.Config{Dir: srcDir, BlobDir: *blobDir, OpenTimeout: time.Second, Logger: log})
	if errors.Is(err, persist.ErrLocked) {
		return &plainError{msg: fmt.Sprintf("migrate: data dir %s is in use by another seshat process; stop it first", srcDir), cause: err}
	}
	if err != nil {
		return fmt.Errorf("migrate: open %s: %w", srcDir, err)
	}
	defer src.Close()

	// Secrets and blobs first: secrets only add a file to the target data
	// dir, and blobs that no record references yet are only ever added to
	// the database (hosts on it leave those alone for an hour, and sweep
	// them after), so a failure there leaves its records untouched.
	if err := copySecrets(srcDir, *dataDir); err != nil {
		return err
	}
	blobBytes, err := src.BlobBytes()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	bar := newMigrateBar(stderr, bars, "file blobs", blobBytes, true)
	blobs, err := persist.CopyBlobs(ctx, src, persist.Config{Dir: *dataDir, URL: *to}, bar.add)
	bar.done()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}

	rows, err := src.CountRows()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	bar = newMigrateBar(stderr, bars, "records", rows, false)
	report, err := persist.CopyToPostgres(ctx, src, persist.Config{Dir: *dataDir, URL: *to},
		persist.CopyOptions{Replace: *replace, BatchRows: *batch, Progress: bar.add})
	bar.done()
	if errors.Is(err, persist.ErrConflict) {
		return &plainError{msg: "migrate: the target database already holds records; -replace empties it first", cause: err}
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}

	// The target as the server will open it: its own consistency check
	// (indexes, counters, reference counts, every blob in place) and the
	// audit chain.
	dst, err := persist.Open(persist.Config{Dir: *dataDir, URL: *to, BlobDir: *blobDir, Logger: log})
	if err != nil {
		return fmt.Errorf("migrate: open the target: %w", err)
	}
	checkErr := dst.Check()
	audit, auditErr := dst.VerifyAudit()
	if err := errors.Join(checkErr, auditErr, dst.Close()); err != nil {
		return fmt.Errorf("migrate: check the target: %w", err)
	}
	if !audit.OK {
		why := "it does not"
		if audit.Broken != nil {
			why = fmt.Sprintf("entry %d: %s", audit.Broken.Seq, audit.Broken.Reason)
		}
		return fmt.Errorf("migrate: the target's audit chain does not verify: %s", why)
	}
	fmt.Fprintf(stdout, "copied %d keys in %d buckets (%d bytes, %d sequences, schema version %d) and %d file blobs (%d bytes, %d copied) from %s to %s\n",
		report.Rows, report.Buckets, report.Bytes, report.Sequences, report.SchemaVersion,
		blobs.Blobs, blobs.Bytes, blobs.Copied, srcDir, redactStoreURL(*to))
	fmt.Fprintf(stdout, "verified: every bucket's key count and bytes match, the store check passes, the audit chain verifies (%d entries)\n", audit.Entries)
	fmt.Fprintf(stdout, "start the server with SESHAT_STORE set to that URL and SESHAT_DATA_DIR=%s", *dataDir)
	fmt.Fprintln(stdout, "; the corpora's lexical indexes are rebuilt there on first use if missing")
	return nil
}

// copySecrets copies the data dir's generated secrets to the target data
// dir, so that tokens stay valid and sealed credentials open. A target
// that has other secrets already is refused.
func copySecrets(srcDir, dstDir string) error {
	b, err := os.ReadFile(filepath.Join(srcDir, secretsFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("migrate: read secrets: %w", err)
	}
	name := filepath.Join(dstDir, secretsFileName)
	old, err := os.ReadFile(name)
	switch {
	case err == nil && bytes.Equal(old, b):
		return nil
	case err == nil:
		return fmt.Errorf("migrate: %s holds other secrets than %s; remove it or pick another -data-dir", name, filepath.Join(srcDir, secretsFileName))
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("migrate: read secrets: %w", err)
	}
	if err := os.MkdirAll(dstDir, 0o700); err != nil {
		return fmt.Errorf("migrate: create data dir: %w", err)
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("migrate: write secrets: %w", err)
	}
	_, werr := f.Write(b)
	serr := f.Sync()
	if err := errors.Join(werr, serr, f.Close()); err != nil {
		return fmt.Errorf("migrate: write secrets: %w", err)
	}
	return nil
}

// redactStoreURL hides a store URL's password.
func redactStoreURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// showBars decides whether to draw progress bars: with "auto", only when
// w is a terminal.
func showBars(mode string, w io.Writer) bool {
	switch mode {
	case "on":
		return true
	case "off":
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// migrateBar shows one phase's progress: a bar, or without one (or with
// nothing to do) a line when the phase ends.
type migrateBar struct {
	w     io.Writer
	desc  string
	total int64
	n     atomic.Int64
	bar   *progressbar.ProgressBar
	start time.Time
}

func newMigrateBar(w io.Writer, draw bool, desc string, total int64, bytes bool) *migrateBar {
	b := &migrateBar{w: w, desc: desc, total: total, start: time.Now()}
	if draw && total > 0 {
		opts := []progressbar.Option{
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("copying " + desc),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100 * time.Millisecond),
			progressbar.OptionShowCount(),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		}
		if bytes {
			opts = append(opts, progressbar.OptionShowBytes(true))
		}
		b.bar = progressbar.NewOptions64(total, opts...)
	}
	return b
}

// add counts n more units done.
func (b *migrateBar) add(n int64) {
	b.n.Add(n)
	if b.bar != nil {
		_ = b.bar.Add64(n)
	}
}

// done ends the phase.
func (b *migrateBar) done() {
	if b.bar != nil {
		_ = b.bar.Finish()
		return
	}
	fmt.Fprintf(b.w, "copied %s: %d of %d in %s\n", b.desc, b.n.Load(), b.total, time.Since(b.start).Round(time.Millisecond))
}
