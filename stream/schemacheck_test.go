package stream

import (
	"context"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/gen"
	"github.com/scorestream/scorestream/stream/features"
)

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
		!strings.Contains(problems[0].Error(), `feature "wrong": field "merchant.Country"`) {
		t.Fatalf("problems %v, want one naming payments-value, feature wrong and its path", problems)
	}
}
