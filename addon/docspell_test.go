package addon

// Descriptors as Docspell reads them. Docspell's AddonMeta
// (eikek/docspell modules/addonlib/src/main/scala/docspell/addons/AddonMeta.scala)
// is decoded by circe from circe-yaml's Parser.default (AddonMeta.scala:163-164),
// which runs SnakeYAML, a YAML 1.1 parser, with its default limits.

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func readDocspellFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "docspell", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// AddonMetaTest.scala:21-24 "read meta from zip file" and :26-37 "read
// meta from directory" expect Fixtures.scala:37-55 (dummyAddonMeta).
func TestDocspellAddonMetaTestReadMetaOfTheDummyAddon(t *testing.T) {
	d, err := ParseDescriptor("docspell-addon.yml", readDocspellFixture(t, "dummy-addon.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Meta != (Meta{Name: "dummy-addon", Version: "2.9", Description: "Some dummy addon only for testing.\n"}) {
		t.Errorf("meta = %+v", d.Meta)
	}
	if want := []Trigger{TriggerScheduled, TriggerFinalProcessItem, TriggerFinalReprocessItem}; !slices.Equal(d.Triggers, want) {
		t.Errorf("triggers = %v, want %v", d.Triggers, want)
	}
	if d.Args != nil {
		t.Errorf("args = %#v, want none (an empty args: is None in Docspell)", d.Args)
	}
	r := d.Runner
	if r.Nix.Enable == nil || !*r.Nix.Enable || r.Docker.Enable == nil || !*r.Docker.Enable || r.Docker.Image != "" || r.Docker.Build != "Dockerfile" ||
		!r.Trivial.Enable || r.Trivial.Exec != "src/addon.sh" {
		t.Errorf("runner = %+v", r)
	}
	if !d.Options.Networking || !d.Options.CollectOutput {
		t.Errorf("options = %+v, want networking and collectOutput", d.Options)
	}
	if len(d.Warnings) != 0 {
		t.Errorf("warnings = %q, want none for a descriptor Docspell reads", d.Warnings)
	}
}

// minimal-addon.zip (AddonExecutorTest, AddonRunnerTest fixtures) is a
// trivial addon without options; AddonMetaTest.scala:39-46 "parse yaml
// with defaults": without options the result is parsed (AddonMeta.scala:37-38).
func TestDocspellAddonMetaTestParseYamlWithDefaults(t *testing.T) {
	for _, data := range [][]byte{
		[]byte("meta:\n  name: \"test\"\n  version: \"0.1.0\"\n"),
		readDocspellFixture(t, "minimal-addon.yml"),
	} {
		d, err := ParseDescriptor("docspell-addon.yml", data)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Options.CollectOutput || d.Options.Networking {
			t.Errorf("options = %+v, want collectOutput and no networking", d.Options)
		}
		if len(d.Warnings) != 0 {
			t.Errorf("warnings = %q, want none", d.Warnings)
		}
	}
}

// SnakeYAML resolves yes/no/on/off (any of three spellings) as booleans
// (snakeyaml Resolver.java, BOOL), and circe-yaml hands them to circe
// as JSON booleans (circe-yaml Parser.scala:146-150).
func TestDocspellReadsYAML11Booleans(t *testing.T) {
	tests := []struct {
		value string
		want  bool
	}{
		{"yes", true}, {"Yes", true}, {"YES", true}, {"on", true}, {"On", true}, {"ON", true}, {"true", true}, {"True", true}, {"TRUE", true},
		{"no", false}, {"No", false}, {"NO", false}, {"off", false}, {"Off", false}, {"OFF", false}, {"false", false}, {"False", false}, {"FALSE", false},
		{"!!bool yes", true},
	}
	for _, tt := range tests {
		t.Run("enable: "+tt.value, func(t *testing.T) {
			other := "true"
			if tt.want {
				other = "false"
			}
			doc := "meta: {name: x, version: '1'}\nrunner:\n  nix:\n    enable: " + tt.value + "\n  docker: {enable: " + tt.value + "}\n  trivial:\n    enable: " + tt.value + "\n    exec: run.sh\noptions:\n  networking: " + other + "\n  collectOutput: " + tt.value + "\n"
			if !tt.want {
				doc = strings.Replace(doc, "networking: "+other, "networking: "+tt.value, 1)
				doc = strings.Replace(doc, "collectOutput: "+tt.value, "collectOutput: true", 1)
			}
			d, err := ParseDescriptor("d.yaml", []byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			r := d.Runner
			if r.Nix.Enable == nil || *r.Nix.Enable != tt.want || r.Docker.Enable == nil || *r.Docker.Enable != tt.want || r.Trivial.Enable != tt.want {
				t.Errorf("runner = nix %v docker %v trivial %v, want all %v", r.Nix.Enable, r.Docker.Enable, r.Trivial.Enable, tt.want)
			}
			if tt.want && !d.Options.CollectOutput || !tt.want && d.Options.Networking {
				t.Errorf("options = %+v", d.Options)
			}
		})
	}
	t.Run("a quoted yes is a string, which Docspell's Boolean decoder refuses", func(t *testing.T) {
		_, err := ParseDescriptor("d.yaml", []byte("meta: {name: x, version: '1'}\noptions: {networking: \"yes\", collectOutput: true}\n"))
		var de *DescriptorError
		if !errors.As(err, &de) || de.Field != "options.networking" || de.Line != 2 {
			t.Errorf("err = %v, want a DescriptorError on options.networking, line 2", err)
		}
	})
}

// SnakeYAML's LoaderOptions allow duplicate keys by default, and
// circe-yaml adds each pair in order, so the last value wins (circe-yaml
// Parser.scala:170-180, JsonObject.add).
func TestDocspellKeepsTheLastOfADuplicatedKey(t *testing.T) {
	doc := "meta:\n  name: first\n  version: '1'\n  name: second\noptions:\n  networking: true\n  collectOutput: true\noptions:\n  networking: false\n  collectOutput: true\n"
	d, err := ParseDescriptor("d.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if d.Meta.Name != "second" || d.Options.Networking {
		t.Errorf("name %q networking %v, want the last values: second, false", d.Meta.Name, d.Options.Networking)
	}
}

// Meta.version is a String (AddonMeta.scala:82); circe-yaml hands an
// unquoted 1.10 to circe as the JSON number 1.10 (Parser.scala:142-145),
// which Decoder[String] refuses. berth keeps the literal and warns.
func TestNumericVersionKeepsItsLiteralAndWarns(t *testing.T) {
	tests := []struct {
		file, doc, want string
		warn            bool
	}{
		{"d.yaml", "meta: {name: x, version: 1.10}", "1.10", true},
		{"d.yaml", "meta:\n  name: x\n  version: 1.0\n", "1.0", true},
		{"d.yaml", "meta: {name: x, version: 2}", "2", true},
		{"d.yaml", "meta: {name: x, version: 010}", "010", true},
		{"d.json", `{"meta": {"name": "x", "version": 1.10}}`, "1.10", true},
		{"d.yaml", "meta: {name: x, version: \"1.10\"}", "1.10", false},
		{"d.yaml", "meta: {name: x, version: 1.10.2}", "1.10.2", false},
		{"d.yaml", "meta: {name: x, version: !!str 1.10}", "1.10", false},
	}
	for _, tt := range tests {
		t.Run(tt.doc, func(t *testing.T) {
			d, err := ParseDescriptor(tt.file, []byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if d.Meta.Version != tt.want {
				t.Errorf("version = %q, want the literal %q", d.Meta.Version, tt.want)
			}
			warned := slices.ContainsFunc(d.Warnings, func(w string) bool {
				return strings.HasPrefix(w, DocspellRefuses+"meta.version: ") && strings.Contains(w, "quote it")
			})
			if warned != tt.warn {
				t.Errorf("warnings = %q, want a meta.version warning: %v", d.Warnings, tt.warn)
			}
		})
	}
}

// What berth accepts and Docspell refuses: each runner block needs
// enable, trivial needs exec even when disabled (AddonMeta.scala:88-90),
// options needs both keys (AddonMeta.scala:91).
func TestCheckWarnsWhatDocspellWouldRefuse(t *testing.T) {
	meta := "meta: {name: x, version: '1'}\n"
	tests := []struct {
		name, doc, want string
	}{
		{"a nix block without enable", "runner: {nix: {}}", "runner.nix has no enable"},
		{"a docker block without enable", "runner: {docker: {image: busybox}}", "runner.docker has no enable"},
		{"a trivial block without enable", "runner: {trivial: {exec: a.sh}}", "runner.trivial has no enable"},
		{"a disabled trivial runner without exec", "runner: {trivial: {enable: false}}", "runner.trivial has no exec"},
		{"options without collectOutput", "options: {networking: true}", "options has no collectOutput"},
		{"options without networking", "options: {collectOutput: true}", "options has no networking"},
		{"an unquoted number among the args", "runner: {trivial: {enable: true, exec: a.sh}}\nargs: [--level, 1.10]", "args[1]: 1.10 is a number"},
		{"an unquoted numeric name", "runner: {trivial: {enable: true, exec: a.sh}}\nmeta: {name: 42, version: '1'}", "meta.name: 42 is a number"},
	}
	t.Run("a .json descriptor in YAML syntax", func(t *testing.T) {
		d, err := ParseDescriptor("docspell-addon.json", []byte("meta: {name: x, version: '1'}\n"))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(d.Warnings, func(w string) bool { return strings.Contains(w, "docspell-addon.json is not valid JSON") }) {
			t.Errorf("warnings = %q", d.Warnings)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDescriptor("d.yaml", []byte(meta+tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(d.Warnings, func(w string) bool { return strings.HasPrefix(w, DocspellRefuses) && strings.Contains(w, tt.want) }) {
				t.Errorf("warnings = %q, want one starting %q and saying %q", d.Warnings, DocspellRefuses, tt.want)
			}
		})
	}
}

func TestArgsKeepTheirLiterals(t *testing.T) {
	d, err := ParseDescriptor("d.yaml", []byte("meta: {name: x, version: '1'}\nargs: [--level, 1.10, yes, \"quoted\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"--level", "1.10", "yes", "quoted"}; !slices.Equal(d.Args, want) {
		t.Errorf("args = %q, want %q as written", d.Args, want)
	}
	if _, err := ParseDescriptor("d.yaml", []byte("meta: {name: x, version: '1'}\nargs: [[a]]\n")); err == nil || !strings.Contains(err.Error(), "args[0]: must be a string") {
		t.Errorf("a list inside args: %v", err)
	}
}

// Issue 16: inputs that hung, exhausted or crashed `berth addon check`.
func TestParseDescriptorRefusesHostileYAML(t *testing.T) {
	tests := []struct {
		name, file string
		data       []byte
		field      string
		want       string
	}{
		{"an alias bomb of 7 levels of 10 (10^7 strings)", "alias-bomb.yaml", readFixture(t, "alias-bomb.yaml"), "", "expands to more than"},
		{"a tag on an empty args (panicked the YAML library)", "d.yaml", []byte("meta:\n  name: a\n  version: '1'\nargs: !x\n"), "", "line 4: the YAML tag !x has no value"},
		{"a tag on an empty triggers", "d.yaml", []byte("meta: {name: a, version: '1'}\ntriggers: !x\n"), "", "tag !x has no value"},
		{"a flag as the docker image", "d.yaml", []byte("meta: {name: a, version: '1'}\nrunner:\n  docker:\n    enable: true\n    image: --privileged\n"), "runner.docker.image", "line 5: runner.docker.image: \"--privileged\" is not an image reference: it starts with '-'"},
		{"a docker image with a space", "d.yaml", []byte("meta: {name: a, version: '1'}\nrunner: {docker: {enable: true, image: 'busybox -v /:/host'}}\n"), "runner.docker.image", "is not an image reference"},
		{"a docker image in upper case", "d.yaml", []byte("meta: {name: a, version: '1'}\nrunner: {docker: {enable: true, image: Busybox}}\n"), "runner.docker.image", "the name in lower case"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDescriptor(tt.file, tt.data)
			var de *DescriptorError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v (%T), want *DescriptorError", err, err)
			}
			if de.Field != tt.field || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), tt.file+": ") {
				t.Errorf("err = %q (field %q), want field %q and %q, naming %s", err, de.Field, tt.field, tt.want, tt.file)
			}
		})
	}
}

func TestParseDescriptorAcceptsImageReferences(t *testing.T) {
	for _, img := range []string{
		"busybox", "busybox:1", "berth-test/busybox:1", "tiborr/docspell-addon-example:latest",
		"127.0.0.1:5000/a/b:v1.2_3", "registry.example.com/org/img@sha256:" + strings.Repeat("ab", 32),
		"docker.io/library/alpine:3.20@sha256:" + strings.Repeat("0", 64), "[::1]:5000/x",
	} {
		if _, err := ParseDescriptor("d.yaml", []byte("meta: {name: a, version: '1'}\nrunner: {docker: {enable: true, image: '"+img+"'}}\n")); err != nil {
			t.Errorf("image %s: %v", img, err)
		}
	}
}

// snapshot lists every path under dir with its mode and size.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[p] = fi.Mode().String() + " " + fi.ModTime().String()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Docspell tries the runners an addon enables in turn
// (AddonMeta.scala:53-73 enabledTypes, AddonRunner.firstSuccessful): a
// trivial runner whose file is missing must not take the others away.
func TestLoadWithAMissingExecOffersTheOtherRunners(t *testing.T) {
	dir := writeAddon(t, map[string]string{
		"docspell-addon.yaml": "meta: {name: x, version: '1'}\nrunner:\n  docker: {enable: true}\n  trivial: {enable: true, exec: gone.sh}\n",
		"Dockerfile":          "FROM busybox\n",
	})
	a, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Runners(); !slices.Equal(got, []string{RunnerDocker}) {
		t.Errorf("runners = %v, want [docker] (trivial unusable)", got)
	}
	if !slices.ContainsFunc(a.Warnings, func(w string) bool { return strings.Contains(w, `"gone.sh" does not exist`) }) {
		t.Errorf("warnings = %q, want one saying gone.sh does not exist", a.Warnings)
	}
}

// `berth addon check` loads the source directory itself: it must leave
// it as it found it (it used to chmod the exec file in place).
func TestLoadDoesNotChangeTheSourceDirectory(t *testing.T) {
	dir := writeAddon(t, map[string]string{
		"docspell-addon.yaml": "meta: {name: x, version: '1'}\nrunner: {trivial: {enable: true, exec: bin/run.sh}}\n",
		"bin/run.sh":          "#!/bin/sh\necho hi\n",
	})
	before := snapshot(t, dir)
	if _, err := Load(dir); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, dir)
	for p, v := range before {
		if after[p] != v {
			t.Errorf("%s changed: %s -> %s", p, v, after[p])
		}
	}
	if len(after) != len(before) {
		t.Errorf("Load created or removed files: %d paths before, %d after", len(before), len(after))
	}
}
