package stream

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/modelwatch"
	"github.com/scorestream/scorestream/sink"
	"github.com/scorestream/scorestream/stream/features"
)

// Finding is one result of Check: what was checked, and either what was found
// (Err nil) or what is wrong.
type Finding struct {
	Check  string // what was checked, led by the config field: "output.changelog_topic", "registry.urls"
	Detail string // on success: what was found
	Err    error  // nil: the check passed
}

// Check is `scorestream run --check`: it checks everything a run needs and
// reports every problem it finds, changing nothing: no topic is created (whatever
// output.create_topics says), no schema is registered (the prediction schema is
// tested with the registry's compatibility endpoint), no group is joined.
//
// The model and feature checks run first and need no network; the brokers and
// the registry are then checked at the same time, each within timeout, so Check
// returns within about timeout even when both are unreachable. The findings are
// in a fixed order: model, Kafka (brokers, each topic, group, transactional id),
// registry.
func Check(ctx context.Context, cfg *config.Config, timeout time.Duration) []Finding {
	var out []Finding
	spec, local := checkModel(cfg)
	out = append(out, local...)

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var kafka, registry []Finding
	var wg sync.WaitGroup
	wg.Go(func() { kafka = checkKafka(ctx, cfg, timeout) })
	wg.Go(func() { registry = checkRegistry(ctx, cfg, spec, timeout) })
	wg.Wait()
	return append(append(out, kafka...), registry...)
}

// checkModel compiles the feature spec and loads the models (and manifests)
// against it: a model that needs other features than the spec gives, or a
// manifest that disagrees, is found here. spec is nil when the spec is invalid.
func checkModel(cfg *config.Config) (*features.Spec, []Finding) {
	if stateful(cfg.Features) && len(cfg.Stream.InputTopics) != 1 {
		return nil, []Finding{{Check: "stream.input_topics", Err: errors.New(
			"state features need exactly one input topic (the changelog is co-partitioned with it)")}}
	}
	spec, err := features.Compile(cfg.Features, cfg.State, cfg.Stream)
	if err != nil {
		return nil, []Finding{{Check: "features", Err: err}}
	}
	// The models stay loaded (an ONNX session's native memory with them) until
	// the process ends: --check exits right after.
	w, err := modelwatch.New(modelwatch.Config{Model: cfg.Model, Features: cfg.Features, Spec: spec})
	if err != nil {
		return spec, []Finding{{Check: "model", Err: err}}
	}
	ms := w.Models()
	detail := fmt.Sprintf("%s fits the %d features", ms.Champion.Label(), len(cfg.Features))
	if cfg.Model.Challenger != nil {
		detail += fmt.Sprintf("; challenger %s too", ms.Challenger.Label())
	}
	return spec, []Finding{{Check: "model", Detail: detail}}
}

// checkKafka checks the brokers, every topic, and what the brokers say this
// principal may do (authorized operations; reported only where the broker tells).
func checkKafka(ctx context.Context, cfg *config.Config, timeout time.Duration) []Finding {
	opts, err := cfg.KafkaOpts()
	if err != nil {
		return []Finding{{Check: "kafka", Err: err}}
	}
	opts = append(opts, kgo.DialTimeout(timeout))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return []Finding{{Check: "kafka", Err: err}}
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	brokers := strings.Join(cfg.Kafka.Brokers, ",")
	meta, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return []Finding{{Check: "kafka.brokers", Err: fmt.Errorf("no broker at %s answered within %v: %w", brokers, timeout, err)}}
	}
	out := []Finding{{Check: "kafka.brokers", Detail: fmt.Sprintf("cluster %s, %d brokers", meta.Cluster, len(meta.Brokers))}}

	topics := Topics(cfg)
	details := make(map[string]kadm.TopicDetail, len(topics))
	for _, t := range topics {
		td, err := adm.Metadata(kadm.WithAuthorizedOps(ctx), t.Name)
		var d kadm.TopicDetail
		if err == nil {
			d = td.Topics[t.Name]
			err = d.Err
		}
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			continue // missing: reported below with the partition count it needs
		}
		if err != nil {
			out = append(out, Finding{Check: t.Field, Err: fmt.Errorf("topic %q: %w", t.Name, err)})
			d.Err = err
		}
		details[t.Name] = d
	}

	in := cfg.Stream.InputTopics[0]
	inParts := -1
	if d, ok := details[in]; ok && d.Err == nil {
		inParts = len(d.Partitions)
	}
	for _, t := range topics {
		d, exists := details[t.Name]
		switch {
		case exists && d.Err != nil:
			continue // reported above
		case !exists && t.Input:
			out = append(out, Finding{Check: t.Field, Err: fmt.Errorf("topic %q does not exist: create it (scorestream topics create --partitions N)", t.Name)})
			continue
		case !exists:
			need := "as many partitions as the input"
			if inParts > 0 {
				need = fmt.Sprintf("%d partitions (as the input %q)", inParts, in)
			}
			if t.Changelog {
				need += ", compacted"
			}
			out = append(out, Finding{Check: t.Field, Err: fmt.Errorf("topic %q does not exist: it needs %s; scorestream topics create makes it", t.Name, need)})
			continue
		}
		parts := len(d.Partitions)
		var problems []string
		var note string
		var compacted bool
		if t.Changelog {
			if inParts > 0 && parts != inParts {
				problems = append(problems, fmt.Sprintf("has %d partitions, the input %q has %d: the changelog must be co-partitioned with the input", parts, in, inParts))
			}
			var p string
			if p, note, compacted = changelogSettings(ctx, adm, t.Name, ChangelogConfigs()); p != "" {
				problems = append(problems, p)
			}
		}
		if miss := missingOps(d.AuthorizedOperations, neededTopicOps(t)); miss != "" {
			problems = append(problems, "this principal may not "+miss+" it (ACLs)")
		}
		if len(problems) > 0 {
			out = append(out, Finding{Check: t.Field, Err: fmt.Errorf("topic %q: %s", t.Name, strings.Join(problems, "; "))})
			continue
		}
		detail := fmt.Sprintf("topic %q, %d partitions", t.Name, parts)
		if compacted {
			detail += ", compacted"
		}
		if note != "" {
			detail += "; " + note
		}
		out = append(out, Finding{Check: t.Field, Detail: detail})
	}
	return append(out, checkGroupAndTxn(ctx, adm, cfg)...)
}

// changelogSettings compares the changelog's topic settings with want
// (ChangelogConfigs). problem: it is not compacted (a restore would read the whole
// history, and expired entities would come back). note: the other settings that
// differ from what topics create gives (tuning, not wrong), or why the settings
// could not be read (DescribeConfigs is not something a run needs).
func changelogSettings(ctx context.Context, adm *kadm.Client, topic string, want map[string]string) (problem, note string, read bool) {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	var rc kadm.ResourceConfig
	if err == nil {
		rc, err = rcs.On(topic, nil)
	}
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return "", fmt.Sprintf("compaction not checked: settings unreadable: %v", err), false
	}
	var differ []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		want, got := want[k], ""
		for _, c := range rc.Configs {
			if c.Key == k {
				got = c.MaybeValue()
			}
		}
		switch {
		case k == "cleanup.policy" && !slices.Contains(strings.Split(got, ","), "compact"): // "compact,delete" keeps each key's last value too
			problem = fmt.Sprintf("has cleanup.policy=%q, want %q (without compaction a restore reads the whole history)", got, want)
		case k != "cleanup.policy" && got != want:
			differ = append(differ, fmt.Sprintf("%s=%s (topics create: %s)", k, got, want))
		}
	}
	if len(differ) > 0 {
		note = "settings " + strings.Join(differ, ", ")
	}
	return problem, note, true
}

// neededTopicOps are the operations the loop performs on t.
func neededTopicOps(t Topic) []kadm.ACLOperation {
	switch {
	case t.Input:
		return []kadm.ACLOperation{kmsg.ACLOperationDescribe, kmsg.ACLOperationRead}
	case t.Changelog: // written by the loop, read back by a restore
		return []kadm.ACLOperation{kmsg.ACLOperationDescribe, kmsg.ACLOperationRead, kmsg.ACLOperationWrite}
	}
	return []kadm.ACLOperation{kmsg.ACLOperationDescribe, kmsg.ACLOperationWrite}
}

// missingOps names the operations of need absent from have, as "read or
// write"; "" when none is missing or the broker did not say (have empty).
func missingOps(have, need []kadm.ACLOperation) string {
	if len(have) == 0 {
		return ""
	}
	var miss []string
	for _, op := range need {
		if !slices.Contains(have, op) {
			miss = append(miss, strings.ToLower(op.String()))
		}
	}
	return strings.Join(miss, " or ")
}

// checkGroupAndTxn checks that this principal may use the consumer group and
// the transactional id, where the brokers tell. Finding a group's or a
// transaction's coordinator makes Kafka create its internal topic
// (__consumer_offsets, __transaction_state) if no client has needed it yet, so
// on a cluster without it that check is skipped: the check changes nothing.
func checkGroupAndTxn(ctx context.Context, adm *kadm.Client, cfg *config.Config) []Finding {
	const offsetsTopic, txnTopic = "__consumer_offsets", "__transaction_state"
	internal, err := adm.ListTopicsWithInternal(ctx, offsetsTopic, txnTopic)
	var authErr *kadm.AuthError
	secured := errors.As(err, &authErr) // may not see them: a secured cluster, long in use; check
	if err != nil && !secured {
		return []Finding{{Check: "kafka.brokers", Err: fmt.Errorf("list internal topics: %w", err)}}
	}
	exists := func(t string) bool { d, ok := internal[t]; return secured || ok && d.Err == nil }
	var out []Finding
	if !exists(offsetsTopic) {
		out = append(out, Finding{Check: "stream.group", Detail: "not checked: no group has been used on this cluster yet (no " + offsetsTopic + ")"})
	} else if err := checkGroup(ctx, adm, cfg.Stream.Group); err != nil {
		out = append(out, Finding{Check: "stream.group", Err: fmt.Errorf("group %q: %w", cfg.Stream.Group, err)})
	} else {
		out = append(out, Finding{Check: "stream.group", Detail: fmt.Sprintf("group %q not refused", cfg.Stream.Group)})
	}
	txnID := cfg.TransactionalID()
	if !exists(txnTopic) {
		return append(out, Finding{Check: "stream.transactional_id_prefix", Detail: "not checked: no transaction has run on this cluster yet (no " + txnTopic + ")"})
	}
	txns, err := adm.DescribeTransactions(ctx, txnID)
	if err == nil {
		err = txns[txnID].Err
	}
	if errors.Is(err, kerr.TransactionalIDAuthorizationFailed) { // anything else: not ours to judge here
		return append(out, Finding{Check: "stream.transactional_id_prefix", Err: fmt.Errorf("transactional id %q: %w", txnID, err)})
	}
	return append(out, Finding{Check: "stream.transactional_id_prefix", Detail: fmt.Sprintf("transactional id %q not refused", txnID)})
}

// checkGroup returns why this principal may not use group, or nil. Only
// refusals count: a new group (GROUP_ID_NOT_FOUND) is fine, and a coordinator
// still loading is not a config problem.
func checkGroup(ctx context.Context, adm *kadm.Client, group string) error {
	groups, err := adm.DescribeGroups(ctx, group)
	if err == nil {
		g := groups[group]
		err = g.Err
		if miss := missingOps(g.AuthorizedOperations, []kadm.ACLOperation{kmsg.ACLOperationRead}); err == nil && miss != "" {
			err = fmt.Errorf("this principal may not %s it (ACLs)", miss)
		}
	}
	if errors.Is(err, kerr.GroupIDNotFound) || errors.Is(err, kerr.CoordinatorNotAvailable) || errors.Is(err, kerr.CoordinatorLoadInProgress) {
		return nil
	}
	return err
}

// checkRegistry checks that the registry answers, that the prediction schema
// could be registered under each output subject (the compatibility endpoint,
// which registers nothing), and looks up the input's writer schema.
func checkRegistry(ctx context.Context, cfg *config.Config, spec *features.Spec, timeout time.Duration) []Finding {
	ropts, err := cfg.RegistryOpts()
	if err != nil {
		return []Finding{{Check: "registry", Err: err}}
	}
	rcl, err := sr.NewClient(ropts...)
	if err != nil {
		return []Finding{{Check: "registry", Err: err}}
	}
	urls := strings.Join(cfg.Registry.URLs, ",")
	subjects, err := rcl.Subjects(ctx)
	if err != nil {
		return []Finding{{Check: "registry.urls", Err: fmt.Errorf("registry %s did not answer within %v: %w", urls, timeout, err)}}
	}
	out := []Finding{{Check: "registry.urls", Detail: fmt.Sprintf("%s answers, %d subjects", urls, len(subjects))}}

	for _, p := range []struct{ field, topic string }{
		{"output.predictions_topic", cfg.Output.PredictionsTopic},
		{"output.shadow_topic", cfg.Output.ShadowTopic},
	} {
		if p.topic == "" {
			continue
		}
		subject := p.topic + "-value"
		res, err := rcl.CheckCompatibility(ctx, subject, -1, sr.Schema{Schema: sink.PredictionSchema, Type: sr.TypeAvro})
		switch {
		case notFound(err) || !slices.Contains(subjects, subject):
			out = append(out, Finding{Check: p.field, Detail: fmt.Sprintf("subject %s is new: the first run registers the prediction schema", subject)})
		case err != nil:
			out = append(out, Finding{Check: p.field, Err: fmt.Errorf("subject %s: compatibility check: %w", subject, err)})
		case !res.Is:
			msg := "the registry refuses it"
			if len(res.Messages) > 0 {
				msg += ": " + strings.Join(res.Messages, "; ")
			}
			out = append(out, Finding{Check: p.field, Err: fmt.Errorf("subject %s: the prediction schema is incompatible with the latest version (%s)", subject, msg)})
		default:
			out = append(out, Finding{Check: p.field, Detail: fmt.Sprintf("subject %s accepts the prediction schema", subject)})
		}
	}

	// The input's writer schema, as the registry knows it under the topic's
	// subject (TopicNameStrategy). Events may use other ids: the decoder reads
	// the id from each record; this is the schema a check can know up front.
	for i, in := range cfg.Stream.InputTopics {
		field, subject := fmt.Sprintf("stream.input_topics[%d]", i), in+"-value"
		if !slices.Contains(subjects, subject) {
			out = append(out, Finding{Check: field, Detail: fmt.Sprintf("no subject %s yet: feature paths not checked against a writer schema", subject)})
			continue
		}
		ss, err := rcl.SchemaByVersion(ctx, subject, -1)
		if err != nil {
			out = append(out, Finding{Check: field, Err: fmt.Errorf("subject %s: latest schema: %w", subject, err)})
			continue
		}
		if ss.Type != sr.TypeAvro {
			out = append(out, Finding{Check: field, Err: fmt.Errorf("subject %s version %d: schema is %s, not Avro", subject, ss.Version, ss.Type)})
			continue
		}
		if spec != nil { // nil when the feature spec itself is invalid (reported above)
			for _, err := range spec.CheckSchema(ss.Schema.Schema) {
				out = append(out, Finding{Check: "features", Err: fmt.Errorf("subject %s version %d: %w", subject, ss.Version, err)})
			}
		}
		out = append(out, Finding{Check: field, Detail: fmt.Sprintf("writer schema %s version %d (id %d)", subject, ss.Version, ss.ID)})
	}
	return out
}

// notFound: the registry answered 404 (subject or version not found).
func notFound(err error) bool {
	var re *sr.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}
