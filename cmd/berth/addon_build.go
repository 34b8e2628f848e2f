package main

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/addon"
	"github.com/berth-dev/berth/runner/docker"
)

func newAddonBuildCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "build SOURCE...",
		Short: "Build an addon's image (or find it in the cache) without running it",
		Long: `build prepares each addon's docker image: it pulls runner.docker.image per
the pull policy, or builds the Dockerfile (runner.docker.build) tagged
berth-addon/<name>:<version>-<content hash>. An image with that tag is a
cache hit and nothing is built. Build output is shown as it happens.`,
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
			r := docker.New(cfg.Docker.RunnerConfig(), docker.WithLogger(newLogger(cmd.ErrOrStderr(), cfg, false)))
			if err := r.Available(cmd.Context()); err != nil {
				return fmt.Errorf("docker runner: %w", err)
			}
			w := cmd.OutOrStdout()
			for _, a := range addons {
				if !slices.Contains(a.Runners(), addon.RunnerDocker) {
					return badInput("%s does not enable the docker runner (it offers %v)", a.ID(), a.Runners())
				}
				p, err := r.Build(cmd.Context(), a.Addon, cmd.ErrOrStderr())
				if err != nil {
					return &exitError{4, err}
				}
				state := "built"
				if p.Cached {
					state = "cached"
				}
				fmt.Fprintf(w, "%s: %s %s\n", a.ID(), p.Image, state)
			}
			return nil
		},
	}
}
