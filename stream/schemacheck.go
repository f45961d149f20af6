package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/stream/features"
)

// checkWriterSchemas checks the spec's state aggregations against the latest
// writer schema registered for each input topic (subject <topic>-value), when
// there is one: a field it lacks or a numeric aggregation over a non-numeric
// field is a config error naming the feature. No subject yet (nothing produced)
// or a registry that does not answer leaves the check to run time, where such
// values are missing.
func checkWriterSchemas(ctx context.Context, cl *sr.Client, cfg *config.Config, spec *features.Spec, log *slog.Logger) error {
	if !stateful(cfg.Features) {
		return nil
	}
	for _, topic := range cfg.Stream.InputTopics {
		subject := topic + "-value"
		ss, err := cl.SchemaByVersion(ctx, subject, -1)
		if err != nil {
			var re *sr.ResponseError
			if log != nil && (!errors.As(err, &re) || re.StatusCode != http.StatusNotFound) {
				log.Warn("feature spec not checked against the writer schema", "subject", subject, "err", err)
			}
			continue
		}
		if ss.Type != sr.TypeAvro {
			continue
		}
		if err := spec.CheckSchema(ss.Schema.Schema); err != nil {
			return fmt.Errorf("subject %s version %d: %w", subject, ss.Version, err)
		}
	}
	return nil
}
