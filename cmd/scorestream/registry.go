package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"
)

const registryUsage = `Usage: scorestream registry [--listen ADDR]

Serve an in-memory, Confluent-compatible schema registry (franz-go srfake) over
HTTP until Ctrl-C. For local testing and CI when no real registry is at hand:
point scorestream (registry.urls), scorestream gen (--registry) and other
clients (confluent-kafka's SchemaRegistryClient, curl) at it. Schemas are lost
when it stops.

Flags:
  --listen ADDR   address to listen on (default 127.0.0.1:8081)

Examples:
  scorestream registry &
  curl -s http://127.0.0.1:8081/subjects
`

func registryCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("registry", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8081", "")
	if ok, code := parseFlagsUsage(fs, args, "registry", registryUsage, stdout, stderr); !ok {
		return code
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "scorestream registry: %v\n", err)
		return exitFailure
	}
	srv := &http.Server{Handler: srfake.NewRegistry().Handler(), ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stderr, "schema registry (in memory) on http://%s\n", ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return exitOK
	case err := <-done:
		if !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(stderr, "scorestream registry: %v\n", err)
			return exitFailure
		}
		return exitOK
	}
}
