package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/stream"
)

const topicsUsage = `Usage: scorestream topics create -c config.yaml [--partitions N] [--replication-factor N]

Create the topics a config names that do not exist yet, and print every topic
with its settings. Outputs (predictions, dead letters, shadow) get the input's
partition count; the state changelog gets the input's partition count too
(co-partitioned: state for partition p is restored from changelog partition p)
and is compacted. Existing topics are listed and never altered; a topic that
another instance creates at the same moment counts as existing.

An input topic that does not exist is created only with --partitions (its
partition count bounds how many instances share the work, and every output
follows it); without it, a missing input is an error.

"scorestream run" never creates topics unless output.create_topics is true, and
"run --check" never does.

Flags:
  -c, --config FILE           the YAML config (see config/example.yaml)
      --partitions N          create a missing input topic with N partitions
      --replication-factor N  replication factor of created topics (default -1:
                              the broker's default.replication.factor)
      --timeout D             how long to wait for the brokers (default 10s)

Examples:
  scorestream topics create -c prod.yaml
  scorestream topics create -c dev.yaml --partitions 6 --replication-factor 1
`

func topicsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "create" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, topicsUsage)
			return exitOK
		}
		fmt.Fprintf(stderr, "scorestream topics: want the subcommand create\n\n%s", topicsUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("topics create", flag.ContinueOnError)
	var path string
	fs.StringVar(&path, "c", "", "")
	fs.StringVar(&path, "config", "", "")
	partitions := fs.Int("partitions", 0, "")
	rf := fs.Int("replication-factor", -1, "")
	timeout := fs.Duration("timeout", 10*time.Second, "")
	if ok, code := parseFlagsUsage(fs, args[1:], "topics create", topicsUsage, stdout, stderr); !ok {
		return code
	}
	switch {
	case path == "" || fs.NArg() > 0:
		fmt.Fprintf(stderr, "scorestream topics create: -c config.yaml is required\n\n%s", topicsUsage)
		return exitUsage
	case *partitions < 0 || *partitions > 1<<20:
		fmt.Fprintf(stderr, "scorestream topics create: --partitions %d: want 1 or more\n", *partitions)
		return exitUsage
	case *rf == 0 || *rf < -1 || *rf > 1<<14:
		fmt.Fprintf(stderr, "scorestream topics create: --replication-factor %d: want -1 (broker default) or 1 or more\n", *rf)
		return exitUsage
	case *timeout <= 0:
		fmt.Fprintf(stderr, "scorestream topics create: --timeout %v: want > 0\n", *timeout)
		return exitUsage
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "scorestream topics create: %v\n", err)
		return exitUsage
	}
	conn, err := cfg.KafkaOpts()
	if err != nil {
		fmt.Fprintf(stderr, "scorestream topics create: %v\n", err)
		return exitUsage
	}
	cl, err := kgo.NewClient(conn...)
	if err != nil {
		fmt.Fprintf(stderr, "scorestream topics create: kafka client: %v\n", err)
		return exitUsage
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		fmt.Fprintf(stderr, "scorestream topics create: no broker answered at %s within %v: %v\n",
			strings.Join(cfg.Kafka.Brokers, ","), *timeout, err)
		return exitFailure
	}
	done, err := stream.CreateTopics(ctx, kadm.NewClient(cl), cfg, int32(*partitions), int16(*rf))
	created := 0
	for _, c := range done {
		what := "created"
		if c.Existed {
			what = "exists "
		} else {
			created++
		}
		fmt.Fprintf(stdout, "%s  %-40s %s: %s\n", what, c.Name, c.Field, topicSettings(c))
	}
	if err != nil {
		fmt.Fprintf(stderr, "scorestream topics create: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "%d topics: %d created, %d existed\n", len(done), created, len(done)-created)
	return exitOK
}

// topicSettings is "12 partitions, replication factor 3, cleanup.policy=compact".
func topicSettings(c stream.Created) string {
	rf := fmt.Sprint(c.Replication)
	if c.Replication < 0 {
		rf = "broker default"
	}
	s := fmt.Sprintf("%d partitions, replication factor %s", c.Partitions, rf)
	if c.Existed {
		return s // its settings are its own: run --check says what is wrong with them
	}
	cs := c.Configs()
	if len(cs) == 0 {
		return s + ", broker default settings"
	}
	for _, k := range slices.Sorted(maps.Keys(cs)) {
		s += fmt.Sprintf(", %s=%s", k, cs[k])
	}
	return s
}
