package addon

import (
	"regexp"
	"strings"
	"sync"
)

// imageRef is the grammar of a container image reference as docker and
// podman parse it (github.com/distribution/reference, regexp.go):
// [domain[:port]/]path[:tag][@digest], path components lower-case.
var imageRef = sync.OnceValue(func() *regexp.Regexp {
	const (
		alnum     = `[a-z0-9]+`
		separator = `(?:[._]|__|[-]+)`
		component = alnum + `(?:` + separator + alnum + `)*`
		domainC   = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
		host      = `(?:` + domainC + `(?:\.` + domainC + `)*|\[[a-fA-F0-9:]+\])`
		domain    = host + `(?::[0-9]+)?`
		name      = `(?:` + domain + `/)?` + component + `(?:/` + component + `)*`
		tag       = `[\w][\w.-]{0,127}`
		digest    = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
	)
	return regexp.MustCompile(`^` + name + `(?::` + tag + `)?(?:@` + digest + `)?$`)
})

// imageRefProblem says why s is not an image reference, or "". A value
// that starts with "-" would reach the engine's command line as a flag.
func imageRefProblem(s string) string {
	switch {
	case strings.HasPrefix(s, "-"):
		return "it starts with '-' and would be read as an option of the container engine"
	case len(s) > 512:
		return "it is longer than 512 characters"
	case !imageRef().MatchString(s):
		return "write it as [registry[:port]/]name[:tag][@digest], the name in lower case"
	}
	name, _, _ := strings.Cut(s, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	if len(name) > 255 {
		return "its name is longer than 255 characters"
	}
	return ""
}
