package features_test

import (
	"errors"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/demo"
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
		if ev.ID != e.EventID || ev.Time != e.EventTime.UnixMilli() {
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

// BenchmarkFeaturesAndState: features from a decoded event (its values at the
// spec's paths, as DecodeInto gives them) plus the entity's state update, as
// the pipeline runs them (process.EnrichValues), over 1000 cards.
//
//	go test ./stream/features -run '^$' -bench . -benchmem
func BenchmarkFeaturesAndState(b *testing.B) {
	s := demoSpec(b)
	g, _ := gen.New(gen.Config{Seed: 2})
	sch := genSchema(b)
	evs := make([]gen.Event, 20000)
	values := make([][]decode.Value, len(evs))
	for i := range evs {
		evs[i] = g.Next()
		values[i] = s.Values(sch.Strip(evs[i].Native()))
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
		ev, err := s.MetaValues(values[j], 0, "")
		if err != nil {
			b.Fatal(err)
		}
		next, err := process.EnrichValues(s, st, evs[j].CardID, values[j], ev, vec)
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

// TestStateAggregations compiles the new form (aggregations over any field,
// nested paths, several windows, a ratio) and checks every feature of a card's
// events against a brute-force computation over the card's earlier events at
// the documented bucket resolution.
func TestStateAggregations(t *testing.T) {
	fs := []config.Feature{
		{Name: "amount", Field: "amount"},
		{Name: "max_amount_1h", State: "max", Field: "amount", Window: time.Hour},
		{Name: "min_amount_1h", State: "min", Field: "amount", Window: time.Hour},
		{Name: "std_amount_24h", State: "stddev", Field: "amount", Window: 24 * time.Hour},
		{Name: "mean_24h", State: "mean", Window: 24 * time.Hour}, // old form: state.amount_field
		{Name: "device_count_10m", State: "count", Field: "device_age_days", Window: 10 * time.Minute},
		{Name: "countries_7d", State: "distinct", Field: "merchant.country", Window: 7 * 24 * time.Hour},
		{Name: "last_channel", State: "last", Field: "channel", Transform: "category", Categories: []string{"pos", "contactless", "ecom", "moto"}},
		{Name: "amt_over_mean", Ratio: []string{"amount", "mean_24h"}},
	}
	st := config.State{TTL: 7 * 24 * time.Hour, MaxEvents: 256, AmountField: "amount", WindowBuckets: 30}
	s, err := features.Compile(fs, st, config.Stream{EventIDField: "event_id", EventTimeField: "event_time"})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := state.NewPartition(state.Config{Limits: s.Limits(), MaxEntities: 10})
	g, _ := gen.New(gen.Config{Seed: 3, Cards: 3})
	type past struct {
		t       int64
		amount  float64
		device  bool
		country string
		channel *string
	}
	var hist []past
	inWindow := func(et, t int64, w time.Duration) bool {
		width := state.Width(w, 30)
		fd := func(a int64) int64 { return int64(math.Floor(float64(a) / float64(width))) }
		return fd(et) > fd(t-w.Milliseconds()) && fd(et) <= fd(t)
	}
	vec := make([]float64, len(s.Names()))
	checked := 0
	sch := genSchema(t)
	for i := 0; i < 3000; i++ {
		e := g.Next()
		if i%3 != 0 { // one entity, "k": a third of the events, spread out
			continue
		}
		rec := sch.Strip(e.Native())
		ev, err := s.Meta(rec, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		next, err := process.Enrich(s, p, "k", rec, ev, vec)
		if err != nil {
			t.Fatal(err)
		}
		tm := ev.Time
		want := make([]float64, len(vec))
		want[0] = e.Amount
		mx, mn := math.Inf(-1), math.Inf(1)
		var n24, s24, q24, dev float64
		countries := map[string]bool{}
		lastCh := math.NaN()
		var n1h int
		for _, h := range hist {
			if inWindow(h.t, tm, time.Hour) {
				mx, mn = max(mx, h.amount), min(mn, h.amount)
				n1h++
			}
			if inWindow(h.t, tm, 24*time.Hour) {
				n24++
				s24 += h.amount
				q24 += h.amount * h.amount
			}
			if h.device && inWindow(h.t, tm, 10*time.Minute) {
				dev++
			}
			if h.t > tm-7*24*3600*1000 {
				countries[h.country] = true
			}
			if h.channel != nil {
				lastCh = float64(map[string]int{"pos": 0, "contactless": 1, "ecom": 2, "moto": 3}[*h.channel])
			}
		}
		want[1], want[2], want[3], want[4] = mx, mn, math.NaN(), math.NaN()
		if n1h == 0 {
			want[1], want[2] = math.NaN(), math.NaN()
		}
		if n24 > 0 {
			m := s24 / n24
			want[3], want[4] = math.Sqrt(max(0, q24/n24-m*m)), m
		}
		want[5], want[6], want[7] = dev, float64(len(countries)), lastCh
		want[8] = want[0] / want[4]
		for j := range want {
			if !(vec[j] == want[j] || math.IsNaN(vec[j]) && math.IsNaN(want[j]) || math.Abs(vec[j]-want[j]) < 1e-9*math.Abs(want[j])) {
				t.Fatalf("event %d %s = %v, want %v", i, s.Names()[j], vec[j], want[j])
			}
		}
		checked++
		p.Advance(tm)
		p.Stage("k", next)
		p.Commit()
		hist = append(hist, past{tm, e.Amount, e.DeviceAgeDays != nil, e.MerchantCountry, e.Channel})
	}
	if checked < 500 {
		t.Fatalf("only %d events checked", checked)
	}
}

// BenchmarkBusyEntityBytes is the changelog value size of a busy card under the
// demo spec once every window is full: one event every 20 s (the demo's
// average rate) for 8 days of event time, the state encoded after each event.
// The sub-benchmarks give merchants_24h a max_distinct (exact: none).
//
//	go test ./stream/features -run '^$' -bench BusyEntityBytes -benchtime 1x
func BenchmarkBusyEntityBytes(b *testing.B) {
	for _, bound := range []int{0, 32, 16, 8} {
		name := "exact"
		if bound > 0 {
			name = "max_distinct=" + strconv.Itoa(bound)
		}
		b.Run(name, func(b *testing.B) { busyEntityBytes(b, bound) })
	}
}

func busyEntityBytes(b *testing.B, bound int) {
	cfg, err := demo.Config([]string{"127.0.0.1:9092"}, "http://127.0.0.1:8081", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	for i, f := range cfg.Features {
		if f.Name == "merchants_24h" {
			cfg.Features[i].MaxDistinct = bound
		}
	}
	s, err := features.Compile(cfg.Features, cfg.State, cfg.Stream)
	if err != nil {
		b.Fatal(err)
	}
	sch := genSchema(b)
	vec := make([]float64, len(s.Names()))
	var last, peak int
	for range b.N {
		g, _ := gen.New(gen.Config{Seed: 5, Cards: 1, EventsPerSecond: 0.05})
		st, _ := state.NewPartition(state.Config{Limits: s.Limits(), MaxEntities: 10})
		for i := 0; i < 8*24*180; i++ {
			rec := sch.Strip(g.Next().Native())
			ev, err := s.Meta(rec, 0, "")
			if err != nil {
				b.Fatal(err)
			}
			next, err := process.Enrich(s, st, "card", rec, ev, vec)
			if err != nil {
				b.Fatal(err)
			}
			st.Advance(ev.Time)
			st.Stage("card", next)
			st.Changes(func(_ string, v []byte) { last = len(v) })
			st.Commit()
			peak = max(peak, last)
		}
	}
	b.ReportMetric(float64(last), "B/record-last")
	b.ReportMetric(float64(peak), "B/record-peak")
}

// BenchmarkRestore1M restores one partition of 1,000,000 live entities under
// the demo spec (each with a few events, as cards in the demo run have) from
// their changelog values, and reports the restore time and the heap the
// restored state holds.
//
//	go test ./stream/features -run '^$' -bench Restore1M -benchtime 1x
func BenchmarkRestore1M(b *testing.B) {
	const n = 1_000_000
	s := demoConfigSpec(b)
	g, _ := gen.New(gen.Config{Seed: 9, Cards: 1000})
	keys := make([]string, n)
	vals := make([][]byte, n)
	o := s.NewObs()
	var tmpl [8]*state.Entity // a few event histories, reused across keys
	for j := range tmpl {
		var e *state.Entity
		for range 3 + j {
			ev := g.Next()
			t := ev.EventTime.UnixMilli()
			e = s.Observe(e, ev.Native(), t, t, o)
		}
		tmpl[j] = e
	}
	total := 0
	for i := range keys {
		keys[i] = "card-" + strconv.Itoa(i)
		vals[i] = tmpl[i%len(tmpl)].AppendBinary(nil)
		total += len(vals[i])
	}
	var p *state.Partition
	for range b.N {
		p = nil
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		start, cpu0 := time.Now(), processCPU()
		p, _ = state.NewPartition(state.Config{Limits: s.Limits(), MaxEntities: n})
		for i, k := range keys {
			if err := p.Restore(k, vals[i]); err != nil {
				b.Fatal(err)
			}
		}
		took, cpu := time.Since(start), processCPU()-cpu0
		b.ReportMetric(cpu.Seconds(), "restore-cpu-s")
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(took.Seconds(), "restore-s")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "state-MiB")
	}
	if p.Len() != n {
		b.Fatalf("%d entities restored, want %d", p.Len(), n)
	}
	b.ReportMetric(float64(total)/n, "changelog-B/record")
}

// TestCheckSchema: with the writer schema known at startup, a state
// aggregation over a field it lacks, or a numeric aggregation over a string, is
// refused naming the feature; the demo spec fits the generator's schema.
func TestCheckSchema(t *testing.T) {
	s := demoConfigSpec(t)
	cfg, err := demo.Config([]string{"127.0.0.1:9092"}, "http://127.0.0.1:8081", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if errs := s.CheckSchema(gen.Schema); len(errs) != 0 {
		t.Fatalf("demo spec against the generator's schema: %v", errs)
	}
	fs := []config.Feature{
		{Name: "amount", Field: "amount"},
		{Name: "sum_country", State: "sum", Field: "merchant.country", Window: time.Hour},
		{Name: "max_nothing", State: "max", Field: "merchant.nothing", Window: time.Hour},
		{Name: "distinct_country", State: "distinct", Field: "merchant.country", Window: time.Hour},
		{Name: "mean_device", State: "mean", Field: "device_age_days", Window: time.Hour},
	}
	bad, err := features.Compile(fs, cfg.State, cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	err = errors.Join(bad.CheckSchema(gen.Schema)...)
	if err == nil {
		t.Fatal("a sum over a string and a max over an absent field were accepted")
	}
	for _, want := range []string{`features[1].state: sum needs a number, field "merchant.country" is string`, `features[2].field: "merchant.nothing" is not in the writer schema`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "features[3]") || strings.Contains(err.Error(), "features[4]") {
		t.Errorf("a distinct over a string or a mean over a nullable int was refused: %v", err)
	}
}

// demoConfigSpec is demo/config.yaml's compiled feature spec.
func demoConfigSpec(t testing.TB) *features.Spec {
	t.Helper()
	cfg, err := demo.Config([]string{"127.0.0.1:9092"}, "http://127.0.0.1:8081", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := features.Compile(cfg.Features, cfg.State, cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// processCPU is the process's CPU time (user and system): on a shared machine
// it says what a restore costs where wall time does not.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestMaxDistinct: a distinct feature with max_distinct n reads min(exact count,
// n) for in-order events, whether its set is shared with an exact feature or
// bounded (all its features capped: then it keeps at most the largest cap, and
// its changelog records are smaller).
func TestMaxDistinct(t *testing.T) {
	exact := []config.Feature{
		{Name: "m_24h", State: "distinct", Field: "merchant.id", Window: 24 * time.Hour},
		{Name: "m_1h", State: "distinct", Field: "merchant.id", Window: time.Hour},
	}
	capped := []config.Feature{
		{Name: "m_24h_8", State: "distinct", Field: "merchant.id", Window: 24 * time.Hour, MaxDistinct: 8},
		{Name: "m_1h_3", State: "distinct", Field: "merchant.id", Window: time.Hour, MaxDistinct: 3},
	}
	st := config.State{TTL: 48 * time.Hour, MaxEvents: 256, WindowBuckets: 30}
	sc := config.Stream{EventIDField: "event_id", EventTimeField: "event_time"}
	specs := map[string][]config.Feature{"exact": exact, "capped": capped, "shared": append(slices.Clone(exact), capped...)}
	type run struct {
		s   *features.Spec
		p   *state.Partition
		vec []float64
		rec int // bytes of the last changelog record
	}
	runs := map[string]*run{}
	for name, fs := range specs {
		s, err := features.Compile(fs, st, sc)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := state.NewPartition(state.Config{Limits: s.Limits(), MaxEntities: 4})
		runs[name] = &run{s: s, p: p, vec: make([]float64, len(fs))}
	}
	sch := genSchema(t)
	g, _ := gen.New(gen.Config{Seed: 5, Cards: 1, EventsPerSecond: 0.05})
	above := 0
	for range 5000 {
		rec := sch.Strip(g.Next().Native())
		for _, r := range runs {
			ev, err := r.s.Meta(rec, 0, "")
			if err != nil {
				t.Fatal(err)
			}
			next, err := process.EnrichRaw(r.s, r.p, "card", rec, ev, r.vec)
			if err != nil {
				t.Fatal(err)
			}
			r.p.Advance(ev.Time)
			r.p.Stage("card", next)
			r.p.Changes(func(_ string, v []byte) { r.rec = len(v) })
			r.p.Commit()
		}
		x, c, sh := runs["exact"].vec, runs["capped"].vec, runs["shared"].vec
		if x[0] > 8 {
			above++
		}
		for _, got := range [][]float64{c, sh[2:]} {
			if got[0] != min(x[0], 8) || got[1] != min(x[1], 3) {
				t.Fatalf("capped read %v, exact %v", got, x)
			}
		}
		if sh[0] != x[0] || sh[1] != x[1] {
			t.Fatalf("exact features sharing a set with capped ones read %v, alone %v", sh[:2], x)
		}
	}
	if above < 1000 {
		t.Fatalf("only %d events saw more than 8 merchants in 24 h: the test does not reach the cap", above)
	}
	if c, x := runs["capped"].rec, runs["exact"].rec; c >= x {
		t.Fatalf("capped record %d B, exact %d B", c, x)
	}
}
