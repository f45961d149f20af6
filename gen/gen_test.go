package gen

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
)

func newGen(t testing.TB, cfg Config) *Generator {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return g
}

func codec(t testing.TB, schema string) *goavro.Codec {
	t.Helper()
	c, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatalf("goavro rejects schema: %v", err)
	}
	return c
}

func TestSchemasValid(t *testing.T) {
	for _, tc := range []struct {
		name, schema string
		fields       []string
	}{
		{"v1", Schema, []string{"event_id", "card_id", "event_time", "amount", "currency", "merchant", "channel", "device_age_days"}},
		{"v2", SchemaV2, []string{"card_id", "event_id", "merchant", "amount", "event_time", "risk_flags", "device_age_days", "channel"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := codec(t, tc.schema)
			// The canonical form lists the fields in order; check the order
			// independently of our own encoder.
			canon := c.CanonicalSchema()
			last := -1
			for _, f := range tc.fields {
				i := strings.Index(canon, `{"name":"`+f+`"`)
				if i < 0 || i < last {
					t.Fatalf("field %q missing or out of order in %s", f, canon)
				}
				last = i
			}
			if !strings.Contains(canon, `"name":"scorestream.demo.Payment"`) {
				t.Fatalf("record name: %s", canon)
			}
		})
	}
}

// TestEncodingMatchesGoavro checks our hand-written encoders against goavro
// encoding the same native values, and that goavro decodes our bytes back to
// the event.
func TestEncodingMatchesGoavro(t *testing.T) {
	v1, v2 := codec(t, Schema), codec(t, SchemaV2)
	g := newGen(t, Config{Seed: 7, Cards: 200, FraudRate: 0.1})
	var sawNilChannel, sawNilDevice, sawFlags bool
	for i := range 3000 {
		e := g.Next()
		sawNilChannel = sawNilChannel || e.Channel == nil
		sawNilDevice = sawNilDevice || e.DeviceAgeDays == nil
		sawFlags = sawFlags || len(e.RiskFlags()) > 0

		want, err := v1.BinaryFromNative(nil, e.Native())
		if err != nil {
			t.Fatalf("event %d: goavro encode v1: %v", i, err)
		}
		if got := e.AppendAvro(nil); !bytes.Equal(got, want) {
			t.Fatalf("event %d: v1 bytes differ from goavro\n got %x\nwant %x", i, got, want)
		}
		want, err = v2.BinaryFromNative(nil, e.NativeV2())
		if err != nil {
			t.Fatalf("event %d: goavro encode v2: %v", i, err)
		}
		if got := e.AppendAvroV2(nil); !bytes.Equal(got, want) {
			t.Fatalf("event %d: v2 bytes differ from goavro\n got %x\nwant %x", i, got, want)
		}

		native, rest, err := v1.NativeFromBinary(e.AppendAvro(nil))
		if err != nil || len(rest) != 0 {
			t.Fatalf("event %d: goavro decode: %v, %d bytes left", i, err, len(rest))
		}
		checkDecoded(t, native.(map[string]any), e, 1)
	}
	if !sawNilChannel || !sawNilDevice || !sawFlags {
		t.Fatalf("sample lacks variety: nil channel %v, nil device %v, risk flags %v", sawNilChannel, sawNilDevice, sawFlags)
	}
}

// checkDecoded compares a goavro-decoded record with the event.
func checkDecoded(t *testing.T, m map[string]any, e Event, version int) {
	t.Helper()
	str := func(k string) string { s, _ := m[k].(string); return s }
	if str("event_id") != e.EventID || str("card_id") != e.CardID {
		t.Fatalf("ids: got %v %v, want %v %v", m["event_id"], m["card_id"], e.EventID, e.CardID)
	}
	if ts, ok := m["event_time"].(time.Time); !ok || !ts.Equal(e.EventTime) {
		t.Fatalf("event_time: got %v, want %v", m["event_time"], e.EventTime)
	}
	if m["amount"] != e.Amount {
		t.Fatalf("amount: got %v, want %v", m["amount"], e.Amount)
	}
	if version == 1 && str("currency") != e.Currency {
		t.Fatalf("currency: got %v, want %v", m["currency"], e.Currency)
	}
	if _, ok := m["currency"]; version == 2 && ok {
		t.Fatalf("v2 record has currency")
	}
	mer, _ := m["merchant"].(map[string]any)
	if mer["id"] != e.MerchantID || mer["category"] != e.MerchantCategory || mer["country"] != e.MerchantCountry {
		t.Fatalf("merchant: got %v, want %s %s %s", mer, e.MerchantID, e.MerchantCategory, e.MerchantCountry)
	}
	switch ch := m["channel"].(type) {
	case nil:
		if e.Channel != nil {
			t.Fatalf("channel: got null, want %q", *e.Channel)
		}
	case map[string]any:
		if e.Channel == nil || ch["string"] != *e.Channel {
			t.Fatalf("channel: got %v, want %v", ch, e.Channel)
		}
	default:
		t.Fatalf("channel: unexpected %T", ch)
	}
	switch d := m["device_age_days"].(type) {
	case nil:
		if e.DeviceAgeDays != nil {
			t.Fatalf("device_age_days: got null, want %d", *e.DeviceAgeDays)
		}
	case map[string]any:
		if e.DeviceAgeDays == nil || d["int"] != *e.DeviceAgeDays {
			t.Fatalf("device_age_days: got %v, want %v", d, e.DeviceAgeDays)
		}
	default:
		t.Fatalf("device_age_days: unexpected %T", d)
	}
	if version == 2 {
		items, _ := m["risk_flags"].([]any)
		var got []string
		for _, it := range items {
			got = append(got, it.(string))
		}
		if want := e.RiskFlags(); !slices.Equal(got, want) {
			t.Fatalf("risk_flags: got %v, want %v", got, want)
		}
	}
}

func TestDeterminism(t *testing.T) {
	cfg := Config{Seed: 42, Cards: 300, MalformedRate: 0.1, SchemaID: 3}
	a, b := newGen(t, cfg), newGen(t, cfg)
	cfg.Seed = 43
	other := newGen(t, cfg)
	differs := false
	for i := range 5000 {
		ra, rb, ro := a.NextRecord(), b.NextRecord(), other.NextRecord()
		if !bytes.Equal(ra.Key, rb.Key) || !bytes.Equal(ra.Value, rb.Value) || ra.Malformed != rb.Malformed || ra.Event.Fraud != rb.Event.Fraud {
			t.Fatalf("record %d differs between two generators with the same seed", i)
		}
		differs = differs || !bytes.Equal(ra.Value, ro.Value)
	}
	if !differs {
		t.Fatalf("seeds 42 and 43 gave the same stream")
	}
}

func TestMalformedRateDoesNotChangeEvents(t *testing.T) {
	clean := newGen(t, Config{Seed: 5})
	dirty := newGen(t, Config{Seed: 5, MalformedRate: 0.3})
	for i := range 3000 {
		a, b := clean.NextRecord(), dirty.NextRecord()
		if a.Event.EventID != b.Event.EventID || a.Event.Amount != b.Event.Amount {
			t.Fatalf("event %d changed with MalformedRate", i)
		}
	}
}

func TestTimeOrderAndRate(t *testing.T) {
	const n = 20000
	g := newGen(t, Config{Seed: 1, EventsPerSecond: 100})
	first := g.Next()
	if first.EventTime.Before(DefaultStart()) {
		t.Fatalf("first event %v before start", first.EventTime)
	}
	prev := first.EventTime
	cards := map[string]bool{}
	for i := 1; i < n; i++ {
		e := g.Next()
		if e.EventTime.Before(prev) {
			t.Fatalf("event %d at %v before previous %v", i, e.EventTime, prev)
		}
		prev = e.EventTime
		cards[e.CardID] = true
	}
	// n events at 100/s span about n/100 seconds of event time.
	span := prev.Sub(first.EventTime).Seconds()
	if want := float64(n) / 100; math.Abs(span-want) > 0.1*want {
		t.Fatalf("%d events span %.0fs of event time, want about %.0fs", n, span, want)
	}
	if len(cards) < 900 {
		t.Fatalf("only %d of 1000 cards seen in %d events", len(cards), n)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"negative cards", Config{Cards: -1}, "cards"},
		{"fraud rate too high", Config{FraudRate: 0.6}, "fraud rate"},
		{"fraud rate NaN", Config{FraudRate: math.NaN()}, "fraud rate"},
		{"malformed above 1", Config{MalformedRate: 1.5}, "malformed rate"},
		{"malformed negative", Config{MalformedRate: -0.1}, "malformed rate"},
		{"negative rate", Config{EventsPerSecond: -3}, "events per second"},
		{"infinite rate", Config{EventsPerSecond: math.Inf(1)}, "events per second"},
		{"schema version", Config{SchemaVersion: 3}, "schema version"},
		{"schema id", Config{SchemaID: -1}, "schema id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: got %v, want an error naming %q", err, tc.want)
			}
		})
	}
	g := newGen(t, Config{})
	got := g.Config()
	if got.Cards != DefaultCards || got.FraudRate != DefaultFraudRate || got.EventsPerSecond != DefaultEventsPerSecond ||
		!got.Start.Equal(DefaultStart()) || got.SchemaVersion != 1 {
		t.Fatalf("defaults: %+v", got)
	}
}

func TestFraudShareAndPatterns(t *testing.T) {
	const n = 200000
	g := newGen(t, Config{Seed: 11})
	events := make([]Event, n)
	byPattern := map[string]int{}
	fraudCards := map[string]bool{}
	for i := range events {
		e := g.Next()
		events[i] = e
		if e.Fraud != (e.Pattern != "") {
			t.Fatalf("event %d: Fraud %v with Pattern %q", i, e.Fraud, e.Pattern)
		}
		if e.Fraud {
			byPattern[e.Pattern]++
			fraudCards[e.CardID] = true
		}
	}
	fraud := byPattern[PatternBurst] + byPattern[PatternUnusualAmount] + byPattern[PatternNewMerchants]
	if share := float64(fraud) / n; share < 0.01 || share > 0.03 {
		t.Fatalf("fraud share %.4f, want 0.01-0.03 (%v)", share, byPattern)
	}
	for _, p := range Patterns() {
		if byPattern[p] < 100 {
			t.Fatalf("pattern %s: %d events in %d, want at least 100 (%v)", p, byPattern[p], n, byPattern)
		}
	}
	if len(byPattern) != 3 {
		t.Fatalf("unknown patterns: %v", byPattern)
	}
	t.Logf("fraud share %.4f over %d cards: %v", float64(fraud)/n, len(fraudCards), byPattern)

	end := events[n-1].EventTime
	perCard := map[string][]Event{}
	for _, e := range events {
		perCard[e.CardID] = append(perCard[e.CardID], e)
	}
	for id, evs := range perCard {
		checkCard(t, id, evs, end)
	}
}

// checkCard checks the planted patterns on one card's events (in time order),
// against what the card did legitimately.
func checkCard(t *testing.T, id string, evs []Event, end time.Time) {
	t.Helper()
	var amounts []float64
	for _, e := range evs {
		if !e.Fraud {
			amounts = append(amounts, e.Amount)
		}
	}
	sort.Float64s(amounts)
	median := amounts[len(amounts)/2]

	seen := map[string]bool{}
	var burst []Event
	flushBurst := func() {
		// Ignore an episode the end of the sample may have cut short.
		if len(burst) == 0 || end.Sub(burst[len(burst)-1].EventTime) < 10*time.Minute {
			burst = burst[:0]
			return
		}
		span := burst[len(burst)-1].EventTime.Sub(burst[0].EventTime)
		if len(burst) < 5 || len(burst) > 20 || span > 5*time.Minute {
			t.Fatalf("card %s: burst of %d transactions over %v, want 5-20 within 5 minutes", id, len(burst), span)
		}
		burst = burst[:0]
	}
	for _, e := range evs {
		if e.Pattern != PatternBurst && len(burst) > 0 && e.Fraud {
			flushBurst()
		}
		if e.Pattern == PatternBurst && len(burst) > 0 && e.EventTime.Sub(burst[len(burst)-1].EventTime) > 5*time.Minute {
			flushBurst()
		}
		switch e.Pattern {
		case PatternBurst:
			burst = append(burst, e)
			if e.Channel == nil || *e.Channel != channelEcom {
				t.Fatalf("card %s: burst on channel %v, want ecom", id, e.Channel)
			}
		case PatternUnusualAmount:
			if e.Amount < 4*median {
				t.Fatalf("card %s: unusual amount %.2f, only %.1fx its median %.2f", id, e.Amount, e.Amount/median, median)
			}
		case PatternNewMerchants:
			if seen[e.MerchantID] {
				t.Fatalf("card %s: new_merchants event at %s, which the card used before", id, e.MerchantID)
			}
		}
		seen[e.MerchantID] = true
	}
	flushBurst()
}

func TestFraudRateDisabled(t *testing.T) {
	g := newGen(t, Config{Seed: 3, FraudRate: -1})
	for i := range 50000 {
		if e := g.Next(); e.Fraud {
			t.Fatalf("event %d is fraud with fraud disabled", i)
		}
	}
}

func TestNewMerchantsOftenForeign(t *testing.T) {
	g := newGen(t, Config{Seed: 9, Cards: 200, FraudRate: 0.2})
	homes := map[string]map[string]int{}
	var nm []Event
	for range 100000 {
		e := g.Next()
		if !e.Fraud {
			if homes[e.CardID] == nil {
				homes[e.CardID] = map[string]int{}
			}
			homes[e.CardID][e.MerchantCountry]++
		} else if e.Pattern == PatternNewMerchants {
			nm = append(nm, e)
		}
	}
	foreign := 0
	for _, e := range nm {
		home, most := "", 0
		for c, k := range homes[e.CardID] {
			if k > most {
				home, most = c, k
			}
		}
		if e.MerchantCountry != home {
			foreign++
		}
	}
	if len(nm) < 200 {
		t.Fatalf("only %d new_merchants events", len(nm))
	}
	if share := float64(foreign) / float64(len(nm)); share < 0.5 || share > 0.9 {
		t.Fatalf("foreign share of new_merchants events %.2f, want about 0.7", share)
	}
}

func TestRecords(t *testing.T) {
	const n, id = 20000, 17
	for _, tc := range []struct {
		name    string
		version int
		schema  string
	}{
		{"v1", 1, Schema},
		{"v2", 2, SchemaV2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := codec(t, tc.schema)
			g := newGen(t, Config{Seed: 21, MalformedRate: 0.2, SchemaID: id, SchemaVersion: tc.version})
			kinds := map[string]int{}
			emptyGarbage := 0
			for i := range n {
				r := g.NextRecord()
				kinds[r.Malformed]++
				if string(r.Key) != r.Event.CardID {
					t.Fatalf("record %d: key %q, want card id %q", i, r.Key, r.Event.CardID)
				}
				v := r.Value
				if r.Malformed == MalformedGarbage {
					if len(v) == 0 {
						emptyGarbage++
					}
					if len(v) >= 5 && v[0] == 0 && binary.BigEndian.Uint32(v[1:5]) == id {
						t.Fatalf("record %d: garbage frames our schema id: %x", i, v)
					}
					continue
				}
				if len(v) < 5 {
					t.Fatalf("record %d (%q): value of %d bytes has no frame", i, r.Malformed, len(v))
				}
				magic, sid, body := v[0], binary.BigEndian.Uint32(v[1:5]), v[5:]
				wantMagic, wantID := byte(0), uint32(id)
				switch r.Malformed {
				case MalformedBadMagic:
					wantMagic = 1
				case MalformedUnknownSchema:
					wantID = UnknownSchemaID
				}
				if magic != wantMagic || sid != wantID {
					t.Fatalf("record %d (%q): magic %d id %d, want %d %d", i, r.Malformed, magic, sid, wantMagic, wantID)
				}
				native, rest, err := c.NativeFromBinary(body)
				if r.Malformed == MalformedTruncated {
					if err == nil {
						t.Fatalf("record %d: truncated body of %d bytes decodes", i, len(body))
					}
					continue
				}
				if err != nil || len(rest) != 0 {
					t.Fatalf("record %d (%q): decode: %v, %d bytes left", i, r.Malformed, err, len(rest))
				}
				checkDecoded(t, native.(map[string]any), r.Event, tc.version)
			}
			bad := n - kinds[""]
			if share := float64(bad) / n; share < 0.18 || share > 0.22 {
				t.Fatalf("malformed share %.3f, want 0.18-0.22 (%v)", share, kinds)
			}
			for _, k := range MalformedKinds() {
				if kinds[k] < bad/8 {
					t.Fatalf("kind %s: %d of %d malformed (%v)", k, kinds[k], bad, kinds)
				}
			}
			if emptyGarbage == 0 || emptyGarbage == kinds[MalformedGarbage] {
				t.Fatalf("garbage: %d of %d empty, want some but not all", emptyGarbage, kinds[MalformedGarbage])
			}
		})
	}
}

func TestRecordsOwnTheirBytes(t *testing.T) {
	g := newGen(t, Config{Seed: 2, SchemaID: 1})
	a := g.NextRecord()
	keep := bytes.Clone(a.Value)
	a.Key = append(a.Key, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"...) // must not write into Value
	if !bytes.Equal(a.Value, keep) {
		t.Fatalf("appending to Key overwrote Value")
	}
	b := g.NextRecord()
	if !bytes.Equal(a.Value, keep) || bytes.Equal(b.Value, keep) {
		t.Fatalf("the next record shares or overwrites the previous one")
	}
}

// DriftAt shifts amounts after that many events and changes nothing else.
func TestDriftAt(t *testing.T) {
	plain, err := New(Config{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	drifted, err := New(Config{Seed: 3, DriftAt: 100, DriftFactor: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		a, b := plain.Next(), drifted.Next()
		want := a.Amount
		if i >= 100 {
			want = math.Round(a.Amount*400) / 100
		}
		if b.Amount != want {
			t.Fatalf("event %d: amount %v, want %v (plain %v)", i, b.Amount, want, a.Amount)
		}
		a.Amount, b.Amount = 0, 0
		if a.EventID != b.EventID || a.CardID != b.CardID || a.EventTime != b.EventTime || a.Fraud != b.Fraud {
			t.Fatalf("event %d differs beyond the amount: %+v vs %+v", i, a, b)
		}
	}
	if _, err := New(Config{DriftAt: -1}); err == nil {
		t.Error("DriftAt -1 accepted")
	}
}
