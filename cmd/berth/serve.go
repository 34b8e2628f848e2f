package main

import (
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/server"
	"github.com/berth-dev/berth/server/settings"
)

func init() { subcommands = append(subcommands, newServeCmd) }

func newServeCmd() *cobra.Command {
	set := settings.Default()
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
			if v := os.Getenv("BERTH_SERVE_TOKENS"); v != "" && len(set.Tokens) == 0 {
				set.Tokens = strings.Split(v, ",")
			}
			if v := os.Getenv("BERTH_SERVE_DATABASE_URL"); v != "" && !cmd.Flags().Changed("database-url") {
				set.DatabaseURL = v
			}
			if err := set.Validate(); err != nil {
				return badInput("%v", err)
			}
			// A daemon logs every run (info level) unless log.level says less.
			log := newLogger(cmd.ErrOrStderr(), cfg, true)
			srv, err := server.New(cmd.Context(), cfg, set, server.Options{Logger: log, NodeID: nodeID})
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
	f.StringSliceVar(&set.URLAllow, "url-allow", set.URLAllow, "patterns an addon URL must match ('*' matches anything)")
	f.StringSliceVar(&set.URLDeny, "url-deny", set.URLDeny, "patterns an addon URL must not match")
	f.BoolVar(&set.AllowPath, "allow-path", set.AllowPath, "allow installing addons from a directory on this machine")
	f.Var(&set.MaxBody, "max-body", "largest request body (e.g. 64MiB)")
	f.Var(&set.ShutdownGrace, "shutdown-grace", "how long running jobs may finish after a stop signal")
	f.Var(&set.NodeTimeout, "node-timeout", "missed-heartbeat time after which a node's runs go to another node")
	f.Var(&set.PollInterval, "poll-interval", "how often an idle node looks for jobs")
	f.IntVar(&set.LogLines, "log-lines", set.LogLines, "log lines kept per run")
	f.StringVar(&dataDir, "data-dir", "", "directory for the SQLite database, installed addons and run outputs (default: data-dir of berth.yaml)")
	f.StringVar(&nodeID, "node-id", "", "name of this node (default: host name and a random suffix)")
	return cmd
}
