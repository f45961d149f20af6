package deploy

import (
	"context"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scorestream/scorestream/demo"
	"github.com/scorestream/scorestream/gen"
	"github.com/scorestream/scorestream/monitor"
	"github.com/scorestream/scorestream/stream"
)

// recordingRegisterer remembers every collector registered through it, so that
// metric vectors with no series yet (an error counter that never counted) are
// known by name too: Gather reports only families with series.
type recordingRegisterer struct {
	*prometheus.Registry
	mu sync.Mutex
	cs []prometheus.Collector
}

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	r.mu.Lock()
	r.cs = append(r.cs, c)
	r.mu.Unlock()
	return r.Registry.Register(c)
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

var fqNameRE = regexp.MustCompile(`fqName: "([^"]+)"`)

// registerOthers registers the metrics of processes other than the pipeline
// whose series the dashboards read (e.g. a label-join monitor): add them here.
func registerOthers(reg prometheus.Registerer) {
	if err := monitor.Exercise(reg); err != nil {
		panic(err)
	}
}

// exportedMetrics runs the pipeline (the demo's config: embedded kfake broker
// and registry, one loop) on a few hundred generated events, some malformed,
// and returns the series names its registry holds: every gathered family (with
// _bucket, _sum, _count for histograms) and every registered collector's
// metric names, whether or not it has a series yet. A series name is known
// only if the code registers it, not because a list says so.
func exportedMetrics(t *testing.T) []string {
	t.Helper()
	env, err := demo.Start(3, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	cfg, err := demo.Config(env.Brokers, env.RegistryURL, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg := &recordingRegisterer{Registry: prometheus.NewRegistry()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	shared, err := stream.Prepare(ctx, cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	registerOthers(reg)
	loop, err := shared.NewLoop("metrics-test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- loop.Run(runCtx) }()
	defer func() { stop(); <-done }()
	prod, err := demo.NewProducer(ctx, env.Brokers, env.RegistryURL, cfg.Stream.InputTopics[0], gen.Config{Seed: 7, MalformedRate: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	const n = 400
	if err := prod.Produce(ctx, n, 0); err != nil {
		t.Fatal(err)
	}
	for loop.Stats.Predictions.Load()+loop.Stats.DeadLetters.Load() < n {
		if ctx.Err() != nil {
			t.Fatalf("the pipeline scored %d of %d records", loop.Stats.Predictions.Load()+loop.Stats.DeadLetters.Load(), n)
		}
		time.Sleep(20 * time.Millisecond) // polling inside the deadline above
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil // for the deferred stop
	var names []string
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		n := mf.GetName()
		names = append(names, n)
		if mf.GetType().String() == "HISTOGRAM" {
			names = append(names, n+"_bucket", n+"_sum", n+"_count")
		}
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	for _, c := range reg.cs {
		ch := make(chan *prometheus.Desc, 64)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			if m := fqNameRE.FindStringSubmatch(d.String()); m != nil && !slices.Contains(names, m[1]) {
				names = append(names, m[1])
				if !strings.HasSuffix(m[1], "_total") { // a histogram with no series yet
					names = append(names, m[1]+"_bucket", m[1]+"_sum", m[1]+"_count")
				}
			}
		}
	}
	return names
}
