package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/server/client"
)

func init() { subcommands = append(subcommands, newConfigsCmd) }

// configFlags are the flags that create and edit a run configuration
// without a file.
type configFlags struct {
	file, name, schedule, webhook, hostURL string
	triggers, addons                       []string
	disabled                               bool
}

func (f *configFlags) add(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVarP(&f.file, "file", "f", "", "the configuration as YAML or JSON (the API's keys: name, enabled, trigger, schedule, addons, webhook, hostUrl); '-' reads stdin")
	fl.StringVar(&f.name, "name", "", "the configuration's name")
	fl.StringArrayVar(&f.triggers, "trigger", nil, "a trigger (final-process-item, final-reprocess-item, existing-item, scheduled); repeatable")
	fl.StringVar(&f.schedule, "schedule", "", "cron expression for the scheduled trigger (minute hour day-of-month month day-of-week, @every 1h, @daily)")
	fl.StringArrayVar(&f.addons, "addon", nil, "ADDON[=ARGS]: an addon (id, name or name-version) with its user input, in chain order; repeatable")
	fl.BoolVar(&f.disabled, "disabled", false, "create or set it disabled (no event or schedule runs it)")
	fl.StringVar(&f.webhook, "webhook", "", "URL that receives each final run (POST)")
	fl.StringVar(&f.hostURL, "host-url", "", "the host application's URL, given to runs as DSC_DOCSPELL_URL")
}

func newConfigsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "configs",
		Aliases: []string{"run-configs"},
		Short:   "List, create, edit, enable, disable, delete and run the daemon's run configurations",
		Long: `configs manages a berth daemon's run configurations through its HTTP API.
A CONFIG is its id or its name.`,
	}
	newClient := apiFlags(cmd)
	var asJSON bool
	jsonFlag := func(c *cobra.Command) {
		c.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON")
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List the run configurations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			l, err := c.ListRunConfigs(cmd.Context())
			if err != nil {
				return apiError(err)
			}
			if asJSON {
				return printRaw(cmd.OutOrStdout(), l.Raw)
			}
			names := addonNames(cmd.Context(), c)
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tENABLED\tTRIGGERS\tSCHEDULE\tADDONS")
			for _, rc := range l.RunConfigs {
				var as []string
				for _, a := range rc.Addons {
					as = append(as, cmpOr(names[a.AddonID], a.AddonID))
				}
				fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\t%s\n", rc.ID, rc.Name, rc.Enabled, strings.Join(rc.Trigger, ","), cmpOr(rc.Schedule, "-"), strings.Join(as, " → "))
			}
			return tw.Flush()
		},
	}
	jsonFlag(list)

	show := &cobra.Command{
		Use:   "show CONFIG",
		Short: "Show a run configuration",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			rc, err := resolveConfig(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			return printConfig(cmd.Context(), cmd.OutOrStdout(), c, rc, asJSON)
		},
	}
	jsonFlag(show)

	var cf configFlags
	create := &cobra.Command{
		Use:   "create [-f FILE | --name NAME --trigger T --addon ADDON[=ARGS]...]",
		Short: "Create a run configuration from a YAML/JSON file or from flags",
		Long: `create makes a run configuration. With -f the file holds it in the API's
shape (YAML or JSON); flags given beside it override its fields. An
addon is named by id, name or name-version, in the file's addonId too.
It is enabled unless --disabled (or enabled: false in the file).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			body, err := cf.build(cmd, c, nil)
			if err != nil {
				return err
			}
			rc, err := c.CreateRunConfig(cmd.Context(), body)
			if err != nil {
				return cf.apiError(err)
			}
			return printConfig(cmd.Context(), cmd.OutOrStdout(), c, rc, asJSON)
		},
	}
	cf.add(create)
	jsonFlag(create)

	edit := &cobra.Command{
		Use:   "edit CONFIG [-f FILE] [flags]",
		Short: "Change a run configuration: replace it with a file, or change the fields given as flags",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			old, err := resolveConfig(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			body, err := cf.build(cmd, c, &old)
			if err != nil {
				return err
			}
			rc, err := c.ReplaceRunConfig(cmd.Context(), old.ID, body)
			if err != nil {
				return cf.apiError(err)
			}
			return printConfig(cmd.Context(), cmd.OutOrStdout(), c, rc, asJSON)
		},
	}
	cf.add(edit)
	edit.Flags().Bool("enabled", false, "set it enabled")
	jsonFlag(edit)

	setEnabled := func(use, short string, enabled bool) *cobra.Command {
		c := &cobra.Command{
			Use:   use + " CONFIG",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := newClient()
				if err != nil {
					return err
				}
				old, err := resolveConfig(cmd.Context(), c, args[0])
				if err != nil {
					return err
				}
				rc, err := c.SetRunConfigEnabled(cmd.Context(), old.ID, enabled)
				if err != nil {
					return apiError(err)
				}
				if asJSON {
					return printRaw(cmd.OutOrStdout(), rc.Raw)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s (%s) %sd\n", rc.ID, rc.Name, use)
				return nil
			},
		}
		jsonFlag(c)
		return c
	}

	del := &cobra.Command{
		Use:     "delete CONFIG",
		Aliases: []string{"rm", "remove"},
		Short:   "Delete a run configuration (its runs stay)",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			rc, err := resolveConfig(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			if err := c.DeleteRunConfig(cmd.Context(), rc.ID); err != nil {
				return apiError(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s (%s)\n", rc.ID, rc.Name)
			return nil
		},
	}

	var itemFile, argsFile string
	var req client.RunRequest
	var wait bool
	var timeout time.Duration
	run := &cobra.Command{
		Use:   "run CONFIG [--item FILE] [--original FILE]... [--pdf FILE]... [--wait]",
		Short: "Run a configuration now, on an item's data and files",
		Long: `run queues a run of the configuration now (trigger manual, enabled or
not). With --wait it follows the run to its end, prints its result and
exits 3 when it did not succeed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, x := range []struct {
				flag, file string
				dst        *json.RawMessage
			}{{"--item", itemFile, &req.Item}, {"--item-args", argsFile, &req.ItemArgs}} {
				if x.file == "" {
					continue
				}
				data, err := os.ReadFile(x.file)
				if err != nil {
					return badInput("%s: %v", x.flag, err)
				}
				var obj map[string]any
				if err := json.Unmarshal(data, &obj); err != nil {
					return badInput("%s %s: not a JSON object: %v", x.flag, x.file, err)
				}
				*x.dst = data
			}
			for _, f := range append(append([]string{}, req.Originals...), req.Pdfs...) {
				if fi, err := os.Stat(f); err != nil || !fi.Mode().IsRegular() {
					return badInput("%s: not a readable file", f)
				}
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			rc, err := resolveConfig(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			req.ConfigID = rc.ID
			r, err := c.CreateRun(cmd.Context(), req)
			if err != nil {
				return apiError(err)
			}
			if wait {
				ctx := cmd.Context()
				if timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, timeout)
					defer cancel()
				}
				if r, err = c.Wait(ctx, r.ID, 100*time.Millisecond); err != nil {
					return err
				}
			}
			w := cmd.OutOrStdout()
			if asJSON {
				if err := printRun(w, r); err != nil {
					return err
				}
			} else if wait {
				fmt.Fprintf(w, "%s\t%s\t%s\n", r.ID, r.State, r.Error)
			} else {
				fmt.Fprintf(w, "%s\t%s\n", r.ID, r.State)
			}
			if wait && r.State != "succeeded" {
				return &exitError{exitRunFailed, fmt.Errorf("run %s %s", r.ID, r.State)}
			}
			return nil
		},
	}
	fl := run.Flags()
	fl.StringVar(&itemFile, "item", "", "JSON file with the item data")
	fl.StringVar(&argsFile, "item-args", "", "JSON file with the item arguments")
	fl.StringArrayVar(&req.Originals, "original", nil, "an original file of the item (repeatable)")
	fl.StringArrayVar(&req.Pdfs, "pdf", nil, "a PDF of the item (repeatable)")
	fl.StringVar(&req.Trigger, "trigger", "", "the run's trigger (default manual)")
	fl.BoolVar(&wait, "wait", false, "wait for the run to end")
	fl.DurationVar(&timeout, "timeout", 0, "with --wait, give up after this long")
	jsonFlag(run)

	var count int
	schedule := &cobra.Command{
		Use:   "schedule EXPR",
		Short: "Print the next firings of a cron expression, as the daemon computes them",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			next, err := c.SchedulePreview(cmd.Context(), args[0], count)
			if err != nil {
				return apiError(err)
			}
			for _, t := range next {
				fmt.Fprintln(cmd.OutOrStdout(), t.Local().Format("Mon 2006-01-02 15:04:05 MST"))
			}
			return nil
		},
	}
	schedule.Flags().IntVar(&count, "count", 5, "how many firings (1 to 100)")

	cmd.AddCommand(list, show, create, edit,
		setEnabled("enable", "Enable a run configuration: its triggers and schedule run it", true),
		setEnabled("disable", "Disable a run configuration: no event or schedule runs it", false),
		del, run, schedule)
	return cmd
}

// build makes the JSON body of a create (old nil) or an edit: the file
// (if any), else the old configuration, with the flags given applied.
func (f *configFlags) build(cmd *cobra.Command, c *client.Client, old *client.RunConfig) (json.RawMessage, error) {
	var doc map[string]any
	switch {
	case f.file != "":
		var data []byte
		var err error
		if f.file == "-" {
			data, err = io.ReadAll(cmd.InOrStdin())
		} else {
			data, err = os.ReadFile(f.file)
		}
		if err != nil {
			return nil, badInput("-f: %v", err)
		}
		js, err := yaml.YAMLToJSON(data)
		if err != nil {
			return nil, badInput("%s: not YAML or JSON: %v", f.file, err)
		}
		if err := json.Unmarshal(js, &doc); err != nil || doc == nil {
			return nil, badInput("%s: want a mapping (name, trigger, addons, …) at the top", f.file)
		}
		if _, ok := doc["enabled"]; !ok && old == nil {
			doc["enabled"] = true
		}
	case old != nil:
		b, _ := json.Marshal(old)
		json.Unmarshal(b, &doc)
	default:
		doc = map[string]any{"enabled": true}
	}
	delete(doc, "id")
	delete(doc, "createdAt")
	delete(doc, "updatedAt")
	fl := cmd.Flags()
	if fl.Changed("name") {
		doc["name"] = f.name
	}
	if fl.Changed("trigger") {
		doc["trigger"] = f.triggers
	}
	if fl.Changed("schedule") {
		doc["schedule"] = f.schedule
	} else if fl.Changed("trigger") && old != nil && f.file == "" {
		// Dropping the scheduled trigger drops its schedule.
		scheduled := false
		for _, t := range f.triggers {
			scheduled = scheduled || strings.EqualFold(t, "scheduled")
		}
		if !scheduled {
			delete(doc, "schedule")
		}
	}
	if fl.Changed("webhook") {
		doc["webhook"] = f.webhook
	}
	if fl.Changed("host-url") {
		doc["hostUrl"] = f.hostURL
	}
	if fl.Changed("disabled") {
		doc["enabled"] = !f.disabled
	}
	if fl.Lookup("enabled") != nil && fl.Changed("enabled") {
		on, _ := fl.GetBool("enabled")
		doc["enabled"] = on
	}
	if fl.Changed("addon") {
		var as []map[string]string
		for _, spec := range f.addons {
			ref, args, _ := strings.Cut(spec, "=")
			as = append(as, map[string]string{"addonId": ref, "args": args})
		}
		doc["addons"] = as
	}
	if f.file == "" && old == nil {
		var missing []string
		for _, k := range []string{"name", "trigger", "addon"} {
			if !fl.Changed(k) {
				missing = append(missing, "--"+k)
			}
		}
		if len(missing) > 0 {
			return nil, badInput("give -f FILE, or %s", strings.Join(missing, ", "))
		}
	}
	// Addons may be named by name or name-version, in the file too.
	if list, ok := doc["addons"].([]any); ok {
		for i, x := range list {
			m, ok := x.(map[string]any)
			if !ok {
				continue
			}
			ref, _ := m["addonId"].(string)
			if ref == "" {
				continue
			}
			a, err := resolveAddon(cmd.Context(), c, ref)
			if err != nil {
				return nil, fmt.Errorf("%saddons[%d].addonId: %w", f.where(), i, err)
			}
			m["addonId"] = a.ID
		}
	} else if list, ok := doc["addons"].([]map[string]string); ok {
		for i, m := range list {
			a, err := resolveAddon(cmd.Context(), c, m["addonId"])
			if err != nil {
				return nil, fmt.Errorf("--addon %d: %w", i+1, err)
			}
			m["addonId"] = a.ID
		}
	}
	b, err := json.Marshal(doc)
	return b, err
}

// where prefixes an error about the configuration with its file.
func (f *configFlags) where() string {
	if f.file == "" || f.file == "-" {
		return ""
	}
	return f.file + ": "
}

// apiError is apiError with the file named.
func (f *configFlags) apiError(err error) error {
	var ae *client.Error
	if f.where() != "" && errors.As(err, &ae) {
		return apiError(fmt.Errorf("%s%w", f.where(), err))
	}
	return apiError(err)
}

// resolveConfig finds a run configuration by id or name.
func resolveConfig(ctx context.Context, c *client.Client, ref string) (client.RunConfig, error) {
	rc, err := c.GetRunConfig(ctx, ref)
	var ae *client.Error
	if err == nil || !errors.As(err, &ae) || ae.Status != 404 {
		return rc, apiError(err)
	}
	l, err := c.ListRunConfigs(ctx)
	if err != nil {
		return rc, apiError(err)
	}
	var found []client.RunConfig
	for _, x := range l.RunConfigs {
		if x.Name == ref {
			found = append(found, x)
		}
	}
	switch len(found) {
	case 0:
		return rc, badInput("no run configuration %q (give an id or a name; see berth configs list)", ref)
	case 1:
		return found[0], nil
	}
	var ids []string
	for _, x := range found {
		ids = append(ids, x.ID)
	}
	return rc, badInput("%q names %d run configurations (%s): give the id", ref, len(found), strings.Join(ids, ", "))
}

// addonNames maps addon ids to name-version, for tables (empty when the
// list cannot be read: the ids are shown instead).
func addonNames(ctx context.Context, c *client.Client) map[string]string {
	out := map[string]string{}
	if l, err := c.ListAddons(ctx); err == nil {
		for _, a := range l.Addons {
			out[a.ID] = a.Name + "-" + a.Version
		}
	}
	return out
}

func printConfig(ctx context.Context, w io.Writer, c *client.Client, rc client.RunConfig, asJSON bool) error {
	if asJSON {
		return printRaw(w, rc.Raw)
	}
	names := addonNames(ctx, c)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id:\t%s\n", rc.ID)
	fmt.Fprintf(tw, "name:\t%s\n", rc.Name)
	fmt.Fprintf(tw, "enabled:\t%t\n", rc.Enabled)
	fmt.Fprintf(tw, "triggers:\t%s\n", strings.Join(rc.Trigger, ", "))
	if rc.Schedule != "" {
		fmt.Fprintf(tw, "schedule:\t%s\n", rc.Schedule)
		if next, err := c.SchedulePreview(ctx, rc.Schedule, 3); err == nil {
			for _, t := range next {
				fmt.Fprintf(tw, "\tnext: %s\n", t.Local().Format("Mon 2006-01-02 15:04 MST"))
			}
		}
	}
	for i, a := range rc.Addons {
		fmt.Fprintf(tw, "addon %d:\t%s  args: %q\n", i+1, cmpOr(names[a.AddonID], a.AddonID), a.Args)
	}
	if rc.Webhook != "" {
		fmt.Fprintf(tw, "webhook:\t%s\n", rc.Webhook)
	}
	if rc.HostURL != "" {
		fmt.Fprintf(tw, "host URL:\t%s\n", rc.HostURL)
	}
	return tw.Flush()
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
