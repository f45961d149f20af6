package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/stream/features"
)

// CheckInputSchemas checks the spec's paths against the latest writer schema
// registered for each input topic ("<topic>-value"), returning one error per
// path the schema cannot hold (features.Spec.CheckSchema). A topic with no
// subject yet is skipped: there is no known writer schema to check against. The
// second result is a registry failure.
func CheckInputSchemas(ctx context.Context, cl *sr.Client, spec *features.Spec, topics []string) ([]error, error) {
	var problems []error
	for _, t := range topics {
		subject := t + "-value"
		ss, err := cl.SchemaByVersion(ctx, subject, -1)
		var re *sr.ResponseError
		if errors.As(err, &re) && (re.ErrorCode == 40401 || re.ErrorCode == 40402) {
			continue // no such subject (or version) yet
		}
		if err != nil {
			return nil, fmt.Errorf("registry: subject %s: %w", subject, err)
		}
		if ss.Type != sr.TypeAvro {
			problems = append(problems, fmt.Errorf("subject %s (version %d): schema is %s, not Avro", subject, ss.Version, ss.Type))
			continue
		}
		for _, e := range spec.CheckSchema(ss.Schema.Schema) {
			problems = append(problems, fmt.Errorf("subject %s (version %d): %w", subject, ss.Version, e))
		}
	}
	return problems, nil
}

// checkWriterSchemas is `run`'s startup check: a state aggregation over a field
// that the input's latest writer schema lacks, or a numeric aggregation over a
// non-numeric field, is a config error naming the feature and the subject. (A
// plain field the schema lacks only reads as missing; `run --check` reports
// it.) No subject yet (nothing produced) or a registry that does not answer
// leaves the check to run time, where such values are missing.
func checkWriterSchemas(ctx context.Context, cl *sr.Client, cfg *config.Config, spec *features.Spec, log *slog.Logger) error {
	if !stateful(cfg.Features) {
		return nil
	}
	problems, err := CheckInputSchemas(ctx, cl, spec, cfg.Stream.InputTopics)
	if err != nil {
		if log != nil {
			log.Warn("feature spec not checked against the writer schema", "err", err)
		}
		return nil
	}
	var refused []string
	for _, p := range problems {
		if se := (*features.SchemaError)(nil); errors.As(p, &se) && se.State {
			refused = append(refused, p.Error())
		}
	}
	if len(refused) > 0 {
		return fmt.Errorf("feature spec does not fit the writer schema:\n  %s", strings.Join(refused, "\n  "))
	}
	return nil
}
