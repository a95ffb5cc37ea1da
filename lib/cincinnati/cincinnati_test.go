package cincinnati

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// graph builds a Graph from versions and edges written as "a>b".
func graph(versions []string, edges ...string) *Graph {
	g := &Graph{}
	idx := map[string]int{}
	for i, v := range versions {
		idx[v] = i
		g.Nodes = append(g.Nodes, Node{Version: v, Payload: fmt.Sprintf("quay.io/openshift-release-dev/ocp-release@sha256:%064x", i+1)})
	}
	for _, e := range edges {
		p := strings.Split(e, ">")
		g.Edges = append(g.Edges, [2]int{idx[p[0]], idx[p[1]]})
	}
	return g
}

// The fixture: two chained channels. The shortest path from 4.14.0 to 4.15.3
// is 4.14.0 > 4.14.3 > 4.14.5 > 4.15.2 > 4.15.3 (4 hops; the path through
// 4.14.4 and 4.15.0 takes 5).
func fixtureGraphs() map[string]*Graph {
	return map[string]*Graph{
		"stable-4.14": graph([]string{"4.14.0", "4.14.1", "4.14.2", "4.14.3", "4.14.4", "4.14.5"},
			"4.14.0>4.14.1", "4.14.1>4.14.2", "4.14.2>4.14.3", "4.14.3>4.14.4", "4.14.4>4.14.5", "4.14.0>4.14.3", "4.14.3>4.14.5"),
		"stable-4.15": graph([]string{"4.14.4", "4.14.5", "4.15.0", "4.15.1", "4.15.2", "4.15.3"},
			"4.14.4>4.15.0", "4.14.5>4.15.1", "4.15.0>4.15.1", "4.15.1>4.15.2", "4.15.2>4.15.3", "4.15.0>4.15.2", "4.14.5>4.15.2"),
	}
}

func TestSelect(t *testing.T) {
	cases := []struct {
		name  string
		specs []ChannelSpec
		want  []string
		err   string
	}{
		{"latest only", []ChannelSpec{{Name: "stable-4.14"}}, []string{"4.14.5"}, ""},
		{"min only", []ChannelSpec{{Name: "stable-4.14", MinVersion: "4.14.3"}}, []string{"4.14.3", "4.14.4", "4.14.5"}, ""},
		{"max only", []ChannelSpec{{Name: "stable-4.14", MaxVersion: "4.14.2"}}, []string{"4.14.0", "4.14.1", "4.14.2"}, ""},
		{"min and max", []ChannelSpec{{Name: "stable-4.14", MinVersion: "4.14.1", MaxVersion: "4.14.4"}}, []string{"4.14.1", "4.14.2", "4.14.3", "4.14.4"}, ""},
		{"full", []ChannelSpec{{Name: "stable-4.15", Full: true}}, []string{"4.14.4", "4.14.5", "4.15.0", "4.15.1", "4.15.2", "4.15.3"}, ""},
		{"two channels latest", []ChannelSpec{{Name: "stable-4.14"}, {Name: "stable-4.15"}}, []string{"4.14.5", "4.15.3"}, ""},
		{"shortest path across channels", []ChannelSpec{
			{Name: "stable-4.14", MinVersion: "4.14.0", ShortestPath: true},
			{Name: "stable-4.15", MaxVersion: "4.15.3", ShortestPath: true},
		}, []string{"4.14.0", "4.14.3", "4.14.5", "4.15.2", "4.15.3"}, ""},
		{"shortest path within a channel", []ChannelSpec{{Name: "stable-4.14", MinVersion: "4.14.1", MaxVersion: "4.14.5", ShortestPath: true}},
			[]string{"4.14.1", "4.14.2", "4.14.3", "4.14.5"}, ""},
		{"unknown version", []ChannelSpec{{Name: "stable-4.14", MinVersion: "4.14.9"}}, nil, "channel stable-4.14: minVersion 4.14.9 is not a release of this channel"},
		{"min above max", []ChannelSpec{{Name: "stable-4.14", MinVersion: "4.14.4", MaxVersion: "4.14.1"}}, nil, "is above maxVersion"},
		{"no path", []ChannelSpec{{Name: "islands", ShortestPath: true}}, nil, "channels islands: no upgrade path from 4.16.0 to 4.16.2"},
		{"unknown channel", []ChannelSpec{{Name: "fast-4.99"}}, nil, "channel fast-4.99: no update graph"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gs := fixtureGraphs()
			gs["islands"] = graph([]string{"4.16.0", "4.16.1", "4.16.2"}, "4.16.0>4.16.1")
			got, err := Select(gs, c.specs)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var vs []string
			for _, s := range got {
				vs = append(vs, s.Version)
				if s.Payload == "" {
					t.Errorf("%s has no payload", s.Version)
				}
			}
			if !reflect.DeepEqual(vs, c.want) {
				t.Fatalf("got %v, want %v", vs, c.want)
			}
		})
	}
}

func TestFetchWithOverride(t *testing.T) {
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path+"?"+r.URL.RawQuery)
		if r.Header.Get("Accept") != "application/json" {
			http.Error(w, "want json", http.StatusNotAcceptable)
			return
		}
		g := fixtureGraphs()[r.URL.Query().Get("channel")]
		if g == nil {
			http.Error(w, "no such channel", http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(g)
	}))
	defer srv.Close()
	for _, override := range []string{srv.URL, srv.URL + "/", srv.URL + "/api/upgrades_info/v1/graph"} {
		t.Setenv(OverrideEnv, override)
		g, err := (&Client{HTTP: &http.Client{}}).Fetch(context.Background(), "ocp", "stable-4.14", "multi")
		if err != nil {
			t.Fatalf("override %s: %v", override, err)
		}
		if len(g.Nodes) != 6 {
			t.Fatalf("%d nodes", len(g.Nodes))
		}
	}
	for _, a := range asked {
		if a != "/api/upgrades_info/v1/graph?arch=multi&channel=stable-4.14" {
			t.Fatalf("asked %s", a)
		}
	}
	t.Setenv(OverrideEnv, srv.URL)
	if _, err := (&Client{HTTP: &http.Client{}}).Fetch(context.Background(), "ocp", "nope-1", "amd64"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err = %v", err)
	}
	t.Setenv(OverrideEnv, "not a url")
	if _, err := (&Client{HTTP: &http.Client{}}).Fetch(context.Background(), "ocp", "stable-4.14", "amd64"); err == nil || !strings.Contains(err.Error(), OverrideEnv) {
		t.Fatalf("err = %v", err)
	}
}

// TestGraphURL: the default endpoints (OCP, and OKD as the reference tool
// queries it) and the override, given as a base or a full .../graph URL.
func TestGraphURL(t *testing.T) {
	for _, c := range []struct{ override, typ, want string }{
		{"", "ocp", "https://api.openshift.com/api/upgrades_info/v1/graph?arch=amd64&channel=stable-4.15"},
		{"", "okd", "https://origin-release.ci.openshift.org/graph?arch=amd64&channel=stable-4.15"},
		{"http://osus.example.com:8080/", "okd", "http://osus.example.com:8080/api/upgrades_info/v1/graph?arch=amd64&channel=stable-4.15"},
		{"https://osus.example.com/api/upgrades_info/graph", "ocp", "https://osus.example.com/api/upgrades_info/graph?arch=amd64&channel=stable-4.15"},
	} {
		t.Setenv(OverrideEnv, c.override)
		got, err := (&Client{}).graphURL(c.typ, "stable-4.15", "amd64")
		if err != nil || got != c.want {
			t.Errorf("%s %q: %s %v, want %s", c.typ, c.override, got, err, c.want)
		}
	}
}
