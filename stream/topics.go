package stream

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/scorestream/scorestream/config"
)

// Topic is one topic a config names, with what scorestream needs of it.
type Topic struct {
	Field string // the config field naming it: "stream.input_topics[0]", "output.changelog_topic"
	Name  string
	Input bool // read, never written; `topics create` makes it only when given a partition count
	// Changelog: the state changelog, which must be compacted (ChangelogConfigs)
	// and co-partitioned with the input.
	Changelog bool
}

// Topics lists the topics cfg names: the inputs, then the outputs that are set.
func Topics(cfg *config.Config) []Topic {
	var ts []Topic
	for i, in := range cfg.Stream.InputTopics {
		ts = append(ts, Topic{Field: fmt.Sprintf("stream.input_topics[%d]", i), Name: in, Input: true})
	}
	for _, o := range []Topic{
		{Field: "output.predictions_topic", Name: cfg.Output.PredictionsTopic},
		{Field: "output.dead_letter_topic", Name: cfg.Output.DeadLetterTopic},
		{Field: "output.changelog_topic", Name: cfg.Output.ChangelogTopic, Changelog: true},
		{Field: "output.shadow_topic", Name: cfg.Output.ShadowTopic},
	} {
		if o.Name != "" {
			ts = append(ts, o)
		}
	}
	return ts
}

// Configs are the topic settings scorestream creates t with: ChangelogConfigs for
// the changelog, the broker's defaults (nil) for the others.
func (t Topic) Configs() map[string]string {
	if t.Changelog {
		return ChangelogConfigs()
	}
	return nil
}

// ChangelogConfigs are the state changelog's topic settings, the one place
// `scorestream topics create`, output.create_topics and `run --check` take them
// from. Compaction keeps each entity's last state (and drops tombstoned ones), so
// a restore reads one record per live entity instead of the whole history.
func ChangelogConfigs() map[string]string { return maps.Clone(changelogTopicConfig) }

// Created is what CreateTopics did with one topic.
type Created struct {
	Topic
	Partitions int32
	// Replication is the replication factor asked for (-1: the broker's default)
	// or, for a topic the brokers reported, the replicas of its partition 0.
	Replication int
	// Existed: the topic was there already (listed, or created by someone else
	// between the listing and the create: TOPIC_ALREADY_EXISTS).
	Existed bool
}

// CreateTopics creates every missing output topic of cfg with the first input's
// partition count, replication factor rf (-1: the broker's default) and the
// topic's Configs, and reports each topic of Topics(cfg) in order. A missing input
// is created with inputPartitions partitions when that is > 0, and is an error
// otherwise (its partition count is the user's choice, and every output follows
// it). A topic another instance creates at the same time (TOPIC_ALREADY_EXISTS)
// counts as existing. An existing changelog with a partition count other than
// the input's is an error; existing topics are never altered.
func CreateTopics(ctx context.Context, adm *kadm.Client, cfg *config.Config, inputPartitions int32, rf int16) ([]Created, error) {
	details, err := adm.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	var out []Created
	parts := int32(-1)
	for _, t := range Topics(cfg) {
		c := Created{Topic: t, Replication: int(rf)}
		if d, ok := details[t.Name]; ok && d.Err == nil {
			c.Existed, c.Partitions = true, int32(len(d.Partitions))
			if p, ok := d.Partitions[0]; ok {
				c.Replication = len(p.Replicas)
			}
		}
		switch {
		case t.Input && !c.Existed && inputPartitions <= 0:
			return out, fmt.Errorf("%s: topic %q does not exist: create it, or give its partition count to create it here", t.Field, t.Name)
		case t.Input && !c.Existed:
			c.Partitions = inputPartitions
		case t.Input:
		case parts < 0:
			return out, fmt.Errorf("%s: no input topic to take the partition count from", t.Field)
		case c.Existed && t.Changelog && c.Partitions != parts:
			return out, fmt.Errorf("%s: topic %q has %d partitions, the input %q has %d: the changelog must be co-partitioned with the input",
				t.Field, t.Name, c.Partitions, cfg.Stream.InputTopics[0], parts)
		case !c.Existed:
			c.Partitions = parts
		}
		if !c.Existed {
			var got int16
			if c.Existed, got, err = createTopic(ctx, adm, t, c.Partitions, rf); err != nil {
				return out, err
			}
			if got > 0 {
				c.Replication = int(got)
			}
		}
		if t.Input && parts < 0 {
			parts = c.Partitions
		}
		out = append(out, c)
	}
	return out, waitListed(ctx, adm, out)
}

// waitListed waits until the brokers' metadata lists every created topic with
// all its partitions led: a broker answers CreateTopics before its metadata has
// the topic, and the next step (run --check, run) must find it.
func waitListed(ctx context.Context, adm *kadm.Client, cs []Created) error {
	var names []string
	for _, c := range cs {
		if !c.Existed {
			names = append(names, c.Name)
		}
	}
	for len(names) > 0 {
		// WithAuthorizedOps makes kadm ask the brokers instead of the client's
		// metadata cache, which would keep answering "missing".
		td, err := adm.ListTopics(kadm.WithAuthorizedOps(ctx), names...)
		if err == nil {
			names = slices.DeleteFunc(names, func(n string) bool { return listed(td[n], cs) })
		}
		if len(names) == 0 {
			return nil
		}
		if err := Sleep(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("created topics %v are not in the brokers' metadata yet: %w", names, err)
		}
	}
	return nil
}

// listed: d has the partition count its Created entry asked for, each with a leader.
func listed(d kadm.TopicDetail, cs []Created) bool {
	if d.Err != nil {
		return false
	}
	for _, c := range cs {
		if c.Name == d.Topic && int32(len(d.Partitions)) != c.Partitions {
			return false
		}
	}
	for _, p := range d.Partitions {
		if p.Err != nil || p.Leader < 0 {
			return false
		}
	}
	return true
}

// createTopic creates t; existed is true when another client created it first,
// replication is the replication factor the broker reports (0 if it did not).
//
// kadm's CreateTopic returns the topic's own error both in the response and as
// its error, so TOPIC_ALREADY_EXISTS is looked for in err.
func createTopic(ctx context.Context, adm *kadm.Client, t Topic, partitions int32, rf int16) (existed bool, replication int16, err error) {
	var configs map[string]*string
	if cs := t.Configs(); cs != nil {
		configs = make(map[string]*string, len(cs))
		for k, v := range cs {
			configs[k] = kadm.StringPtr(v)
		}
	}
	resp, err := adm.CreateTopic(ctx, partitions, rf, configs, t.Name)
	switch {
	case err == nil:
		return false, resp.ReplicationFactor, nil
	case errors.Is(err, kerr.TopicAlreadyExists):
		return true, 0, nil
	}
	return false, 0, fmt.Errorf("%s: create topic %q: %w", t.Field, t.Name, err)
}
