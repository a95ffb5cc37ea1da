// Command catalogquery asks a catalog server (opm serve, a CatalogSource's
// pod) what it serves, over operator-registry's gRPC registry API, the way
// OLM's catalog operator does, and prints it as one JSON object:
//
//	{"packages":["aqua",...],"bundles":[{"package":"aqua","channel":"fast","name":"aqua.v1.3.0","bundlePath":"..."},...]}
//
// Packages and bundles are sorted. With --wait it retries until the server
// answers (it builds its cache before it listens), so the time to its exit
// measures the server's start-up. Exit 1 when the server did not answer.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/operator-framework/operator-registry/pkg/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

type bundle struct {
	Package    string `json:"package"`
	Channel    string `json:"channel"`
	Name       string `json:"name"`
	BundlePath string `json:"bundlePath,omitempty"`
}

// channel is what a Subscription to it resolves to: the head GetPackage
// names and the bundle GetBundleForChannel returns.
type channel struct {
	Package string `json:"package"`
	Name    string `json:"name"`
	Default bool   `json:"default,omitempty"`
	Head    string `json:"head"`
	Bundle  string `json:"bundle"`
}

type answer struct {
	Packages []string  `json:"packages"`
	Bundles  []bundle  `json:"bundles"`
	Channels []channel `json:"channels"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "catalog server's gRPC address")
	wait := flag.Duration("wait", 0, "keep retrying this long until the server answers")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "catalogquery: no arguments are taken; usage: catalogquery [--addr HOST:PORT] [--wait 2m]")
		os.Exit(2)
	}
	deadline := time.Now().Add(*wait)
	for {
		a, err := query(*addr)
		if err == nil {
			out, _ := json.Marshal(a)
			fmt.Println(string(out))
			return
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "catalogquery: %s: %v\n", *addr, err)
			os.Exit(1)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func query(addr string) (*answer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	c := api.NewRegistryClient(conn)
	a := &answer{Packages: []string{}, Bundles: []bundle{}, Channels: []channel{}}
	ps, err := c.ListPackages(ctx, &api.ListPackageRequest{})
	if err != nil {
		return nil, fmt.Errorf("ListPackages: %w", err)
	}
	for {
		p, err := ps.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("ListPackages: %w", err)
		}
		a.Packages = append(a.Packages, p.GetName())
	}
	for _, pn := range a.Packages {
		p, err := c.GetPackage(ctx, &api.GetPackageRequest{Name: pn})
		if err != nil {
			return nil, fmt.Errorf("GetPackage %s: %w", pn, err)
		}
		for _, ch := range p.GetChannels() {
			b, err := c.GetBundleForChannel(ctx, &api.GetBundleInChannelRequest{PkgName: pn, ChannelName: ch.GetName()})
			if err != nil {
				return nil, fmt.Errorf("GetBundleForChannel %s/%s: %w", pn, ch.GetName(), err)
			}
			a.Channels = append(a.Channels, channel{Package: pn, Name: ch.GetName(), Default: ch.GetName() == p.GetDefaultChannelName(), Head: ch.GetCsvName(), Bundle: b.GetCsvName()})
		}
	}
	sort.Slice(a.Channels, func(i, j int) bool {
		x, y := a.Channels[i], a.Channels[j]
		return x.Package < y.Package || x.Package == y.Package && x.Name < y.Name
	})
	bs, err := c.ListBundles(ctx, &api.ListBundlesRequest{})
	if err != nil {
		return nil, fmt.Errorf("ListBundles: %w", err)
	}
	for {
		b, err := bs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("ListBundles: %w", err)
		}
		a.Bundles = append(a.Bundles, bundle{Package: b.GetPackageName(), Channel: b.GetChannelName(), Name: b.GetCsvName(), BundlePath: b.GetBundlePath()})
	}
	sort.Strings(a.Packages)
	sort.Slice(a.Bundles, func(i, j int) bool {
		x, y := a.Bundles[i], a.Bundles[j]
		if x.Package != y.Package {
			return x.Package < y.Package
		}
		if x.Channel != y.Channel {
			return x.Channel < y.Channel
		}
		return x.Name < y.Name
	})
	return a, nil
}
