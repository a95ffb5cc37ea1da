package graphimage

import "github.com/spf13/pflag"

// Flags are where the update graph image's data and base come from.
type Flags struct{ DataURL, BaseImage string }

// FlagsVar adds --graph-data-url and --graph-base-image to fs.
func FlagsVar(fs *pflag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.DataURL, "graph-data-url", "", "update graph data tarball (default $GRAPH_DATA_URL_OVERRIDE, else "+DefaultDataURL+")")
	fs.StringVar(&f.BaseImage, "graph-base-image", DefaultBaseImage, "base image of the update graph image")
	return f
}
