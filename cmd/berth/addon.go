package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth"
	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/config"
	"github.com/berth-dev/berth/executor"
)

func init() { subcommands = append(subcommands, newAddonCmd) }

func newAddonCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "addon",
		Short: "Check, scaffold and run addons",
		Long: `An addon is a directory, a .zip or an http(s) URL of a zip holding a
Docspell addon descriptor (docspell-addon.json, .yaml or .yml). A URL
may not lead to loopback or private addresses unless outbound.allow-loopback,
outbound.allow-private or outbound.allow-nets says so (docs/configuration.md).`,
	}
	cmd.AddCommand(newAddonRunCmd(), newAddonCheckCmd(), newAddonNewCmd(), newAddonBuildCmd())
	return cmd
}

// openedAddon is an addon whose files are on disk until cleanup.
type openedAddon struct {
	*addon.Addon
	cleanup func()
}

// openAddons fetches and loads each source; on error nothing is left.
func openAddons(cmd *cobra.Command, cfg config.Config, sources []string) ([]openedAddon, func(), error) {
	var out []openedAddon
	cleanupAll := func() {
		for _, a := range out {
			a.cleanup()
		}
	}
	tmp := filepath.Join(cfg.WorkingDir, "sources")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, nil, fmt.Errorf("creating %s: %w", tmp, err)
	}
	for _, src := range sources {
		dir, cleanup, err := addon.Fetch(cmd.Context(), src, tmp, berth.UnpackLimits(cfg), cfg.OutboundPolicy())
		if err != nil {
			cleanupAll()
			return nil, nil, &exitError{exitBadInput, err}
		}
		a, err := addon.Load(dir)
		if err != nil {
			cleanup()
			cleanupAll()
			return nil, nil, &exitError{exitBadInput, fmt.Errorf("addon %s: %w", addon.DisplaySource(src), err)}
		}
		out = append(out, openedAddon{a, cleanup})
	}
	return out, cleanupAll, nil
}

func newAddonCheckCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check SOURCE...",
		Short: "Validate addons and summarise their descriptors",
		Long: `check fetches and validates each addon and prints its name, version,
triggers, enabled runners and whether it is pure, and a warning for each
thing berth accepts that Docspell would refuse ("Docspell would refuse
this: ..."). It exits 2 when an addon is invalid, naming the file, field
and reason. It changes nothing in the addon's directory.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			addons, cleanup, err := openAddons(cmd, cfg, args)
			if err != nil {
				return err
			}
			defer cleanup()
			w := cmd.OutOrStdout()
			var summaries []addonSummary
			for _, a := range addons {
				summaries = append(summaries, summarize(a.Addon))
			}
			if asJSON {
				return writeJSON(w, summaries)
			}
			for i, s := range summaries {
				if i > 0 {
					fmt.Fprintln(w)
				}
				s.print(w)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summaries as JSON")
	return cmd
}

type addonSummary struct {
	Name        string   `json:"name"`
	Version     string   `json:"version"`
	Description string   `json:"description,omitempty"`
	Descriptor  string   `json:"descriptor"`
	Triggers    []string `json:"triggers"`
	Runners     []string `json:"runners"`
	Pure        bool     `json:"pure"`
	Networking  bool     `json:"networking"`
	Collect     bool     `json:"collectOutput"`
	// Warnings: what Docspell would refuse, runners that cannot be used.
	Warnings []string `json:"warnings,omitempty"`
}

func summarize(a *addon.Addon) addonSummary {
	s := addonSummary{
		Name: a.Meta.Name, Version: a.Meta.Version, Description: strings.TrimSpace(a.Meta.Description),
		Descriptor: filepath.Base(a.File), Triggers: []string{}, Runners: a.Runners(),
		Pure: a.Pure(), Networking: a.Options.Networking, Collect: a.Options.CollectOutput,
		Warnings: a.Warnings,
	}
	for _, t := range a.Triggers {
		s.Triggers = append(s.Triggers, string(t))
	}
	return s
}

func (s addonSummary) print(w io.Writer) {
	purity := "pure (no network, output collected)"
	if !s.Pure {
		purity = fmt.Sprintf("impure (networking: %t, collectOutput: %t)", s.Networking, s.Collect)
	}
	triggers := strings.Join(s.Triggers, ", ")
	if triggers == "" {
		triggers = "(none)"
	}
	fmt.Fprintf(w, "name:     %s\nversion:  %s\n", s.Name, s.Version)
	if s.Description != "" {
		fmt.Fprintf(w, "about:    %s\n", firstLineOf(s.Description))
	}
	fmt.Fprintf(w, "file:     %s\ntriggers: %s\nrunners:  %s\nkind:     %s\n", s.Descriptor, triggers, strings.Join(s.Runners, ", "), purity)
	for _, warn := range s.Warnings {
		fmt.Fprintf(w, "warning:  %s\n", warn)
	}
}

func firstLineOf(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

type runFlags struct {
	args, argsFile               string
	itemData, itemArgs           string
	itemOriginals, itemPdfs      string
	itemPdf, itemOriginal        []string
	itemFiles                    string
	envFile                      string
	runners                      []string
	timeout                      time.Duration
	outputDir, cacheKey, sandbox string
	asJSON, verbose, noFailFast  bool
}

func newAddonRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run SOURCE...",
		Short: "Run one addon, or several as one chain",
		Long: `run executes the addons in order as one run configuration: they share the
working directory, OUTPUT_DIR and CACHE_DIR. The combined output is
printed only when every addon succeeded.

Exit status: 0 success, 2 bad input (flags, configuration, addon),
3 execution-error (the addon exited non-zero), 4 execution-failed (could
not run: no runner, build failure, timeout, output too large),
5 decoding-error (the addon's stdout is not valid output), 1 other errors.`,
		Example: `  berth addon run examples/hello --args 'hi there'
  berth addon run ./a ./b.zip https://example.org/c.zip --json
  berth addon run examples/hello --item-data item.json --item-pdfs ./pdfs -v
  berth addon run ./swiss-qr --item-data item.json --item-pdf a1=scan.pdf --item-original a1=scan.jpg
  berth addon run ./swiss-qr --item-data item.json --item-files attachments.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runAddons(cmd, args, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.args, "args", "", "user input string, written to arguments/user-input")
	fl.StringVar(&f.argsFile, "args-file", "", "read the user input from this file")
	fl.StringVar(&f.itemData, "item-data", "", "item-data.json for ITEM_DATA_JSON")
	fl.StringVar(&f.itemArgs, "item-args", "", "given-data.json for ITEM_ARGS_JSON")
	fl.StringVar(&f.itemOriginals, "item-originals", "", "directory of original files for ITEM_ORIGINAL_DIR")
	fl.StringVar(&f.itemPdfs, "item-pdfs", "", "directory of PDF files for ITEM_PDF_DIR (ids derived from the names)")
	fl.StringArrayVar(&f.itemPdf, "item-pdf", nil, "one attachment's PDF, [ID=]PATH, copied to item/pdfs/ID (repeatable)")
	fl.StringArrayVar(&f.itemOriginal, "item-original", nil, "one attachment's original, [ID=]PATH, copied to item/originals/ID (repeatable)")
	fl.StringVar(&f.itemFiles, "item-files", "", "JSON manifest of attachments: {\"pdfs\": [{\"id\", \"name\", \"file\", \"language\", \"mimetype\"}], \"originals\": [...]}")
	fl.StringVar(&f.envFile, "env-file", "", "the run's own variables (secrets such as DSC_SESSION), NAME=VALUE lines; never put them in argv")
	fl.StringSliceVar(&f.runners, "runners", nil, "runner preference list (default from config: wasm,nix-flake,docker,trivial)")
	fl.DurationVar(&f.timeout, "timeout", 0, "time limit per addon (default from config: 15m)")
	fl.StringVar(&f.outputDir, "output-dir", "", "keep the output files in this directory (only on success)")
	fl.StringVar(&f.cacheKey, "cache-key", "", "name of the CACHE_DIR (default: the addon names); share it between addons")
	fl.StringVar(&f.sandbox, "sandbox", "", "sandbox for trivial and nix-flake runs: auto, none, nspawn, builtin")
	fl.BoolVar(&f.asJSON, "json", false, "print the result as one JSON object")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "show the addons' stderr live and berth's progress")
	fl.BoolVar(&f.noFailFast, "no-fail-fast", false, "run every addon even after one failed")
	return cmd
}

func runAddons(cmd *cobra.Command, sources []string, f runFlags) error {
	cfg, err := loadConfig(cmd)
	if err != nil {
		return err
	}
	if cmd.Flags().Changed("args") && cmd.Flags().Changed("args-file") {
		return badInput("--args and --args-file cannot be used together")
	}
	if f.timeout < 0 {
		return badInput("--timeout: %s is negative", f.timeout)
	}
	if len(f.runners) > 0 {
		cfg.Runners = f.runners
	}
	if f.timeout > 0 {
		cfg.RunTimeout = config.Duration(f.timeout)
	}
	if f.sandbox != "" {
		cfg.Sandbox = f.sandbox
	}
	if err := cfg.Validate("command line"); err != nil {
		return &exitError{exitBadInput, err}
	}
	userInput := f.args
	if f.argsFile != "" {
		b, err := os.ReadFile(f.argsFile)
		if err != nil {
			return badInput("--args-file: %w", err)
		}
		userInput = string(b)
	}
	if f.outputDir != "" {
		if fi, err := os.Stat(f.outputDir); err == nil && !fi.IsDir() {
			return badInput("--output-dir: %s is not a directory", f.outputDir)
		}
	}
	item, err := itemFromFlags(f)
	if err != nil {
		return err
	}
	addons, cleanup, err := openAddons(cmd, cfg, sources)
	if err != nil {
		return err
	}
	defer cleanup()

	stderr := cmd.ErrOrStderr()
	opt := berth.Options{Logger: newLogger(stderr, cfg, f.verbose)}
	if f.verbose {
		opt.Stderr = stderr
	}
	ex := berth.NewExecutor(cmd.Context(), cfg, opt)
	req := executor.Request{Item: item, CacheKey: f.cacheKey, OutputDir: f.outputDir, NoFailFast: f.noFailFast}
	if f.envFile != "" {
		if req.Env, err = executor.ReadEnvFile(f.envFile); err != nil {
			return badInput("--env-file: %w", err)
		}
	}
	for _, a := range addons {
		req.Steps = append(req.Steps, executor.Step{Addon: a.Addon, UserInput: userInput})
	}
	res, err := ex.Run(cmd.Context(), req)
	if err != nil {
		if errors.Is(err, executor.ErrBadRequest) {
			return &exitError{exitBadInput, err}
		}
		return err
	}
	if f.asJSON {
		if err := writeJSON(cmd.OutOrStdout(), res); err != nil {
			return err
		}
	} else {
		printResult(cmd.OutOrStdout(), res)
	}
	if res.Kind != executor.Success {
		return &exitError{res.Kind.ExitCode(), fmt.Errorf("%s: %s", res.Kind, res.Error)}
	}
	return nil
}

func itemFromFlags(f runFlags) (*executor.Item, error) {
	if f.itemData == "" && f.itemArgs == "" && f.itemOriginals == "" && f.itemPdfs == "" &&
		len(f.itemPdf) == 0 && len(f.itemOriginal) == 0 && f.itemFiles == "" {
		return nil, nil
	}
	it := &executor.Item{OriginalsDir: f.itemOriginals, PdfsDir: f.itemPdfs}
	if f.itemFiles != "" {
		m, err := executor.LoadItemManifest(f.itemFiles)
		if err != nil {
			return nil, badInput("--item-files: %w", err)
		}
		it.Pdfs, it.Originals = m.Pdfs, m.Originals
	}
	for _, v := range f.itemPdf {
		it.Pdfs = append(it.Pdfs, executor.ParseItemFileFlag(v))
	}
	for _, v := range f.itemOriginal {
		it.Originals = append(it.Originals, executor.ParseItemFileFlag(v))
	}
	for _, c := range []struct {
		flag, file string
		dst        *[]byte
	}{{"--item-data", f.itemData, &it.Data}, {"--item-args", f.itemArgs, &it.Args}} {
		if c.file == "" {
			continue
		}
		b, err := os.ReadFile(c.file)
		if err != nil {
			return nil, badInput("%s: %w", c.flag, err)
		}
		if !json.Valid(b) {
			return nil, badInput("%s: %s is not valid JSON", c.flag, c.file)
		}
		*c.dst = b
	}
	for _, c := range []struct{ flag, dir string }{{"--item-originals", f.itemOriginals}, {"--item-pdfs", f.itemPdfs}} {
		if c.dir == "" {
			continue
		}
		if fi, err := os.Stat(c.dir); err != nil || !fi.IsDir() {
			return nil, badInput("%s: %s is not a directory", c.flag, c.dir)
		}
	}
	return it, nil
}

func printResult(w io.Writer, res *executor.Result) {
	for _, ar := range res.Addons {
		isolation := "not isolated"
		if ar.Isolated {
			isolation = "isolated"
		}
		purity := "impure"
		if ar.Pure {
			purity = "pure"
		}
		runnerName := ar.Runner
		if runnerName == "" {
			runnerName = "-"
		}
		fmt.Fprintf(w, "%-24s %-10s %-17s exit %-3d %8s  %s, %s\n", ar.Addon, runnerName, ar.Kind, ar.ExitCode,
			time.Duration(ar.Duration).Round(time.Millisecond), purity, isolation)
		if ar.Kind != executor.Success {
			fmt.Fprintf(w, "  error: %s\n", ar.Error)
			for _, l := range ar.StderrTail {
				fmt.Fprintf(w, "  | %s\n", l)
			}
		}
	}
	for _, warn := range res.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	if res.Kind != executor.Success {
		fmt.Fprintf(w, "result: %s (no output applied)\n", res.Kind)
		return
	}
	fmt.Fprintf(w, "result: success\n")
	if res.Output != nil && !res.Output.IsEmpty() {
		b, _ := json.MarshalIndent(res.Output, "", "  ")
		fmt.Fprintf(w, "output:\n%s\n", b)
	} else {
		fmt.Fprintln(w, "output: (none)")
	}
	if len(res.OutputFiles) > 0 {
		where := "(discarded; keep them with --output-dir)"
		if res.OutputDir != "" {
			where = "in " + res.OutputDir
		}
		fmt.Fprintf(w, "output files %s:\n", where)
		for _, f := range res.OutputFiles {
			fmt.Fprintf(w, "  %s\n", f)
		}
	}
}
