//go:build daemon

package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/server"
	"github.com/berth-dev/berth/server/settings"
)

func init() { subcommands = append(subcommands, newServeCmd) }

func newServeCmd() *cobra.Command {
	set := settings.Default()
	flagged := &set
	var dataDir, nodeID string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the addon daemon: HTTP API, persistent queue, schedules",
		Long: `serve runs berth as a daemon: hosts install addons, define run
configurations and send events over a JSON API (default 127.0.0.1:8470,
documented at /openapi.json); berth queues the runs in SQLite (a file in
the data dir) or PostgreSQL (--database-url postgres://…, shared by
several nodes) and hands back results. See docs/daemon.md.

Any address other than loopback requires API tokens (--token-file, or
BERTH_SERVE_TOKENS as a comma-separated list).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if dataDir != "" {
				cfg.DataDir = dataDir
			}
			// berth.yaml's serve: section with BERTH_SERVE_* overrides;
			// flags win over both.
			set := withFlags(cmd, cfg.Serve, flagged)
			if err := set.Validate(); err != nil {
				return badInput("%v", err)
			}
			// A daemon logs every run (info level) unless log.level says less.
			log := newLogger(cmd.ErrOrStderr(), cfg, true)
			srv, err := server.New(cmd.Context(), cfg, set, server.Options{Logger: log, NodeID: nodeID})
			if errors.Is(err, server.ErrSettings) {
				return &exitError{exitBadInput, err}
			}
			if err != nil {
				return err
			}
			return srv.Serve(cmd.Context(), nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&set.Listen, "listen", set.Listen, "address of the HTTP API")
	f.StringVar(&set.DatabaseURL, "database-url", set.DatabaseURL, "postgres://… to share the queue between nodes, or sqlite:PATH (default: SQLite in the data dir)")
	f.StringVar(&set.TokenFile, "token-file", set.TokenFile, "file with API tokens, one a line")
	f.IntVar(&set.Concurrency, "concurrency", set.Concurrency, "most runs executing at once on this node")
	f.IntVar(&set.Retries, "retries", set.Retries, "how often a failed pure run is tried again")
	f.Var(&set.RetryBackoff, "retry-backoff", "delay before the first retry; each next one doubles")
	f.BoolVar(&set.AllowImpure, "allow-impure", set.AllowImpure, "allow installing impure addons")
	f.StringSliceVar(&set.URLAllow, "url-allow", set.URLAllow, "patterns an addon URL or webhook must match ('*' matches anything)")
	f.StringSliceVar(&set.URLDeny, "url-deny", set.URLDeny, "patterns an addon URL or webhook must not match")
	f.BoolVar(&set.AllowPath, "allow-path", set.AllowPath, "allow installing addons from a directory on this machine")
	f.Var(&set.MaxBody, "max-body", "largest request body (e.g. 64MiB)")
	f.Var(&set.ShutdownGrace, "shutdown-grace", "how long running jobs may finish after a stop signal")
	f.Var(&set.NodeTimeout, "node-timeout", "missed-heartbeat time after which a node's runs go to another node")
	f.Var(&set.PollInterval, "poll-interval", "how often an idle node looks for jobs")
	f.IntVar(&set.LogLines, "log-lines", set.LogLines, "log lines kept per run")
	f.Var(&set.IdempotencyWindow, "idempotency-window", "how long an event's Idempotency-Key is remembered (a resend within it queues no new runs)")
	f.Var(&set.Retention, "retention", "how long finished runs' records and output files are kept (0: forever)")
	f.Var(&set.RequestTimeout, "request-timeout", "longest time to read a request and write its answer (all but transfers)")
	f.Var(&set.TransferTimeout, "transfer-timeout", "the same for uploads, addon installs and output file downloads")
	f.Var(&set.IdleTimeout, "idle-timeout", "how long a keep-alive connection may wait for its next request")
	f.IntVar(&set.MaxConnections, "max-connections", set.MaxConnections, "most HTTP connections open at once (more wait to be accepted)")
	f.Var(&set.BlobMaxSize, "blob-max-size", "largest blob in the database: an addon's package or one output file (e.g. 1GiB)")
	f.Var(&set.BlobCacheSize, "blob-cache-size", "bound of this node's local blob cache in data-dir/blob-cache (0: none)")
	f.Var(&set.BlobGrace, "blob-grace", "how long a blob nothing references is kept before it is removed")
	f.StringVar(&dataDir, "data-dir", "", "directory for the SQLite database, installed addons and run outputs (default: data-dir of berth.yaml)")
	f.StringVar(&nodeID, "node-id", "", "name of this node (default: host name and a random suffix)")
	return cmd
}

// withFlags returns base with the settings given as flags on the command
// line: flags win over berth.yaml and the environment.
func withFlags(cmd *cobra.Command, base settings.Serve, flagged *settings.Serve) settings.Serve {
	f := cmd.Flags()
	set := func(name string, apply func()) {
		if f.Changed(name) {
			apply()
		}
	}
	set("listen", func() { base.Listen = flagged.Listen })
	set("database-url", func() { base.DatabaseURL = flagged.DatabaseURL })
	set("token-file", func() { base.TokenFile = flagged.TokenFile })
	set("concurrency", func() { base.Concurrency = flagged.Concurrency })
	set("retries", func() { base.Retries = flagged.Retries })
	set("retry-backoff", func() { base.RetryBackoff = flagged.RetryBackoff })
	set("allow-impure", func() { base.AllowImpure = flagged.AllowImpure })
	set("url-allow", func() { base.URLAllow = flagged.URLAllow })
	set("url-deny", func() { base.URLDeny = flagged.URLDeny })
	set("allow-path", func() { base.AllowPath = flagged.AllowPath })
	set("max-body", func() { base.MaxBody = flagged.MaxBody })
	set("shutdown-grace", func() { base.ShutdownGrace = flagged.ShutdownGrace })
	set("node-timeout", func() { base.NodeTimeout = flagged.NodeTimeout })
	set("poll-interval", func() { base.PollInterval = flagged.PollInterval })
	set("log-lines", func() { base.LogLines = flagged.LogLines })
	set("retention", func() { base.Retention = flagged.Retention })
	set("idempotency-window", func() { base.IdempotencyWindow = flagged.IdempotencyWindow })
	set("request-timeout", func() { base.RequestTimeout = flagged.RequestTimeout })
	set("transfer-timeout", func() { base.TransferTimeout = flagged.TransferTimeout })
	set("idle-timeout", func() { base.IdleTimeout = flagged.IdleTimeout })
	set("max-connections", func() { base.MaxConnections = flagged.MaxConnections })
	set("blob-max-size", func() { base.BlobMaxSize = flagged.BlobMaxSize })
	set("blob-cache-size", func() { base.BlobCacheSize = flagged.BlobCacheSize })
	set("blob-grace", func() { base.BlobGrace = flagged.BlobGrace })
	return base
}
