//go:build integration

package integration

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/scorestream/scorestream/audit"
	"github.com/scorestream/scorestream/gen"
)

// TestRegistryOutage: the schema registry stops answering (SIGSTOP: connections
// hang, as behind a dead load balancer) just as records with a writer schema
// the instances have never seen arrive. The instances must hold those records,
// neither dead-lettering nor skipping them, and score them once the registry
// answers again (SIGCONT), exactly once.
//
// The scenario has its own `scorestream registry` process, so stopping it
// affects no other test (and works when the suite runs against Apicurio).
func TestRegistryOutage(t *testing.T) {
	reg, url, err := startRegistry("outage-registry")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.stop)
	s := newScenario(t, "registry-outage", suite.brokers, -1)
	s.registry = url
	s.cfgPatch = func(c map[string]any) {
		c["registry"].(map[string]any)["timeout"] = "2s"
	}
	n1 := 20_000 * suite.scale
	n2 := 5_000 * suite.scale
	var rep audit.Report
	res := result{"instances": 2}
	defer func() { s.report(res, rep) }()

	ins := []*instance{s.start("0"), s.start("1")}
	// Schema v1 records first, all scored: the instances have v1 cached.
	sum := s.gen(n1, 0, 31).wait(t, n1)
	s.waitCaughtUp(5 * time.Minute)

	// Register the evolved schema v2 while the registry is up; the instances
	// have not looked it up.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rc, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := rc.CreateSchema(ctx, s.input+"-value", sr.Schema{Schema: gen.SchemaV2})
	if err != nil {
		t.Fatalf("register schema v2: %v", err)
	}
	v2Start := s.ends(ctx)
	errsBefore := make([]float64, len(ins))
	for i, in := range ins {
		if errsBefore[i], err = in.metric("scorestream_registry_errors_total", `kind="unavailable"`); err != nil {
			t.Fatal(err)
		}
	}

	// The outage, then v2 records.
	if err := reg.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	downAt := time.Now()
	if err := produceV2(ctx, s, ss.ID, n2); err != nil {
		t.Fatal(err)
	}
	// Every instance owns partitions with v2 records: each must fail lookups
	// and retry (two failures at least) while the registry is down.
	for i, in := range ins {
		if err := waitMetric(in, "scorestream_registry_errors_total", `kind="unavailable"`, errsBefore[i]+2, 2*time.Minute); err != nil {
			t.Fatalf("instance %s did not retry the registry: %v", in.id, err)
		}
	}
	ends, committed, err := s.offsets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	held := int64(0)
	for p, start := range v2Start {
		if committed[p] > start {
			t.Errorf("partition %d: committed offset %d is past the first v2 record %d while the registry was down: records were dead-lettered or skipped",
				p, committed[p], start)
		}
		held += ends[p] - committed[p]
	}
	if held < int64(n2) {
		t.Errorf("only %d records beyond the committed offsets while the registry was down, want at least the %d v2 records", held, n2)
	}
	down := time.Since(downAt)
	if err := reg.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	upAt := time.Now()
	s.waitCaughtUp(5 * time.Minute)
	recovered := time.Since(upAt)
	s.stopGracefully()

	rep = s.audit()
	s.requireClean(rep, sum.Events+int64(n2))
	// The only dead letters are gen's deliberately malformed v1 records.
	if rep.DeadLetters != sum.MalformedTotal {
		t.Errorf("dead letters %d, want the %d malformed v1 records: v2 records were dead-lettered", rep.DeadLetters, sum.MalformedTotal)
	}
	res["v2_events"] = n2
	res["held_records_at_check"] = held
	res["outage_ms"] = ms(down)
	res["caught_up_after_registry_back_ms"] = ms(recovered)
	t.Logf("registry down %s, %d records held beyond the committed offsets; all scored %s after it came back",
		down.Round(time.Millisecond), held, recovered.Round(time.Millisecond))
}

// produceV2 produces n well-formed records under schema v2 (registry id id) to
// the scenario's input, in-process: gen would need the registry, which is down.
func produceV2(ctx context.Context, s *scenario, id, n int) error {
	g, err := gen.New(gen.Config{Seed: 32, SchemaID: id, SchemaVersion: 2})
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers), kgo.DefaultProduceTopic(s.input))
	if err != nil {
		return err
	}
	defer cl.Close()
	for done := 0; done < n; {
		batch := make([]*kgo.Record, 0, min(500, n-done))
		for range cap(batch) {
			r := g.NextRecord()
			batch = append(batch, &kgo.Record{Key: r.Key, Value: r.Value})
		}
		if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
			return fmt.Errorf("produce v2 records: %w", err)
		}
		done += len(batch)
	}
	return nil
}
