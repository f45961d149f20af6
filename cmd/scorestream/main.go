// Command scorestream scores a Kafka event stream with a trained model, exactly once.
//
// main only wires: it picks the subcommand, and each subcommand (one file each)
// parses its flags, builds its stages from the packages and maps the result to an
// exit code: 0 ok, 1 runtime failure, 2 bad usage or bad config.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes shared by every subcommand.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// command is one subcommand. run gets the arguments after the subcommand's name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"run", "consume, score and produce exactly once against a Kafka cluster (needs -c config.yaml)", runCmd},
		{"demo", "the whole pipeline in one process on an embedded broker and registry", demoCmd},
		{"gen", "produce synthetic card-payment events (Avro) to a topic", genCmd},
		{"audit", "verify that every input offset has exactly one prediction or dead letter", auditCmd},
		{"model", "check a model file and score CSV rows offline (model predict, model check)", modelCmd},
		{"registry", "serve an in-memory schema registry over HTTP for local testing", registryCmd},
		{"bench", "throughput and latency on a real broker, as a ratio to a no-op copier", benchCmd},
		{"txn", "find and repair hanging transactions on the pipeline's partitions (txn hanging, txn abort)", txnCmd},
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `scorestream — score a Kafka event stream with a trained model, exactly once.

Usage:
  scorestream <command> [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Start here:
  scorestream demo --events 50000          # everything in one process, nothing to install
  scorestream run -c config/example.yaml   # against a real cluster and registry

Run "scorestream <command> --help" for a command's flags and examples.
Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad config.
`)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "scorestream: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}
