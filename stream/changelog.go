package stream

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
)

// changelogTopicConfig is what a created changelog topic gets (ChangelogConfigs): compaction, and
// segments small and a dirty ratio low enough that the compactor reaches most of
// the log (it never compacts the active segment, and with the broker defaults of
// 7 days / 1 GiB a changelog's segment stays active for days). Tombstones
// (evicted or expired entities) are kept delete.retention.ms so that a restore
// already reading sees them before they go. See deploy/README.md.
var changelogTopicConfig = map[string]string{
	"cleanup.policy":            "compact",
	"segment.ms":                "3600000",  // roll at least hourly
	"segment.bytes":             "67108864", // or at 64 MiB
	"min.cleanable.dirty.ratio": "0.1",
	"delete.retention.ms":       "86400000",
}

// Limits beyond which an existing changelog's compaction settings draw a
// warning: compaction still works, but restore reads far more than the live
// entities.
const (
	maxChangelogSegmentMS    = 24 * 3600 * 1000
	maxChangelogSegmentBytes = 256 << 20
	maxChangelogDirtyRatio   = 0.5
)

// checkChangelogConfig reads the changelog topic's effective settings: a
// cleanup.policy without compact is an error (the changelog would lose state, or
// grow without end); settings that keep compaction from acting are warnings.
func checkChangelogConfig(ctx context.Context, adm *kadm.Client, topic string) (warnings []string, err error) {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("describe topic %q configs: %w", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		return nil, fmt.Errorf("describe topic %q configs: %w", topic, err)
	}
	if rc.Err != nil {
		return nil, fmt.Errorf("describe topic %q configs: %w", topic, rc.Err)
	}
	get := func(k string) (string, bool) {
		for _, c := range rc.Configs {
			if c.Key == k && c.Value != nil {
				return *c.Value, true
			}
		}
		return "", false
	}
	if v, _ := get("cleanup.policy"); !strings.Contains(v, "compact") {
		return nil, fmt.Errorf("output.changelog_topic: topic %q has cleanup.policy=%q, want compact (set it: kafka-configs --alter --add-config cleanup.policy=compact)", topic, v)
	}
	num := func(k string) (float64, bool) {
		v, ok := get(k)
		if !ok {
			return 0, false
		}
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	if v, ok := num("segment.ms"); ok && v > maxChangelogSegmentMS {
		warnings = append(warnings, fmt.Sprintf("segment.ms=%.0f: the active segment, which compaction never touches, may hold up to that much history; want <= %d (created topics get %s)", v, maxChangelogSegmentMS, changelogTopicConfig["segment.ms"]))
	}
	if v, ok := num("segment.bytes"); ok && v > maxChangelogSegmentBytes {
		warnings = append(warnings, fmt.Sprintf("segment.bytes=%.0f: want <= %d (created topics get %s)", v, maxChangelogSegmentBytes, changelogTopicConfig["segment.bytes"]))
	}
	if v, ok := num("min.cleanable.dirty.ratio"); ok && v > maxChangelogDirtyRatio {
		warnings = append(warnings, fmt.Sprintf("min.cleanable.dirty.ratio=%v: want <= %v (created topics get %s)", v, maxChangelogDirtyRatio, changelogTopicConfig["min.cleanable.dirty.ratio"]))
	}
	return warnings, nil
}

func logChangelogWarnings(log *slog.Logger, topic string, warnings []string) {
	if log == nil {
		return
	}
	for _, w := range warnings {
		log.Warn("changelog compaction settings keep restore slow", "topic", topic, "setting", w)
	}
}
