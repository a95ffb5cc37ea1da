package registry

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestI27NoHTTPClientOutsideRegistry: every HTTP request of the library goes
// through Client.HTTPClient(), so it has the one retry budget, idle timeout
// and TLS policy. A client made elsewhere, or net/http's default one, would
// bypass them.
func TestI27NoHTTPClientOutsideRegistry(t *testing.T) {
	bypass := regexp.MustCompile(`http\.Client\{|http\.DefaultClient|http\.DefaultTransport|http\.(Get|Head|Post|PostForm)\(`)
	var found []string
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if filepath.Base(path) == "registry" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if bypass.MatchString(line) {
				found = append(found, fmt.Sprintf("lib/%s:%d: %s", filepath.ToSlash(path[3:]), i+1, strings.TrimSpace(line)))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) > 0 {
		t.Fatalf("HTTP clients outside lib/registry (pass registry.Client.HTTPClient() instead):\n%s", strings.Join(found, "\n"))
	}
}
