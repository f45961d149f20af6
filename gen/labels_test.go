package gen

import (
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
)

func TestLabelRoundTrip(t *testing.T) {
	codec, err := goavro.NewCodec(LabelSchema)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{Seed: 3, FraudRate: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	var fraud, genuine int
	for range 2000 {
		ev := g.Next()
		b := AppendLabel(nil, 9, ev)
		if b[0] != 0 || b[4] != 9 {
			t.Fatalf("framing %x", b[:5])
		}
		native, rest, err := codec.NativeFromBinary(b[5:])
		if err != nil || len(rest) != 0 {
			t.Fatalf("decode: %v, %d bytes left", err, len(rest))
		}
		m := native.(map[string]any)
		d := LabelDelay(ev)
		if m["event_id"] != ev.EventID || m["label"] != ev.Fraud || !m["label_time"].(time.Time).Equal(ev.EventTime.Add(d)) {
			t.Fatalf("label %v for event %+v (delay %v)", m, ev, d)
		}
		if d < time.Hour || d > 15*24*time.Hour || d != LabelDelay(ev) {
			t.Fatalf("delay %v out of range or not deterministic", d)
		}
		if ev.Fraud {
			fraud++
		} else {
			genuine++
		}
	}
	if fraud == 0 || genuine == 0 {
		t.Fatalf("fraud %d genuine %d: want both", fraud, genuine)
	}
}
