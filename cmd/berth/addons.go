package main

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/server/client"
)

func init() { subcommands = append(subcommands, newAddonsCmd) }

// newAddonsCmd is `berth addons`: the daemon's installed addons, through
// its HTTP API (`berth addon` works on local addons without a daemon).
func newAddonsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "addons",
		Short: "List, install, show, update and remove the daemon's addons",
		Long: `addons manages the addons installed in a berth daemon, through its HTTP
API ("berth addon" works on addons on this machine, without a daemon).
An ADDON is its id, its name, or name-version.`,
	}
	newClient := apiFlags(cmd)
	var asJSON bool
	jsonFlag := func(c *cobra.Command) {
		c.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON")
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the installed addons",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			l, err := c.ListAddons(cmd.Context())
			if err != nil {
				return apiError(err)
			}
			if asJSON {
				return printRaw(cmd.OutOrStdout(), l.Raw)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tVERSION\tPURE\tTRIGGERS\tCAN RUN WITH")
			for _, a := range l.Addons {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Name, a.Version, pureWord(a.Pure), strings.Join(a.Triggers, ","), orNone(a.UsableRunners))
			}
			return tw.Flush()
		},
	}
	jsonFlag(list)

	var serverPath string
	install := &cobra.Command{
		Use:   "install [SOURCE]",
		Short: "Install an addon from a zip URL, a local zip or folder, or a path on the server",
		Long: `install installs an addon in the daemon. SOURCE is an http(s) URL of a zip
the daemon fetches, or a local zip file or folder, which is uploaded (a
folder is zipped first). --server-path PATH names a folder or zip on the
daemon's machine instead (the daemon must allow it: serve.allow-path).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := addonSource(args, serverPath, false)
			if err != nil {
				return err
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			a, err := c.InstallAddon(cmd.Context(), src)
			if err != nil {
				return apiError(err)
			}
			return printAddon(cmd.OutOrStdout(), a, asJSON)
		},
	}
	install.Flags().StringVar(&serverPath, "server-path", "", "install from this absolute path on the daemon's machine")
	jsonFlag(install)

	update := &cobra.Command{
		Use:   "update ADDON [SOURCE]",
		Short: "Fetch an addon again, from SOURCE or from where it was installed from",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := addonSource(args[1:], serverPath, true)
			if err != nil {
				return err
			}
			c, err := newClient()
			if err != nil {
				return err
			}
			old, err := resolveAddon(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			a, err := c.UpdateAddon(cmd.Context(), old.ID, src)
			if err != nil {
				return apiError(err)
			}
			if !asJSON && a.Hash == old.Hash {
				fmt.Fprintln(cmd.OutOrStdout(), "unchanged: the same content as before")
			}
			return printAddon(cmd.OutOrStdout(), a, asJSON)
		},
	}
	update.Flags().StringVar(&serverPath, "server-path", "", "fetch from this absolute path on the daemon's machine")
	jsonFlag(update)

	show := &cobra.Command{
		Use:   "show ADDON",
		Short: "Show an addon: descriptor summary and the runners this daemon can run it with",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			a, err := resolveAddon(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			return printAddon(cmd.OutOrStdout(), a, asJSON)
		},
	}
	jsonFlag(show)

	remove := &cobra.Command{
		Use:     "remove ADDON",
		Aliases: []string{"rm", "delete"},
		Short:   "Remove an addon that no run configuration uses",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			a, err := resolveAddon(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			if err := c.DeleteAddon(cmd.Context(), a.ID); err != nil {
				return apiError(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s (%s-%s)\n", a.ID, a.Name, a.Version)
			return nil
		},
	}
	cmd.AddCommand(list, install, update, show, remove)
	return cmd
}

// addonSource turns install's arguments into a source; with emptyOK no
// source at all means "the stored one".
func addonSource(args []string, serverPath string, emptyOK bool) (client.AddonSource, error) {
	switch {
	case len(args) > 0 && serverPath != "":
		return client.AddonSource{}, badInput("give SOURCE or --server-path, not both")
	case serverPath != "":
		if !filepath.IsAbs(serverPath) {
			return client.AddonSource{}, badInput("--server-path %q: must be an absolute path on the daemon's machine", serverPath)
		}
		return client.AddonSource{Path: serverPath}, nil
	case len(args) == 0 && emptyOK:
		return client.AddonSource{}, nil
	case len(args) == 0:
		return client.AddonSource{}, badInput("give SOURCE (a zip URL, a local zip or folder) or --server-path")
	}
	src := args[0]
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		return client.AddonSource{URL: src}, nil
	}
	fi, err := os.Stat(src)
	if err != nil {
		return client.AddonSource{}, badInput("addon source %s: %v (a URL must start with http:// or https://)", src, err)
	}
	if !fi.IsDir() {
		data, err := os.ReadFile(src)
		if err != nil {
			return client.AddonSource{}, badInput("%v", err)
		}
		return client.AddonSource{Zip: bytes.NewReader(data), ZipName: filepath.Base(src)}, nil
	}
	data, err := zipFolder(src)
	if err != nil {
		return client.AddonSource{}, badInput("zipping %s: %v", src, err)
	}
	return client.AddonSource{Zip: bytes.NewReader(data), ZipName: filepath.Base(filepath.Clean(src)) + ".zip"}, nil
}

// zipFolder zips dir's regular files and folders (keeping modes, so
// that scripts stay executable); links are refused, as the daemon's
// unzip would refuse them.
func zipFolder(dir string) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() && !info.IsDir() {
			return fmt.Errorf("%s: not a regular file or folder", p)
		}
		h, err := zip.FileInfoHeader(info)
		if err != nil {
			return err
		}
		h.Name, h.Method = filepath.ToSlash(rel), zip.Deflate
		if info.IsDir() {
			h.Name += "/"
			_, err = zw.CreateHeader(h)
			return err
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// resolveAddon finds an addon by id, name or name-version.
func resolveAddon(ctx context.Context, c *client.Client, ref string) (client.Addon, error) {
	a, err := c.GetAddon(ctx, ref)
	var ae *client.Error
	if err == nil || !errors.As(err, &ae) || ae.Status != 404 {
		return a, apiError(err)
	}
	l, err := c.ListAddons(ctx)
	if err != nil {
		return a, apiError(err)
	}
	var found []client.Addon
	for _, x := range l.Addons {
		if x.Name+"-"+x.Version == ref {
			return x, nil
		}
		if x.Name == ref {
			found = append(found, x)
		}
	}
	switch len(found) {
	case 0:
		return a, badInput("no addon %q is installed (give an id, a name or name-version; see berth addons list)", ref)
	case 1:
		return found[0], nil
	}
	var names []string
	for _, x := range found {
		names = append(names, x.Name+"-"+x.Version+" ("+x.ID+")")
	}
	return a, badInput("%q names %d addons: %s; give name-version or the id", ref, len(found), strings.Join(names, ", "))
}

func printAddon(w io.Writer, a client.Addon, asJSON bool) error {
	if asJSON {
		return printRaw(w, a.Raw)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id:\t%s\n", a.ID)
	fmt.Fprintf(tw, "addon:\t%s-%s\n", a.Name, a.Version)
	if a.Description != "" {
		fmt.Fprintf(tw, "description:\t%s\n", a.Description)
	}
	fmt.Fprintf(tw, "source:\t%s\n", a.Source)
	fmt.Fprintf(tw, "triggers:\t%s\n", orNone(a.Triggers))
	fmt.Fprintf(tw, "runners:\t%s\n", orNone(a.Runners))
	fmt.Fprintf(tw, "can run with:\t%s\n", orNone(a.UsableRunners))
	net := "no network"
	if a.Networking {
		net = "network"
	}
	fmt.Fprintf(tw, "kind:\t%s (%s, collects output: %t)\n", pureWord(a.Pure), net, a.CollectOutput)
	fmt.Fprintf(tw, "hash:\t%s\n", a.Hash)
	fmt.Fprintf(tw, "installed:\t%s\n", a.InstalledAt.Local().Format("2006-01-02 15:04:05"))
	fmt.Fprintf(tw, "updated:\t%s\n", a.UpdatedAt.Local().Format("2006-01-02 15:04:05"))
	return tw.Flush()
}

func pureWord(pure bool) string {
	if pure {
		return "pure"
	}
	return "impure"
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ",")
}
