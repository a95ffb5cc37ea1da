// Package dryrun collects what a stage would copy, for --dry-run: every
// image's source=destination mapping, and the images not yet at the
// destination, written as mapping.txt and missing.txt.
package dryrun

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/ocm-mirror/ocm/lib/atomicfile"
)

// Report gathers lines from concurrent workers.
type Report struct {
	mu      sync.Mutex
	mapping []string
	missing []string
}

// Add records one image; missing says it is not yet at the destination.
func (r *Report) Add(src, dst string, missing bool) {
	line := src + "=" + dst
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mapping = append(r.mapping, line)
	if missing {
		r.missing = append(r.missing, line)
	}
}

// Counts returns how many images were mapped and how many are missing.
func (r *Report) Counts() (all, missing int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.mapping), len(r.missing)
}

// Write saves WORKSPACE/dry-run/mapping.txt and missing.txt (sorted, so the
// same input gives the same files) and returns their paths.
func (r *Report) Write(workspace string) (mapping, missing string, err error) {
	dir := filepath.Join(workspace, "dry-run")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("dry run: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	mapping, missing = filepath.Join(dir, "mapping.txt"), filepath.Join(dir, "missing.txt")
	for _, f := range []struct {
		path  string
		lines []string
	}{{mapping, r.mapping}, {missing, r.missing}} {
		lines := append([]string(nil), f.lines...)
		sort.Strings(lines)
		body := strings.Join(lines, "\n")
		if body != "" {
			body += "\n"
		}
		if err := atomicfile.WriteFile(f.path, []byte(body), 0o644); err != nil {
			return "", "", fmt.Errorf("dry run: %w", err)
		}
	}
	return mapping, missing, nil
}
