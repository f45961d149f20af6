package stream

import (
	"context"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestChangelogTopicConfig: a changelog created by EnsureTopics gets settings
// that let compaction act and passes the check; a changelog that is not
// compacted is refused naming the field; a compacted one with broker-default
// segments draws a warning.
func TestChangelogTopicConfig(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 3, -1, changelogCreate(), "created"); err != nil {
		t.Fatal(err)
	}
	ws, err := checkChangelogConfig(ctx, adm, "created")
	if err != nil || len(ws) != 0 {
		t.Fatalf("created changelog: warnings %v err %v, want none", ws, err)
	}
	del, compact, week := "delete", "compact", "604800000"
	if _, err := adm.CreateTopic(ctx, 3, -1, map[string]*string{"cleanup.policy": &del}, "deleting"); err != nil {
		t.Fatal(err)
	}
	if _, err := checkChangelogConfig(ctx, adm, "deleting"); err == nil || !strings.Contains(err.Error(), "output.changelog_topic") || !strings.Contains(err.Error(), "cleanup.policy") {
		t.Fatalf("a changelog with cleanup.policy=delete: err %v, want one naming output.changelog_topic and cleanup.policy", err)
	}
	if _, err := adm.CreateTopic(ctx, 3, -1, map[string]*string{"cleanup.policy": &compact, "segment.ms": &week}, "slow"); err != nil {
		t.Fatal(err)
	}
	ws, err = checkChangelogConfig(ctx, adm, "slow")
	if err != nil || len(ws) == 0 || !strings.Contains(ws[0], "segment.ms") {
		t.Fatalf("a changelog with 7-day segments: warnings %v err %v, want a segment.ms warning", ws, err)
	}
}

func changelogCreate() map[string]*string {
	out := map[string]*string{}
	for k, v := range ChangelogConfigs() {
		out[k] = kadm.StringPtr(v)
	}
	return out
}
