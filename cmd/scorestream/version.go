package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scorestream/scorestream/model"
)

// version and revision are set at build time (scripts/build.sh does):
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.revision=$(git rev-parse HEAD)" ./cmd/scorestream
//
// Without them the version is the module version (a "go install ...@v1.2.0"
// build) or "dev", and the revision is Go's VCS stamp (vcs.revision) or
// "unknown".
var version, revision = "", ""

const versionUsage = `Usage: scorestream version
       scorestream --version

Print the version, the commit it was built from, the Go version and the model
formats compiled in (onnx needs a cgo build with -tags onnx, see
scripts/build.sh). The same facts are the labels of the metric
scorestream_build_info, whose value is always 1.

Examples:
  scorestream version
`

// buildInfo is what this binary knows about how it was built.
type buildInfo struct {
	Version   string
	Revision  string // the VCS commit, "+dirty" if the tree had changes; "unknown" without VCS stamping
	GoVersion string
	Formats   []string
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Revision: revision, GoVersion: runtime.Version(), Formats: model.Formats()}
	info, ok := debug.ReadBuildInfo()
	if ok && b.Revision == "" {
		var rev, modified string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			b.Revision = rev
			if modified == "true" {
				b.Revision += "+dirty"
			}
		}
	}
	if ok && b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		b.Version = info.Main.Version
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	if b.Revision == "" {
		b.Revision = "unknown"
	}
	return b
}

func (b buildInfo) String() string {
	return fmt.Sprintf("scorestream %s\n  commit:  %s\n  go:      %s\n  formats: %s\n",
		b.Version, b.Revision, b.GoVersion, strings.Join(b.Formats, ", "))
}

// buildInfoGauge is scorestream_build_info{version,revision,goversion,formats} = 1.
func buildInfoGauge(b buildInfo) prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "scorestream_build_info",
		Help: "Always 1; the labels say which build is running (formats: the model formats compiled in).",
	}, []string{"version", "revision", "goversion", "formats"})
	g.WithLabelValues(b.Version, b.Revision, b.GoVersion, strings.Join(b.Formats, ",")).Set(1)
	return g
}

func versionCmd(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if ok, code := parseFlagsUsage(fs, args, "version", versionUsage, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "scorestream version: unexpected argument %q\n\n%s", fs.Arg(0), versionUsage)
		return exitUsage
	}
	fmt.Fprint(stdout, readBuildInfo())
	return exitOK
}
