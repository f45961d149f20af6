package gen

import "testing"

// Rerun with:
//
//	go test -run '^$' -bench . -benchmem ./gen
func BenchmarkNextRecord(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"v1", Config{Seed: 1, SchemaID: 1}},
		{"v2", Config{Seed: 1, SchemaID: 1, SchemaVersion: 2}},
		{"v1_malformed_10pct", Config{Seed: 1, SchemaID: 1, MalformedRate: 0.1}},
		{"v1_100k_cards", Config{Seed: 1, SchemaID: 1, Cards: 100000}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g, err := New(bc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			bytes := 0
			for b.Loop() {
				bytes += len(g.NextRecord().Value)
			}
			b.SetBytes(int64(bytes / max(b.N, 1)))
		})
	}
}

func BenchmarkNext(b *testing.B) {
	g, err := New(Config{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = g.Next()
	}
}

func BenchmarkAppendAvro(b *testing.B) {
	g, err := New(Config{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	e := g.Next()
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = e.AppendAvro(buf[:0])
	}
}
