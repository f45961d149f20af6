package main

import (
	"bytes"
	"context"
	"maps"
	"runtime"
	"strings"
	"testing"

	"github.com/scorestream/scorestream/model"
)

func TestVersion(t *testing.T) {
	old := version
	version = "v9.8.7-test" // what -ldflags "-X main.version=..." sets
	t.Cleanup(func() { version = old })
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out, errb bytes.Buffer
		if code := dispatch(context.Background(), args, &out, &errb); code != exitOK {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errb.String())
		}
		for _, want := range []string{"scorestream v9.8.7-test", "commit:", runtime.Version(), strings.Join(model.Formats(), ", ")} {
			if !strings.Contains(out.String(), want) {
				t.Fatalf("%v: output %q lacks %q", args, out.String(), want)
			}
		}
	}
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"version", "extra"}, &out, &errb); code != exitUsage {
		t.Fatalf("version extra: exit %d, want %d", code, exitUsage)
	}
}

func TestBuildInfoMetric(t *testing.T) {
	mfs, err := newRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	b := readBuildInfo()
	want := map[string]string{"version": b.Version, "revision": b.Revision, "goversion": runtime.Version(),
		"formats": strings.Join(b.Formats, ",")}
	for _, mf := range mfs {
		if mf.GetName() != "scorestream_build_info" {
			continue
		}
		if len(mf.GetMetric()) != 1 || mf.GetMetric()[0].GetGauge().GetValue() != 1 {
			t.Fatalf("scorestream_build_info: want one series = 1, got %v", mf.GetMetric())
		}
		got := map[string]string{}
		for _, lp := range mf.GetMetric()[0].GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		if !maps.Equal(got, want) {
			t.Fatalf("scorestream_build_info labels %v, want %v", got, want)
		}
		return
	}
	t.Fatal("no scorestream_build_info metric")
}

// TestHelpStyle: every command's --help (and each model subcommand's) goes to
// stdout with exit 0, starts with its usage line and has examples.
func TestHelpStyle(t *testing.T) {
	runs := [][]string{{"model", "check", "--help"}, {"model", "predict", "--help"}}
	for _, c := range commands() {
		runs = append(runs, []string{c.name, "--help"})
	}
	for _, args := range runs {
		var out, errb bytes.Buffer
		code := dispatch(context.Background(), args, &out, &errb)
		name := strings.Join(args[:len(args)-1], " ")
		if code != exitOK || !strings.HasPrefix(out.String(), "Usage: scorestream "+name) || !strings.Contains(out.String(), "\nExamples:\n") {
			t.Errorf("%v: exit %d; want exit 0 and stdout starting %q with an Examples: section, got:\n%s", args, code, "Usage: scorestream "+name, out.String())
		}
	}
}
