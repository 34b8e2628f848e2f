package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth"
)

func init() { subcommands = append(subcommands, newDoctorCmd) }

func newDoctorCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Show which runners and sandboxes work on this machine, and how to fix the rest",
		Long: `doctor checks every runner (binary found, version, daemon reachable,
host paths visible to the engine) and every sandbox against this machine
and the configuration, and prints the command that fixes each failed
check. It exits 1 when none of the configured runners is usable.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			checks := berth.Doctor(cmd.Context(), cfg)
			if asJSON {
				if err := writeJSON(cmd.OutOrStdout(), checks); err != nil {
					return err
				}
			} else {
				w := cmd.OutOrStdout()
				for _, c := range checks {
					mark := "ok  "
					if !c.OK {
						mark = "FAIL"
					}
					fmt.Fprintf(w, "%s  %-18s %s\n", mark, c.Name, c.Detail)
					if c.Fix != "" {
						fmt.Fprintf(w, "      %-18s fix: %s\n", "", c.Fix)
					}
				}
			}
			usable := 0
			for _, c := range checks {
				for _, r := range cfg.Runners {
					if c.Name == "runner "+r && c.OK {
						usable++
					}
				}
			}
			if usable == 0 {
				return &exitError{exitFailure, fmt.Errorf("none of the configured runners %v is usable here", cfg.Runners)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the checks as JSON")
	return cmd
}
