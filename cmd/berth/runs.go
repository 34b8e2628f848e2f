package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/server/client"
	"github.com/berth-dev/berth/server/settings"
)

func init() { subcommands = append(subcommands, newRunsCmd, newEventsCmd) }

// exitRunFailed is the exit status of `events send --wait` when a run
// did not succeed.
const exitRunFailed = 3

// apiFlags adds --server and --token-file and returns a constructor for
// the client.
func apiFlags(cmd *cobra.Command) func() (*client.Client, error) {
	server := cmd.PersistentFlags().String("server", "", serverFlagUsage)
	tokenFile := cmd.PersistentFlags().String("token-file", "", tokenFileFlagUsage)
	return func() (*client.Client, error) { return newAPIClient(*server, *tokenFile) }
}

const (
	serverFlagUsage    = "daemon URL (default $BERTH_SERVER or " + client.DefaultURL + ")"
	tokenFileFlagUsage = "file with the API token, in serve's token-file format: the first token is used ('#' comments; default $BERTH_TOKEN)"
)

// newAPIClient is the client of the daemon at server (default
// $BERTH_SERVER, then client.DefaultURL) with the first token of
// tokenFile (default $BERTH_TOKEN).
func newAPIClient(server, tokenFile string) (*client.Client, error) {
	c := &client.Client{BaseURL: server, Token: os.Getenv("BERTH_TOKEN")}
	if c.BaseURL == "" {
		c.BaseURL = os.Getenv("BERTH_SERVER")
	}
	if c.BaseURL == "" {
		c.BaseURL = client.DefaultURL
	}
	if tokenFile != "" {
		// The format serve's token-file has: the first token is used.
		tokens, err := settings.ReadTokenFile(tokenFile)
		if err != nil {
			return nil, badInput("--token-file: %v", err)
		}
		if len(tokens) == 0 {
			return nil, badInput("--token-file %s: no token in it (one a line; '#' starts a comment)", tokenFile)
		}
		c.Token = tokens[0]
	}
	return c, nil
}

// apiError maps API errors to exit statuses: bad input for 4xx.
func apiError(err error) error {
	var ae *client.Error
	if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 {
		return &exitError{exitBadInput, err}
	}
	return err
}

func newRunsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List, show, follow and cancel the daemon's runs",
	}
	newClient := apiFlags(cmd)
	var asJSON bool
	var f client.RunFilter
	list := &cobra.Command{
		Use:   "list",
		Short: "List runs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.Limit < 0 {
				return badInput("--limit: must not be negative")
			}
			if f.PageSize < 1 || f.PageSize > client.MaxPageSize {
				return badInput("--page-size: want a number from 1 to %d", client.MaxPageSize)
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			runs, err := c.ListRuns(cmd.Context(), f)
			if err != nil {
				return apiError(err)
			}
			w := cmd.OutOrStdout()
			if asJSON {
				// The API's shape, {"runs": [...]}, with every page's runs.
				// Assembled from the raw objects so that each keeps the
				// API's key order and escaping.
				var raw bytes.Buffer
				raw.WriteString(`{"runs":[`)
				for i, r := range runs {
					if i > 0 {
						raw.WriteByte(',')
					}
					raw.Write(r.Raw)
				}
				raw.WriteString("]}")
				return printRaw(w, raw.Bytes())
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tATTEMPTS\tTRIGGER\tADDONS\tCREATED")
			for _, r := range runs {
				var names []string
				for _, a := range r.Addons {
					names = append(names, a.Name)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%s\t%s\n", r.ID, r.State, r.Attempts, r.MaxAttempts, r.Trigger, strings.Join(names, ","), r.CreatedAt.Local().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&f.State, "state", "", "only runs in this state (queued, running, succeeded, failed, cancelled)")
	// Not --config: that is the global configuration file.
	list.Flags().StringVar(&f.ConfigID, "run-config", "", "only runs of this run configuration (its id)")
	list.Flags().StringVar(&f.Trigger, "trigger", "", "only runs with this trigger (manual, existing-item, scheduled …)")
	list.Flags().StringVar(&f.AddonID, "addon", "", "only runs with this addon (its id) among their steps")
	list.Flags().IntVar(&f.Limit, "limit", 50, "at most this many runs (0: every run)")
	list.Flags().IntVar(&f.PageSize, "page-size", client.MaxPageSize, "runs fetched per request (1 to 1000)")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	show := &cobra.Command{
		Use:   "show RUN",
		Short: "Show a run with its result",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			r, err := c.GetRun(cmd.Context(), args[0])
			if err != nil {
				return apiError(err)
			}
			return printRun(cmd.OutOrStdout(), r)
		},
	}
	output := &cobra.Command{
		Use:   "output RUN",
		Short: "Print a succeeded run's whole output (JSON)",
		Long: `output prints a succeeded run's combined output as the daemon stored it.
"runs show" carries the output only up to 1 MiB; this has it whole.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			if err := c.RunOutput(cmd.Context(), args[0], cmd.OutOrStdout()); err != nil {
				return apiError(err)
			}
			return nil
		},
	}
	var follow, showStream bool
	var after string
	logs := &cobra.Command{
		Use:   "logs RUN",
		Short: "Print a run's log: stderr and build output of every attempt; -f follows it",
		Long: `logs prints the lines the daemon stored for a run: its addons' stderr
("[addon] line"), the output of the docker or nix builds it needed, and a
line where each attempt starts. Every attempt's lines are kept, within
serve.log-lines per run; a marker line says how many were dropped.

With -f (--follow) it prints the lines as they are stored, from any node
of the cluster, until the run ends (reconnecting and resuming without
loss when the connection breaks), and exits 3 when it did not succeed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			print := func(l client.LogLine) error {
				if showStream {
					_, err := fmt.Fprintf(w, "%s %d %-6s %s\n", l.Time.Local().Format(time.TimeOnly), l.Attempt, l.Stream, l.Line)
					return err
				}
				_, err := fmt.Fprintln(w, l.Line)
				return err
			}
			if follow {
				state, err := c.FollowLogs(cmd.Context(), args[0], after, print)
				if err != nil {
					return apiError(err)
				}
				if state != "succeeded" {
					return &exitError{exitRunFailed, fmt.Errorf("run %s is %s", args[0], state)}
				}
				return nil
			}
			l, err := c.RunLogs(cmd.Context(), args[0], after)
			if err != nil {
				return apiError(err)
			}
			for _, line := range l.Lines {
				if err := print(line); err != nil {
					return err
				}
			}
			return nil
		},
	}
	logs.Flags().BoolVarP(&follow, "follow", "f", false, "print lines as they come until the run ends")
	logs.Flags().BoolVar(&showStream, "long", false, "prefix each line with its time, attempt and stream (stderr, build, berth)")
	logs.Flags().StringVar(&after, "after", "", "start after this cursor (a line's cursor from the API)")
	cancel := &cobra.Command{
		Use:   "cancel RUN",
		Short: "Cancel a queued or running run",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			r, err := c.CancelRun(cmd.Context(), args[0])
			if err != nil {
				return apiError(err)
			}
			if r.State == "cancelled" {
				fmt.Fprintf(cmd.OutOrStdout(), "%s cancelled\n", r.ID)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "%s is %s: cancelling\n", r.ID, r.State)
			}
			return nil
		},
	}
	rerun := &cobra.Command{
		Use:   "rerun RUN",
		Short: "Queue a new run with a run's configuration, item, files and trigger",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			r, err := c.RerunRun(cmd.Context(), args[0])
			if err != nil {
				return apiError(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\n", r.ID, r.State)
			return nil
		},
	}
	// JSON is show's only format; --json lets a script say so, as for list.
	show.Flags().Bool("json", false, "print JSON (the default and only format: the API's object)")
	cmd.AddCommand(list, show, output, logs, cancel, rerun)
	return cmd
}

// printRun prints the run's JSON as the API gave it, indented, its keys
// in the API's order.
func printRun(w io.Writer, r client.Run) error { return printRaw(w, r.Raw) }

// printRaw prints JSON indented, changing nothing else.
func printRaw(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := buf.WriteTo(w)
	return err
}

func newEventsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Send events to the daemon",
	}
	newClient := apiFlags(cmd)
	var ev client.Event
	var itemFile, argsFile string
	var wait, showLogs bool
	var idemKey string
	var timeout time.Duration
	send := &cobra.Command{
		Use:   "send",
		Short: "Send an event: every enabled run configuration with its trigger runs",
		Long: `send posts an event with optional item data and files; the daemon queues a
run of every enabled run configuration with the trigger. With --wait it
waits for the runs and exits 3 when one did not succeed; --logs then
prints their log lines to stderr as they come.

Each invocation sends an Idempotency-Key header (--idempotency-key, or a
random one): if the answer is lost and the request is sent again with
the same key, the daemon answers with the runs it queued the first time
and queues no new ones, whichever node the resend reaches.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			if ev.Trigger == "" {
				return badInput("--trigger is required")
			}
			for _, x := range []struct {
				file string
				dst  *json.RawMessage
			}{{itemFile, &ev.Item}, {argsFile, &ev.ItemArgs}} {
				if x.file == "" {
					continue
				}
				data, err := os.ReadFile(x.file)
				if err != nil {
					return badInput("%v", err)
				}
				if !json.Valid(data) {
					return badInput("%s: not JSON", x.file)
				}
				*x.dst = data
			}
			if showLogs && !wait {
				return badInput("--logs needs --wait")
			}
			if idemKey == "" {
				idemKey = newIdempotencyKey()
			}
			runs, err := c.SendEvent(cmd.Context(), ev, idemKey)
			if err != nil {
				return apiError(err)
			}
			w := cmd.OutOrStdout()
			if len(runs) == 0 {
				fmt.Fprintf(w, "no enabled run configuration has the trigger %s\n", ev.Trigger)
				return nil
			}
			failed := 0
			for _, r := range runs {
				if wait {
					ctx := cmd.Context()
					if timeout > 0 {
						var cancel func()
						ctx, cancel = context.WithTimeout(ctx, timeout)
						defer cancel()
					}
					if showLogs {
						// The lines go to stderr, the runs' states to stdout.
						ew := cmd.ErrOrStderr()
						if _, err := c.FollowLogs(ctx, r.ID, "", func(l client.LogLine) error {
							_, err := fmt.Fprintf(ew, "%s: %s\n", r.ID, l.Line)
							return err
						}); err != nil {
							return apiError(err)
						}
					}
					if r, err = c.Wait(ctx, r.ID, 100*time.Millisecond); err != nil {
						return err
					}
					if r.State != "succeeded" {
						failed++
					}
					fmt.Fprintf(w, "%s\t%s\t%s\n", r.ID, r.State, r.Error)
					continue
				}
				fmt.Fprintf(w, "%s\t%s\n", r.ID, r.State)
			}
			if failed > 0 {
				return &exitError{exitRunFailed, fmt.Errorf("%d of %d runs did not succeed", failed, len(runs))}
			}
			return nil
		},
	}
	fl := send.Flags()
	fl.StringVar(&ev.Trigger, "trigger", "", "the event: final-process-item, final-reprocess-item, existing-item or scheduled")
	fl.StringVar(&itemFile, "item", "", "JSON file with the item data")
	fl.StringVar(&argsFile, "item-args", "", "JSON file with the item arguments")
	fl.StringArrayVar(&ev.Originals, "original", nil, "an original file of the item (repeatable)")
	fl.StringArrayVar(&ev.Pdfs, "pdf", nil, "a PDF of the item (repeatable)")
	fl.BoolVar(&wait, "wait", false, "wait for the runs to end")
	fl.DurationVar(&timeout, "timeout", 0, "with --wait, give up after this long")
	fl.BoolVar(&showLogs, "logs", false, "with --wait, print each run's log lines (stderr, build output) to stderr as they come")
	fl.StringVar(&idemKey, "idempotency-key", "", "the event's Idempotency-Key: a resend with the same key within serve.idempotency-window returns the same runs and queues none (default: a random key per invocation, so this command's own retries are safe)")
	cmd.AddCommand(send)
	return cmd
}

// newIdempotencyKey returns a random key for one `events send`.
func newIdempotencyKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "berth-cli-" + hex.EncodeToString(b)
}
