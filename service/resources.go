package service

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/berth-dev/berth/engine"
	"github.com/berth-dev/berth/service/spec"
)

// LabelResource marks a network or volume berth created for a services
// file (its value is the network's or volume's declared name); with
// berth.project it tells berth's own from a stranger's.
const LabelResource = "berth.resource"

// ensureResources creates the declared networks and volumes container
// name uses, when missing, labelled with project (Quadlet's .network and
// .volume units do the same: "ensures that the network exists on the
// host, creating it if needed", podman-systemd.unit.5.md:1483-1485). One
// that exists is used as it is, whoever made it: berth never changes or
// removes a stranger's.
func ensureResources(ctx context.Context, eng *engine.Client, f *spec.File, project, name string, p stepper) error {
	for _, n := range f.UsedNetworks(name) {
		if err := ensure(ctx, eng, "network", n, project, p, networkCreateArgs(n, f.Networks[n], project)); err != nil {
			return &PreStartError{name, "networks." + n, err}
		}
	}
	for _, v := range f.UsedVolumes(name) {
		if err := ensure(ctx, eng, "volume", v, project, p, volumeCreateArgs(v, f.Volumes[v], project)); err != nil {
			return &PreStartError{name, "volumes." + v, err}
		}
	}
	return nil
}

func ensure(ctx context.Context, eng *engine.Client, kind, name, project string, p stepper, create []string) error {
	if owner, err := resourceProject(ctx, eng, kind, name); err == nil {
		if owner != project {
			p.log.note("pre-start: %s %s exists and was not created by berth for project %s: used as it is, never changed or removed", kind, name, project)
		}
		return nil
	}
	p.step("pre-start: creating %s %s", kind, name)
	if _, err := eng.Run(ctx, create, engine.RunOpts{}); err != nil {
		// Another container of the stack may have created it meanwhile.
		if _, ierr := resourceProject(ctx, eng, kind, name); ierr == nil {
			return nil
		}
		return fmt.Errorf("creating %s %s: %w", kind, name, err)
	}
	return nil
}

// resourceProject returns the project berth created network or volume
// name for ("" when berth did not create it), or an error when it does
// not exist (or cannot be inspected).
func resourceProject(ctx context.Context, eng *engine.Client, kind, name string) (string, error) {
	out, err := eng.Run(ctx, []string{kind, "inspect", "--format",
		`{{index .Labels "` + LabelProject + `"}}|{{index .Labels "` + LabelResource + `"}}`, name}, engine.RunOpts{})
	if err != nil {
		return "", err
	}
	project, res, _ := strings.Cut(strings.TrimSpace(string(out)), "|")
	if res == "" || res == "<no value>" {
		return "", nil // not berth's, whatever berth.project it claims
	}
	return project, nil
}

func networkCreateArgs(name string, n *spec.Network, project string) []string {
	a := []string{"network", "create"}
	if n.Driver != "" {
		a = append(a, "--driver="+n.Driver)
	}
	if n.Internal {
		a = append(a, "--internal")
	}
	a = append(a, labelArgs(n.Labels, n.Options, project, name)...)
	return append(a, name)
}

func volumeCreateArgs(name string, v *spec.Volume, project string) []string {
	a := []string{"volume", "create"}
	if v.Driver != "" {
		a = append(a, "--driver="+v.Driver)
	}
	a = append(a, labelArgs(v.Labels, v.Options, project, name)...)
	return append(a, name)
}

func labelArgs(labels, opts map[string]string, project, name string) []string {
	var a []string
	for _, k := range sorted(labels) {
		a = append(a, "--label="+k+"="+labels[k])
	}
	a = append(a, "--label="+LabelProject+"="+project, "--label="+LabelResource+"="+name)
	for _, k := range sorted(opts) {
		a = append(a, "--opt="+k+"="+opts[k])
	}
	return a
}

func sorted(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// RemoveNetworks removes the networks berth created for project (labelled
// berth.project and berth.resource), for `down` once the containers are
// gone. Volumes are kept (they hold data; Compose's down keeps them too),
// and so is every network berth did not create.
func RemoveNetworks(ctx context.Context, eng *engine.Client, project string) ([]string, error) {
	out, err := eng.Run(ctx, []string{"network", "ls", "--filter", "label=" + LabelProject + "=" + project, "--filter", "label=" + LabelResource, "--format", "{{.Name}}"}, engine.RunOpts{})
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, n := range strings.Fields(string(out)) {
		if _, err := eng.Run(ctx, []string{"network", "rm", n}, engine.RunOpts{}); err != nil {
			errs = append(errs, fmt.Errorf("removing network %s: %w", n, err))
			continue
		}
		removed = append(removed, n)
	}
	return removed, errors.Join(errs...)
}
