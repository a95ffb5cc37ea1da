package plan

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ocm-mirror/ocm/lib/config"
	"github.com/ocm-mirror/ocm/lib/logging"
	"github.com/ocm-mirror/ocm/lib/record"
	"github.com/ocm-mirror/ocm/lib/registry"
)

// TestStreamEmitsInOrderBeforeTheEnd: records come out in configuration
// order, duplicates once, blocked ones skipped, and the first is handed on
// while a later image is still being resolved (its registry answer waits
// for that first record).
func TestStreamEmitsInOrderBeforeTheEnd(t *testing.T) {
	reg := ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
	firstOut := make(chan struct{})
	var armed atomic.Bool // set once the images are in place
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if armed.Load() && strings.Contains(r.URL.Path, "/app/last/manifests/") {
			select {
			case <-firstOut:
			case <-time.After(10 * time.Second):
				http.Error(w, "the plan waited for every image before emitting", http.StatusGatewayTimeout)
				return
			}
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, repo := range []string{"app/first", "app/second", "app/last", "app/blocked"} {
		img, _ := random.Image(256, 1)
		ref, _ := name.ParseReference(host + "/" + repo + ":1")
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
	}
	armed.Store(true)
	cfg := &config.Config{Kind: config.KindImageSet}
	for _, repo := range []string{"app/first", "app/second", "app/first", "app/blocked", "app/last"} {
		cfg.Spec.AdditionalImages = append(cfg.Spec.AdditionalImages, config.Image{Name: host + "/" + repo + ":1"})
	}
	cfg.Spec.BlockedImages = []config.Image{{Name: host + "/app/blocked"}}
	p := &Planner{Client: registry.New(registry.Options{}), Log: logging.New("test", logging.Error, io.Discard), Workers: 8}
	var got []string
	err := p.Stream(context.Background(), cfg, func(r *record.Record) error {
		if len(got) == 0 {
			close(firstOut)
		}
		got = append(got, fmt.Sprintf("%s %s", strings.TrimPrefix(r.Source, host+"/"), r.Status))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"app/first:1 planned", "app/second:1 planned", "app/blocked:1 skipped", "app/last:1 planned"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("emitted\n %v\nwant\n %v", got, want)
	}
}
