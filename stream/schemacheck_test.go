package stream

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/gen"
	"github.com/scorestream/scorestream/stream/features"
)

// TestCheckWriterSchemas: before the input's subject exists the check passes
// (nothing is known); once the writer schema is registered, a sum over a
// string field is refused naming the feature and the subject.
func TestCheckWriterSchemas(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	cl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Stream: config.Stream{InputTopics: []string{"payments"}}, Features: []config.Feature{
		{Name: "amount", Field: "amount"},
		{Name: "sum_country", State: "sum", Field: "merchant.country", Window: time.Hour},
	}}
	spec, err := features.Compile(cfg.Features, config.State{TTL: 24 * time.Hour, MaxEvents: 10}, cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := checkWriterSchemas(ctx, cl, cfg, spec, nil); err != nil {
		t.Fatalf("no subject yet: %v", err)
	}
	if _, _, err := reg.RegisterSchema("payments-value", sr.Schema{Schema: gen.Schema, Type: sr.TypeAvro}); err != nil {
		t.Fatal(err)
	}
	err = checkWriterSchemas(ctx, cl, cfg, spec, nil)
	if err == nil || !strings.Contains(err.Error(), "features[1].state: sum needs a number") || !strings.Contains(err.Error(), "payments-value") {
		t.Fatalf("sum over a string with the schema known: %v", err)
	}
}
