// Package config reads berth.yaml: defaults, the file, then BERTH_*
// environment overrides, in that order. It holds only settings and their
// validation; it must not start or build anything.
package config
