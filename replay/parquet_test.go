package replay

import (
	"path/filepath"
	"testing"
)

// go test ./replay -run '^$' -bench Parquet -benchmem
func BenchmarkParquetWrite(b *testing.B) {
	for _, tc := range []struct {
		name  string
		feats []string
	}{{"scores", nil}, {"features", []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}}} {
		b.Run(tc.name, func(b *testing.B) {
			w, err := NewParquetWriter(filepath.Join(b.TempDir(), "p.parquet"), []ModelID{{Name: "m", Version: "1", Hash: "abc"}}, tc.feats)
			if err != nil {
				b.Fatal(err)
			}
			ev := &Event{EventID: "0b7f1c2e-6a1d-4c1e-9a7e-2f0c3d4b5a69", Key: []byte("card-000123"), Time: 1767225600000,
				Features: make([]float64, 12), Scores: []float64{0.25}, Decisions: []string{"allow"}}
			b.ReportAllocs()
			for b.Loop() {
				if err := w.Write(ev, 1); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
