package stream

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/demo"
)

// topicsFixture is a kfake cluster with only the demo's input topic (4
// partitions), a function making admin clients on it, and the demo config
// pointing at it. Each step of a test takes a new admin client, as each process
// does: a client's cached metadata is not what these tests are about.
func topicsFixture(t *testing.T) (func() *kadm.Client, *config.Config) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "payments"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg, err := demo.Config(c.ListenAddrs(), "http://127.0.0.1:1", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return func() *kadm.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return kadm.NewClient(cl)
	}, cfg
}

// TestCreateTopicAlreadyExists: a topic another client created between our
// listing and our create is accepted (kadm returns TOPIC_ALREADY_EXISTS as the
// error, not only in the response).
func TestCreateTopicAlreadyExists(t *testing.T) {
	newAdm, cfg := topicsFixture(t)
	ctx := context.Background()
	tp := Topics(cfg)[1]
	if _, err := newAdm().CreateTopic(ctx, 4, 1, nil, tp.Name); err != nil {
		t.Fatal(err)
	}
	existed, _, err := createTopic(ctx, newAdm(), tp, 4, -1)
	if err != nil || !existed {
		t.Fatalf("createTopic of an existing topic = existed %v, %v; want existed, no error", existed, err)
	}
	if err := ensureTopics(ctx, newAdm(), cfg, true, -1, nil); err != nil {
		t.Fatalf("ensureTopics with create: %v", err)
	}
}

// TestCreateTopicsConcurrently: two callers creating the same topics at once
// both succeed, every topic is created once with the input's partition count,
// and the changelog gets ChangelogConfigs.
func TestCreateTopicsConcurrently(t *testing.T) {
	newAdm, cfg := topicsFixture(t)
	ctx := context.Background()
	const callers = 2
	results := make([][]Created, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { results[i], errs[i] = CreateTopics(ctx, newAdm(), cfg, 0, -1) })
	}
	wg.Wait()
	created := map[string]int{}
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		for _, c := range results[i] {
			if c.Partitions != 4 {
				t.Errorf("caller %d: %s with %d partitions, want 4", i, c.Name, c.Partitions)
			}
			if !c.Existed {
				created[c.Name]++
			}
		}
	}
	want := Topics(cfg)
	if len(want) != 4 {
		t.Fatalf("demo config names %d topics, want 4 (input, predictions, dead letters, changelog)", len(want))
	}
	for _, tp := range want[1:] {
		if created[tp.Name] != 1 {
			t.Errorf("%s created %d times, want once", tp.Name, created[tp.Name])
		}
	}
	adm := newAdm()
	td, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range want {
		if n := len(td[tp.Name].Partitions); n != 4 {
			t.Errorf("%s has %d partitions, want 4", tp.Name, n)
		}
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, cfg.Output.ChangelogTopic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(cfg.Output.ChangelogTopic, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range ChangelogConfigs() {
		found := false
		for _, c := range rc.Configs {
			found = found || (c.Key == k && c.MaybeValue() == v)
		}
		if !found {
			t.Errorf("changelog lacks %s=%s: %v", k, v, rc.Configs)
		}
	}
}

// TestCreateTopicsInput: a missing input is an error naming the field, unless a
// partition count is given; a changelog with the wrong partition count is
// refused, not altered.
func TestCreateTopicsInput(t *testing.T) {
	newAdm, cfg := topicsFixture(t)
	ctx := context.Background()
	cfg.Stream.InputTopics = []string{"payments-new"}
	if _, err := CreateTopics(ctx, newAdm(), cfg, 0, -1); err == nil || !strings.Contains(err.Error(), `stream.input_topics[0]: topic "payments-new" does not exist`) {
		t.Fatalf("missing input without a partition count: %v", err)
	}
	got, err := CreateTopics(ctx, newAdm(), cfg, 3, -1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range got {
		if c.Existed || c.Partitions != 3 {
			t.Errorf("%s: existed %v, %d partitions; want created with 3", c.Name, c.Existed, c.Partitions)
		}
	}
	cfg.Stream.InputTopics = []string{"payments"} // 4 partitions, the changelog has 3
	if _, err := CreateTopics(ctx, newAdm(), cfg, 0, -1); err == nil || !strings.Contains(err.Error(), "co-partitioned") {
		t.Fatalf("changelog with the wrong partition count: %v", err)
	}
}

// TestChangelogSettings: only a changelog that is not compacted is a problem;
// other settings that differ from what topics create gives are a note.
func TestChangelogSettings(t *testing.T) {
	newAdm, _ := topicsFixture(t)
	ctx := context.Background()
	for name, cfg := range map[string]map[string]*string{
		"compacted": {"cleanup.policy": kadm.StringPtr("compact,delete"), "segment.ms": kadm.StringPtr("600000")},
		"deleted":   {"cleanup.policy": kadm.StringPtr("delete")},
	} {
		if _, err := newAdm().CreateTopic(ctx, 4, 1, cfg, name); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{"cleanup.policy": "compact", "segment.ms": "3600000"}
	problem, note, read := changelogSettings(ctx, newAdm(), "compacted", want)
	if problem != "" || !read || note != "settings segment.ms=600000 (topics create: 3600000)" {
		t.Errorf("compacted: problem %q, note %q, read %v", problem, note, read)
	}
	problem, _, read = changelogSettings(ctx, newAdm(), "deleted", want)
	if !strings.Contains(problem, `cleanup.policy="delete", want "compact"`) || !read {
		t.Errorf("deleted: problem %q, read %v", problem, read)
	}
}
