package features_test

import (
	"math"
	"testing"
	"time"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/gen"
	"github.com/scorestream/scorestream/state"
	"github.com/scorestream/scorestream/stream/decode"
	"github.com/scorestream/scorestream/stream/features"
	"github.com/scorestream/scorestream/stream/process"
)

func demoSpec(t testing.TB) *features.Spec {
	def := 7.0
	fs := []config.Feature{
		{Name: "amount", Field: "amount"},
		{Name: "log_amount", Field: "amount", Transform: "log1p"},
		{Name: "hour", Field: "event_time", Transform: "hour_of_day"},
		{Name: "dow", Field: "event_time", Transform: "day_of_week"},
		{Name: "channel", Field: "channel", Transform: "category", Categories: []string{"pos", "contactless", "ecom", "moto"}},
		{Name: "country", Field: "merchant.country", Transform: "category", Categories: []string{"XX"}},
		{Name: "device", Field: "device_age_days", Default: &def},
		{Name: "absent", Field: "no.such.field"},
		{Name: "count_1h", State: "count", Window: time.Hour},
		{Name: "since", State: "time_since_last"},
	}
	st := config.State{TTL: 24 * time.Hour, MaxEvents: 256, AmountField: "amount", DistinctField: "merchant.id"}
	s, err := features.Compile(fs, st, config.Stream{EventIDField: "event_id", EventTimeField: "event_time"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func genSchema(t testing.TB) *decode.Schema {
	sch, err := decode.ParseSchema(gen.Schema)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// TestExtract checks field paths, transforms, unions, defaults and missing values
// on a generated event against values computed here from the event itself.
func TestExtract(t *testing.T) {
	s := demoSpec(t)
	g, _ := gen.New(gen.Config{Seed: 2})
	sch := genSchema(t)
	for i := 0; i < 200; i++ {
		e := g.Next()
		rec := sch.Strip(e.Native())
		vec := make([]float64, len(s.Names()))
		ev, err := s.Meta(rec, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		if ev.ID != e.EventID || ev.Time != e.EventTime.UnixMilli() || ev.Amount != e.Amount || ev.Distinct != e.MerchantID {
			t.Fatalf("meta %+v does not match event %+v", ev, e)
		}
		if err := s.Extract(vec, rec, nil, ev.Time); err != nil {
			t.Fatal(err)
		}
		want := []float64{e.Amount, math.Log1p(e.Amount), float64(e.EventTime.UTC().Hour()), float64(e.EventTime.UTC().Weekday())}
		for j, w := range want {
			if vec[j] != w {
				t.Fatalf("feature %s = %v, want %v", s.Names()[j], vec[j], w)
			}
		}
		switch {
		case e.Channel == nil && !math.IsNaN(vec[4]):
			t.Fatalf("null channel gave %v, want missing", vec[4])
		case e.Channel != nil && math.IsNaN(vec[4]):
			t.Fatalf("channel %q gave missing", *e.Channel)
		}
		if !math.IsNaN(vec[5]) && e.MerchantCountry != "XX" {
			t.Fatalf("unknown category %q gave %v, want missing", e.MerchantCountry, vec[5])
		}
		if e.DeviceAgeDays == nil && vec[6] != 7 || e.DeviceAgeDays != nil && vec[6] != float64(*e.DeviceAgeDays) {
			t.Fatalf("device age %v gave %v", e.DeviceAgeDays, vec[6])
		}
		if !math.IsNaN(vec[7]) || vec[8] != 0 || !math.IsNaN(vec[9]) {
			t.Fatalf("absent field / new entity: %v %v %v", vec[7], vec[8], vec[9])
		}
	}
}

// BenchmarkFeaturesAndState: features from a decoded event plus the entity's
// state update, as the pipeline runs them (process.Enrich), over 1000 cards.
//
//	go test ./stream/features -run '^$' -bench . -benchmem
func BenchmarkFeaturesAndState(b *testing.B) {
	s := demoSpec(b)
	g, _ := gen.New(gen.Config{Seed: 2})
	sch := genSchema(b)
	evs := make([]gen.Event, 20000)
	natives := make([]map[string]any, len(evs))
	for i := range evs {
		evs[i] = g.Next()
		natives[i] = sch.Strip(evs[i].Native())
	}
	vec := make([]float64, len(s.Names()))
	var st *state.Partition
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % len(evs)
		if j == 0 {
			st, _ = state.NewPartition(state.Config{Limits: s.Limits(), MaxEntities: 100000})
		}
		ev, err := s.Meta(natives[j], 0, "")
		if err != nil {
			b.Fatal(err)
		}
		next, err := process.Enrich(s, st, evs[j].CardID, natives[j], ev, vec)
		if err != nil {
			b.Fatal(err)
		}
		st.Advance(ev.Time)
		st.Stage(evs[j].CardID, next)
		if i%100 == 99 {
			st.Commit()
		}
	}
}
