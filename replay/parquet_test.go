package replay

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestParquetRoundTrip writes more rows than one encoder batch, with two
// models, feature columns, failed scores, labels and segments present and
// absent, and reads every row back.
func TestParquetRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.parquet")
	models := []ModelID{{Name: "ref", Version: "1", Hash: "aa"}, {Name: "cand", Version: "2", Hash: "bb"}}
	w, err := NewParquetWriter(path, models, []string{"x", "y"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3*parquetBatch/2 + 7 // rows span batches; 2 per event
	evs := make([]*Event, n)
	for i := range evs {
		ev := &Event{EventID: "e" + strconv.Itoa(i), Key: []byte("k" + strconv.Itoa(i%13)), Time: int64(1000 + i),
			Features: []float64{float64(i), math.NaN()}, Scores: []float64{float64(i) / n, math.NaN()}, Decisions: []string{"allow", ""}}
		if i%3 == 0 {
			ev.Segment = "web"
			ev.Features[1] = -float64(i)
			ev.Scores[1], ev.Decisions[1] = 0.5, "review"
		}
		evs[i] = ev
		if err := w.Write(ev, int8(i%3)-1); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadParquet(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2*n {
		t.Fatalf("%d rows, want %d", len(rows), 2*n)
	}
	same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
	for j, r := range rows {
		ev, k := evs[j/2], j%2
		want := Prediction{EventID: ev.EventID, Key: string(ev.Key), EventTime: ev.Time, Model: models[k].Name,
			ModelVersion: models[k].Version, Hash: models[k].Hash, Score: ev.Scores[k], Label: int8(j/2%3) - 1, Segment: ev.Segment}
		if !math.IsNaN(ev.Scores[k]) {
			want.Decision = ev.Decisions[k]
		}
		if r.EventID != want.EventID || r.Key != want.Key || r.EventTime != want.EventTime || r.Model != want.Model ||
			r.ModelVersion != want.ModelVersion || r.Hash != want.Hash || !same(r.Score, want.Score) ||
			r.Decision != want.Decision || r.Label != want.Label || r.Segment != want.Segment {
			t.Fatalf("row %d: got %+v, want %+v", j, r, want)
		}
		if !same(r.Features["x"], ev.Features[0]) || !same(r.Features["y"], ev.Features[1]) {
			t.Fatalf("row %d: features %v, want %v", j, r.Features, ev.Features)
		}
	}
}

// TestParquetAbort leaves no file behind, with rows still being encoded.
func TestParquetAbort(t *testing.T) {
	dir := t.TempDir()
	w, err := NewParquetWriter(filepath.Join(dir, "p.parquet"), []ModelID{{Name: "m"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := &Event{EventID: "e", Key: []byte("k"), Scores: []float64{0.1}, Decisions: []string{"allow"}}
	for range 3 * parquetBatch {
		if err := w.Write(ev, -1); err != nil {
			t.Fatal(err)
		}
	}
	w.Abort()
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Fatalf("after Abort: %v %v, want an empty directory", ents, err)
	}
}

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
