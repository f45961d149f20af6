//go:build integration

package integration

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/scorestream/scorestream/audit"
)

// TestBrokerFailure runs on the 3-node cluster of scripts/kafka.sh
// (RF 3, min ISR 2): one broker is SIGKILLed mid-run, later started again.
// Set SCORESTREAM_IT_CLUSTER to its brokers (scripts/integration.sh does).
func TestBrokerFailure(t *testing.T) {
	brokers := os.Getenv("SCORESTREAM_IT_CLUSTER")
	if brokers == "" {
		t.Skip("SCORESTREAM_IT_CLUSTER not set (scripts/kafka.sh cluster-start; scripts/integration.sh sets it)")
	}
	s := newScenario(t, "broker-failure", brokers, 3)
	n := 100_000 * suite.scale
	const rate = 3000.0
	var rep audit.Report
	res := result{"instances": 3, "brokers": 3, "replication_factor": 3, "min_insync_replicas": 2}
	defer func() { s.report(res, rep) }()
	for _, id := range []string{"0", "1", "2"} {
		s.start(id)
	}
	g := s.gen(n, rate, 17)
	// A generous bound, not an expectation: on a 3-node cluster every
	// transaction used to meet CONCURRENT_TRANSACTIONS on its produces and wait
	// 5 s per retry for a metadata refresh (docs/reliability.md, finding 6),
	// so instance 0 committed 4 transactions in CI's first minute; on 2 cores
	// shared with other suites it can still be slow.
	if err := waitMetric(s.instances["0"], "scorestream_stream_transactions_total", `result="committed"`, 5, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	// Kill the node leading the most input partitions.
	victim := "1"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if td, err := s.adm.ListTopics(ctx, s.input); err == nil {
		count := map[int32]int{}
		for _, p := range td[s.input].Partitions {
			count[p.Leader]++
		}
		best := 0
		for id, c := range count {
			if c > best && id >= 1 && id <= 3 {
				best, victim = c, string(rune('0'+id))
			}
		}
	}
	base, err := s.committed(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	res["killed_node"] = victim
	killed := time.Now()
	kafka(t, "cluster-kill", victim)
	t.Cleanup(func() { kafka(t, "cluster-start-node", victim) })
	d, err := s.waitAdvanced(base, killed, 5*time.Minute)
	if err != nil {
		t.Errorf("after killing node %s: %v", victim, err)
	} else {
		res["kill_to_all_partitions_committing_s"] = ms(d) / 1000
		t.Logf("node %s killed → every partition committing again: %s", victim, d.Round(time.Millisecond))
	}
	sum := g.wait(t, n)
	s.waitCaughtUp(5 * time.Minute)
	s.stopGracefully()
	rep = s.audit()
	s.requireClean(rep, sum.Events)
	kafka(t, "cluster-start-node", victim)
}
