package decode

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/scorestream/scorestream/gen"
)

// staticRegistry knows the generator's two schemas as ids 1 and 2.
type staticRegistry struct{ calls int }

func (r *staticRegistry) SchemaByID(_ context.Context, id int) (string, error) {
	r.calls++
	switch id {
	case 1:
		return gen.Schema, nil
	case 2:
		return gen.SchemaV2, nil
	}
	return "", fmt.Errorf("schema %d: %w", id, ErrSchemaNotFound)
}

func records(t testing.TB, version, n int) [][]byte {
	g, err := gen.New(gen.Config{Seed: 9, SchemaID: version, SchemaVersion: version, MalformedRate: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]byte, n)
	for i := range out {
		out[i] = g.NextRecord().Value
	}
	return out
}

// TestEvolution decodes v1 and v2 records, each with its own writer schema, and
// fetches each schema once.
func TestEvolution(t *testing.T) {
	reg := &staticRegistry{}
	d, err := New(reg, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []int{1, 2} {
		g, _ := gen.New(gen.Config{Seed: 1, SchemaID: v, SchemaVersion: v})
		for i := 0; i < 100; i++ {
			r := g.NextRecord()
			m, id, err := d.Decode(context.Background(), r.Value)
			if err != nil || id != v {
				t.Fatalf("v%d record %d: id %d err %v", v, i, id, err)
			}
			if m["event_id"] != r.Event.EventID || m["amount"] != r.Event.Amount {
				t.Fatalf("v%d: decoded %v, want event %s amount %v", v, m, r.Event.EventID, r.Event.Amount)
			}
			_, hasCurrency := m["currency"]
			if hasCurrency != (v == 1) {
				t.Fatalf("v%d: currency present=%v", v, hasCurrency)
			}
		}
	}
	if reg.calls != 2 {
		t.Fatalf("%d registry calls, want 2 (codecs cached)", reg.calls)
	}
}

// FuzzDecode: no input panics; every failure is a classified *Error.
//
//	go test ./stream/decode -run '^$' -fuzz FuzzDecode -fuzztime 30s
func FuzzDecode(f *testing.F) {
	for _, v := range []int{1, 2} {
		for _, r := range records(f, v, 40) {
			f.Add(r)
		}
	}
	d, err := New(&staticRegistry{}, Config{})
	if err != nil {
		f.Fatal(err)
	}
	// And into values, as the pipeline decodes: the same verdict, and every
	// value the one goavro's full record has at its path.
	paths := [][]string{{"event_id"}, {"event_time"}, {"amount"}, {"merchant", "id"}, {"merchant", "country"},
		{"channel"}, {"device_age_days"}, {"currency"}, {"merchant", "absent"}}
	proj, err := New(&staticRegistry{}, Config{Paths: paths})
	if err != nil {
		f.Fatal(err)
	}
	rec := proj.NewRecord()
	f.Fuzz(func(t *testing.T, v []byte) {
		m, _, err := d.Decode(context.Background(), v)
		var de *Error
		if err != nil && !errors.As(err, &de) {
			t.Fatalf("unclassified error %v", err)
		}
		_, perr := proj.DecodeInto(context.Background(), v, rec)
		if (err == nil) != (perr == nil) || perr != nil && !errors.As(perr, &de) {
			t.Fatalf("Decode: %v; DecodeInto: %v", err, perr)
		}
		if err != nil {
			return
		}
		for i, p := range paths {
			if w, g := Lookup(m, p), rec.Values[i].Any(); !same(w, g) {
				t.Fatalf("%v: %#v in the full record, %#v decoded into values", p, w, g)
			}
		}
	})
}

// BenchmarkDecode: a cached-codec decode of one generated payment.
//
//	go test ./stream/decode -run '^$' -bench . -benchmem
//
// BenchmarkDecode decodes demo payments: every field with goavro ("all"); only
// the fields the demo's feature spec reads with the projection, into reused
// values as the pipeline does ("projected"), and as a map ("projected-map").
func BenchmarkDecode(b *testing.B) {
	g, _ := gen.New(gen.Config{Seed: 1, SchemaID: 1})
	recs := make([][]byte, 1024)
	for i := range recs {
		recs[i] = g.NextRecord().Value
	}
	// demo/config.yaml's fields.
	demoPaths := [][]string{{"event_id"}, {"event_time"}, {"amount"}, {"merchant", "id"},
		{"channel"}, {"device_age_days"}, {"merchant", "country"}}
	for _, bc := range []struct {
		name  string
		paths [][]string
		into  bool
	}{{"all", nil, false}, {"projected", demoPaths, true}, {"projected-map", demoPaths, false}} {
		b.Run(bc.name, func(b *testing.B) {
			d, _ := New(&staticRegistry{}, Config{Paths: bc.paths})
			ctx := context.Background()
			rec := d.NewRecord()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				var err error
				if bc.into {
					_, err = d.DecodeInto(ctx, recs[i%len(recs)], rec)
				} else {
					_, _, err = d.Decode(ctx, recs[i%len(recs)])
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
