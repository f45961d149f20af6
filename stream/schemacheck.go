package stream

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/sr"

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
