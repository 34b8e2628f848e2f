package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/config"
)

// Exit statuses shared by every command; docs/cli.md lists them.
const (
	exitOK       = 0
	exitFailure  = 1 // berth itself failed
	exitBadInput = 2 // bad flags, configuration, addon or source
)

// loadConfig reads the configuration named by --config (or found on the
// search path) with BERTH_* overrides.
func loadConfig(cmd *cobra.Command) (config.Config, error) {
	file, _ := cmd.Flags().GetString("config")
	cfg, _, err := config.Load(file, os.Environ())
	if err != nil {
		return cfg, &exitError{exitBadInput, err}
	}
	return cfg, nil
}

// newLogger returns berth's logger (warnings only, unless verbose) and
// makes it the default, which packages log to when given none.
func newLogger(w io.Writer, cfg config.Config, verbose bool) *slog.Logger {
	l := buildLogger(w, cfg, verbose)
	slog.SetDefault(l)
	return l
}

func buildLogger(w io.Writer, cfg config.Config, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	switch strings.ToLower(cfg.Log.Level) {
	case "debug":
		level = slog.LevelDebug
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func badInput(format string, args ...any) error {
	return &exitError{exitBadInput, fmt.Errorf(format, args...)}
}
