package executor

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/berth-dev/berth/internal/beneath"
)

// scrub runs after every addon: it removes the set-user-id and
// set-group-id bits and file capabilities from whatever the addon left in
// WORK, OUTPUT_DIR and CACHE_DIR. Inside a sandbox such a program is
// harmless (nosuid), but its owner is berth's user (root when berth is),
// and the cache outlives the run: on the host it would make any user who
// reaches it that user. It returns the warnings for the result.
func scrub(log *slog.Logger, work *workspace, addonID string) []string {
	var warnings []string
	for _, d := range []struct{ name, dir string }{{"WORK", work.dir}, {"OUTPUT_DIR", work.output}, {"CACHE_DIR", work.cache}} {
		changed, err := beneath.StripSetID(d.dir)
		if len(changed) > 0 {
			shown := changed
			if len(shown) > 5 {
				shown = append(shown[:5:5], fmt.Sprintf("and %d more", len(changed)-5))
			}
			log.Warn("removed set-id bits an addon left", "addon", addonID, "dir", d.name, "files", len(changed))
			warnings = append(warnings, fmt.Sprintf("%s left set-id or capability bits on %s in %s; berth removed them", addonID, strings.Join(shown, ", "), d.name))
		}
		if err == nil {
			continue
		}
		// A tree berth cannot vouch for: WORK and OUTPUT_DIR are private
		// and go with the run (kept output files never keep set-id
		// bits), but the cache stays, so it is emptied.
		log.Warn("checking for set-id files", "addon", addonID, "dir", d.name, "err", err)
		if d.dir != work.cache {
			continue
		}
		if rerr := emptyDir(work.cache); rerr != nil {
			log.Error("emptying the cache", "dir", work.cache, "err", rerr)
		}
		warnings = append(warnings, fmt.Sprintf("berth could not check CACHE_DIR after %s (%v) and emptied it", addonID, err))
	}
	return warnings
}

// emptyDir removes everything inside dir, keeping dir. The root keeps
// every removal inside dir whatever links an addon left there.
func emptyDir(dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	f, err := root.Open(".")
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := root.RemoveAll(name); err != nil {
			return err
		}
	}
	return nil
}

// boundCache empties the run's CACHE_DIR when it uses more disk than
// CacheCap, and says so.
func (e *Executor) boundCache(log *slog.Logger, work *workspace) []string {
	limit := e.CacheCap
	if limit <= 0 {
		limit = DefaultCacheCap
	}
	used, err := beneath.Usage(work.cache)
	if err == nil && used <= limit {
		return nil
	}
	msg := fmt.Sprintf("CACHE_DIR used %d bytes, more than cache-cap (%d bytes); berth emptied it", used, limit)
	if err != nil {
		msg = fmt.Sprintf("berth could not measure CACHE_DIR (%v) and emptied it", err)
	}
	log.Warn("emptying the cache", "dir", work.cache, "used", used, "cap", limit, "err", err)
	if err := emptyDir(work.cache); err != nil {
		log.Error("emptying the cache", "dir", work.cache, "err", err)
		return []string{msg + ", but failed: " + err.Error()}
	}
	return []string{msg}
}
