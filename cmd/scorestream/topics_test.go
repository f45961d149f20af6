package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

func topicsRun(t *testing.T, args ...string) (code int, out string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code = topicsCmd(context.Background(), args, &stdout, &stderr)
	return code, stdout.String() + stderr.String()
}

func TestTopicsCreateUsage(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no subcommand", nil, exitUsage, "want the subcommand create"},
		{"help", []string{"--help"}, exitOK, "Usage: scorestream topics create"},
		{"create help", []string{"create", "--help"}, exitOK, "--replication-factor N"},
		{"no config", []string{"create"}, exitUsage, "-c config.yaml is required"},
		{"bad rf", []string{"create", "-c", "x.yaml", "--replication-factor", "0"}, exitUsage, "--replication-factor 0"},
		{"bad config names the field", []string{"create", "-c", "../../config/testdata/commit_interval_zero.bad.yaml"}, exitUsage, "stream.commit_interval"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out := topicsRun(t, c.args...)
			if code != c.code || !strings.Contains(out, c.want) {
				t.Fatalf("exit %d (want %d), output lacks %q:\n%s", code, c.code, c.want, out)
			}
		})
	}
}

// TestTopicsCreate: a missing input needs --partitions; with it every topic is
// created and printed with its settings; a second run creates nothing.
func TestTopicsCreate(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	path := checkConfig(t, c.ListenAddrs(), "http://"+genClosedAddr(t), nil)

	code, out := topicsRun(t, "create", "-c", path)
	if code != exitFailure || !strings.Contains(out, `stream.input_topics[0]: topic "payments" does not exist`) {
		t.Fatalf("without --partitions: exit %d, want 1 naming the input:\n%s", code, out)
	}
	code, out = topicsRun(t, "create", "-c", path, "--partitions", "3")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"created  payments ", "created  predictions ", "created  payments-dlq ",
		"output.changelog_topic: 3 partitions, replication factor ", "cleanup.policy=compact",
		"4 topics: 4 created, 0 existed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out = topicsRun(t, "create", "-c", path, "--partitions", "3")
	if code != exitOK || !strings.Contains(out, "4 topics: 0 created, 4 existed") {
		t.Fatalf("second run: exit %d:\n%s", code, out)
	}
}
