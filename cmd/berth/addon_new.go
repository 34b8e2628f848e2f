package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/addon"
)

func newAddonNewCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "new NAME",
		Short: "Scaffold a working trivial addon",
		Long: `new creates a directory NAME (or --dir) with a descriptor, a shell script
that prints valid output, and a README. berth addon run DIR runs it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				dir = args[0]
			}
			if err := addon.Scaffold(dir, args[0]); err != nil {
				return &exitError{exitBadInput, err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created addon %s in %s\nrun it:  berth addon run %s --args 'hello'\n", args[0], dir, dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory to create (default: NAME)")
	return cmd
}
