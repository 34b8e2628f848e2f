package server

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth"
	"github.com/berth-dev/berth/config"
	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/executor"
	"github.com/berth-dev/berth/outbound"
	"github.com/berth-dev/berth/queue"
	"github.com/berth-dev/berth/runner"
	"github.com/berth-dev/berth/server/settings"
	"github.com/berth-dev/berth/server/svcmgr"
	"github.com/berth-dev/berth/store"
	"github.com/berth-dev/berth/store/blobcache"
)

// Server is one berth daemon node.
type Server struct {
	cfg    config.Config
	set    settings.Serve
	log    *slog.Logger
	nodeID string
	tokens []string

	db      *store.DB
	st      *store.Store
	q       *queue.Queue
	exec    *executor.Executor
	runners map[string]runner.Runner
	metrics *metrics
	// outbound is the policy for addon URLs and webhooks, with this
	// node's listen addresses refused.
	outbound *outbound.Policy

	dataDir string
	now     func() time.Time
	started time.Time
	done    atomic.Int64

	mu       sync.Mutex
	lastFire map[string]time.Time // scheduled configs: last fire time

	addonCache sync.Map // kept addon dir -> *addon.Addon
	// blobs is this node's cache of the shared database's blobs.
	blobs *blobcache.Cache

	// stopping ends when the HTTP server shuts down: follow streams
	// end with it (their clients resume by cursor).
	stopping context.Context
	stop     context.CancelFunc

	// services supervises the services files (berth.yaml's services:
	// and those handed over through the API).
	services *svcmgr.Manager

	// keyMu guards aead, the cipher of secretKeyFile (runenv.go).
	keyMu sync.Mutex
	aead  cipher.AEAD
}

// Options are what New needs besides the configuration.
type Options struct {
	Logger *slog.Logger
	// NodeID names this node; empty means host name plus a random suffix.
	NodeID string
	// Clock is this node's clock (time.Now when nil). It stamps the
	// times a run record shows; whether a node is alive is judged by the
	// database's clock, so a node whose clock is off does not matter.
	Clock func() time.Time
	// ServicesEngine and ServicesStateDir replace the services manager's
	// defaults (svcmgr.Config) when set: tests use them.
	ServicesEngine   func(backend string) *engine.Client
	ServicesStateDir func(project string) string
}

// ErrSettings is wrapped by errors about the daemon's settings (as
// opposed to the database or the machine).
var ErrSettings = errors.New("bad daemon settings")

// ErrTokenRequired is returned when a non-loopback address has no tokens;
// it wraps ErrSettings.
var ErrTokenRequired = fmt.Errorf("%w: an API token is required", ErrSettings)

// New opens the database, runs migrations and builds the node. Close
// releases what it opened when Run is not called.
func New(ctx context.Context, cfg config.Config, set settings.Serve, opt Options) (*Server, error) {
	if err := set.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSettings, err)
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	tokens, err := loadTokens(set)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSettings, err)
	}
	if len(tokens) == 0 && !set.Loopback() {
		return nil, fmt.Errorf("%w: %s is not a loopback address; set serve.token-file or serve.tokens", ErrTokenRequired, set.Listen)
	}
	nodeID := opt.NodeID
	if nodeID == "" {
		host, _ := os.Hostname()
		nodeID = host + "-" + randomID(4)
	}
	clock := opt.Clock
	if clock == nil {
		clock = time.Now
	}
	s := &Server{
		cfg: cfg, set: set, log: log.With("node", nodeID), nodeID: nodeID, tokens: tokens, now: clock,
		dataDir: cfg.DataDir, started: clock(), lastFire: map[string]time.Time{},
		outbound: outboundPolicy(cfg, set),
	}
	s.stopping, s.stop = context.WithCancel(context.Background())
	for _, d := range []string{s.addonsDir(), s.runsDir(), s.tmpDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("creating %s: %w", d, err)
		}
	}
	s.db, err = store.Open(ctx, set.DatabaseURL, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s.st = store.New(s.db)
	if err := s.st.Migrate(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("migrating the database: %w", err)
	}
	if s.blobs, err = blobcache.New(s.blobCacheDir(), s.st, int64(set.BlobCacheSize), s.log); err != nil {
		s.db.Close()
		return nil, err
	}
	s.q, err = queue.New(ctx, s.st, queue.Config{
		NodeID:       nodeID,
		Concurrency:  set.Concurrency,
		RunTimeout:   cfg.RunTimeout.Std(),
		PollInterval: set.PollInterval.Std(),
		RetryDelay:   queue.Backoff(set.RetryBackoff.Std(), time.Hour),
		WebhookDelay: queue.Backoff(min(set.RetryBackoff.Std(), time.Second), 10*time.Minute),
		Logger:       s.log,
	}, s)
	if err != nil {
		s.db.Close()
		return nil, err
	}
	s.exec = berth.NewExecutor(ctx, cfg, berth.Options{Logger: s.log})
	s.runners = s.exec.Runners
	s.services = svcmgr.New(svcmgr.Config{DataDir: cfg.DataDir, Entries: servicesEntries(cfg.Services), Logger: s.log.With("component", "services"),
		Engine: opt.ServicesEngine, StateDir: opt.ServicesStateDir})
	s.metrics = newMetrics(s)
	return s, nil
}

// leftoverRemover is a runner that can remove what a berth that died
// mid-run left behind (the docker runner: its exited containers).
type leftoverRemover interface {
	RemoveLeftovers(ctx context.Context, minAge time.Duration) ([]string, error)
}

// removeLeftovers asks every usable runner to remove what a killed berth
// left (at start, then every minute: containers of a node that died run on
// until their deadline passes); a failure is logged, not fatal.
func (s *Server) removeLeftovers(ctx context.Context) {
	for name, r := range s.runners {
		lr, ok := r.(leftoverRemover)
		if !ok || r.Available(ctx) != nil {
			continue
		}
		removed, err := lr.RemoveLeftovers(ctx, time.Minute)
		if err != nil {
			s.log.Warn("removing leftovers of earlier runs", "runner", name, "err", err)
		} else if len(removed) > 0 {
			s.log.Info("removed leftovers of earlier runs", "runner", name, "removed", removed)
		}
	}
}

// Close releases the database.
func (s *Server) Close() { s.db.Close() }

// NodeID returns this node's name.
func (s *Server) NodeID() string { return s.nodeID }

func (s *Server) addonsDir() string { return filepath.Join(s.dataDir, "addons") }
func (s *Server) runsDir() string   { return filepath.Join(s.dataDir, "runs") }
func (s *Server) tmpDir() string    { return filepath.Join(s.dataDir, "tmp") }

// Serve serves the API on ln (or a new listener on the configured address
// when ln is nil) and works jobs until ctx is cancelled, then shuts down
// gracefully: no new jobs, running ones get the grace period, then are
// cancelled. It closes the database before returning.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer s.Close()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.set.Listen); err != nil {
			return fmt.Errorf("listening on %s: %w", s.set.Listen, err)
		}
	}
	s.refuseOwnAddress(ln.Addr())
	// Start-up is short and not cut off by an early cancel; the queue's
	// context is never cancelled: Stop below ends it gracefully.
	base := context.WithoutCancel(ctx)
	if err := s.heartbeat(base); err != nil {
		return err
	}
	if err := s.importLocal(base); err != nil {
		return fmt.Errorf("storing this node's addon and output files in the database: %w", err)
	}
	// With SQLite this process holds the file lock: whatever another
	// process left running is orphaned now.
	staleAfter := s.set.NodeTimeout.Std()
	if s.db.Dialect == store.SQLite {
		staleAfter = -time.Hour
	}
	if _, err := s.q.Recover(base, s.st, runSteps, staleAfter, true); err != nil {
		return err
	}
	s.removeLeftovers(base)
	if err := s.q.Start(base); err != nil {
		return fmt.Errorf("starting the job queue: %w", err)
	}
	// Containers outlive the daemon: Close leaves them running, and the
	// next start adopts them.
	s.services.Start(base)
	defer s.services.Close()
	srv := s.httpServer()
	srv.RegisterOnShutdown(s.stop)
	ln = limitListener(ln, s.set.MaxConnections)
	bgCtx, stopBG := context.WithCancel(base)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); s.loop(bgCtx, s.set.NodeTimeout.Std()/5, s.tick) }()
	go func() {
		defer wg.Done()
		s.loop(bgCtx, time.Minute, func(ctx context.Context) error { s.removeLeftovers(ctx); return nil })
	}()
	go func() { defer wg.Done(); s.loop(bgCtx, time.Second, s.schedule) }()
	wg.Add(1)
	go func() { defer wg.Done(); s.loop(bgCtx, time.Minute, s.sweepIdemKeys) }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.sweepBlobs(bgCtx); err != nil && bgCtx.Err() == nil {
			s.log.Warn("background task failed", "err", err)
		}
		s.loop(bgCtx, min(max(s.set.BlobGrace.Std()/4, time.Second), 15*time.Minute), s.sweepBlobs)
	}()
	if ret := s.set.Retention.Std(); ret > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// At once too: a node started after a long stop has a backlog.
			if err := s.sweep(bgCtx); err != nil && bgCtx.Err() == nil {
				s.log.Warn("background task failed", "err", err)
			}
			s.loop(bgCtx, min(max(ret/10, time.Second), time.Hour), s.sweep)
		}()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("serving", "listen", ln.Addr().String(), "database", string(s.db.Dialect), "concurrency", s.set.Concurrency)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.log.Info("shutting down", "grace", s.set.ShutdownGrace.Std())
	shCtx, cancel := context.WithTimeout(context.Background(), s.set.ShutdownGrace.Std())
	defer cancel()
	_ = srv.Shutdown(shCtx)
	qerr := s.q.Stop(shCtx)
	stopBG()
	wg.Wait()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	if qerr != nil {
		return fmt.Errorf("stopping the job queue: %w", qerr)
	}
	return nil
}

func (s *Server) loop(ctx context.Context, every time.Duration, fn func(context.Context) error) {
	t := time.NewTicker(max(every, 50*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("background task failed", "err", err)
			}
		}
	}
}

func (s *Server) heartbeat(ctx context.Context) error {
	if err := s.st.Heartbeat(ctx, nil, s.nodeID, s.started, s.done.Load()); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// tick sends the heartbeat and adopts the runs of nodes that stopped.
func (s *Server) tick(ctx context.Context) error {
	if err := s.heartbeat(ctx); err != nil {
		return err
	}
	_, err := s.q.Recover(ctx, s.st, runSteps, s.set.NodeTimeout.Std(), false)
	return err
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newID(prefix string) string { return prefix + randomID(8) }

// sweep removes the records and output files of runs that ended more
// than the retention period ago, a thousand at a time, then the output
// files whose record is gone: a node that stopped between removing a
// record and its files, or a record that another node removed (each
// node removes only the files in its own data-dir).
func (s *Server) sweep(ctx context.Context) error {
	ret := s.set.Retention.Std()
	for {
		ids, err := s.st.DeleteFinished(ctx, nil, ret, 1000)
		if err != nil {
			return err
		}
		if err := s.st.DeleteRunLogs(ctx, nil, ids); err != nil {
			return err
		}
		for _, id := range ids {
			if err := os.RemoveAll(filepath.Join(s.runsDir(), id)); err != nil {
				s.log.Warn("removing the files of an expired run", "run", id, "err", err)
			}
		}
		if len(ids) > 0 {
			s.log.Info("removed expired runs", "count", len(ids))
		}
		if len(ids) < 1000 {
			break
		}
	}
	// The log lines of runs removed by a node that stopped before it
	// removed their lines.
	if _, err := s.st.DeleteOrphanLogs(ctx, nil); err != nil {
		return err
	}
	return s.sweepFiles(ctx, ret)
}

// sweepFiles removes the run directories untouched for longer than
// retention whose run has no record. A run's directory is made only
// while its (recorded) run executes, so an old one without a record is
// left over.
func (s *Server) sweepFiles(ctx context.Context, ret time.Duration) error {
	entries, err := os.ReadDir(s.runsDir())
	if err != nil {
		return fmt.Errorf("listing run files: %w", err)
	}
	cutoff := time.Now().Add(-ret)
	removed := 0
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !e.IsDir() || !info.ModTime().Before(cutoff) {
			continue
		}
		_, err = s.st.GetRun(ctx, nil, e.Name())
		if !errors.Is(err, store.ErrNotFound) {
			if err != nil {
				return err
			}
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.runsDir(), e.Name())); err != nil {
			s.log.Warn("removing the files of a removed run", "run", e.Name(), "err", err)
			continue
		}
		removed++
	}
	if removed > 0 {
		s.log.Info("removed the files of runs whose records are gone", "count", removed)
	}
	return nil
}
