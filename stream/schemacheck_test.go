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

// TestCheckInputSchemas: run --check refuses a feature path that the input
// subject's writer schema does not have, naming the subject, feature and path;
// a topic with no subject yet is not an error.
func TestCheckInputSchemas(t *testing.T) {
	reg := srfake.New()
	t.Cleanup(reg.Close)
	if _, _, err := reg.RegisterSchema("payments-value", sr.Schema{Schema: gen.Schema, Type: sr.TypeAvro}); err != nil {
		t.Fatal(err)
	}
	cl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := features.Compile([]config.Feature{
		{Name: "country", Field: "merchant.country", Transform: "category", Categories: []string{"XX"}},
		{Name: "wrong", Field: "merchant.Country"},
	}, config.State{}, config.Stream{EventTimeField: "event_time"})
	if err != nil {
		t.Fatal(err)
	}
	problems, err := CheckInputSchemas(context.Background(), cl, spec, []string{"payments", "not-yet"})
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || !strings.Contains(problems[0].Error(), `payments-value`) ||
		!strings.Contains(problems[0].Error(), `features[1].field: "merchant.Country" is not in the writer schema (feature "wrong")`) {
		t.Fatalf("problems %v, want one naming payments-value, feature wrong and its path", problems)
	}
	cfg := &config.Config{Stream: config.Stream{InputTopics: []string{"payments"}}}
	if err := checkWriterSchemas(context.Background(), cl, cfg, spec, nil); err != nil {
		t.Fatalf("run's startup check refused a plain field the schema lacks (it only reads as missing): %v", err)
	}
}
