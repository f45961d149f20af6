package gen

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestLabelFile writes the labels of generated events and reads them back: one
// row per event, label 1 exactly for the fraud events, and no file until Close.
func TestLabelFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "labels.csv")
	lf, err := CreateLabelFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{Seed: 3, Cards: 50})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	fraud := 0
	for range 5000 {
		ev := g.Next()
		lf.Add(ev)
		want[ev.EventID] = "0"
		if ev.Fraud {
			want[ev.EventID] = "1"
			fraud++
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("%s exists before Close: %v", path, err)
	}
	if err := lf.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5001 || rows[0][0] != "event_id" || rows[0][1] != "label" || fraud == 0 {
		t.Fatalf("%d rows, header %v, %d fraud events", len(rows), rows[0], fraud)
	}
	for _, r := range rows[1:] {
		if want[r[0]] != r[1] {
			t.Fatalf("event %s: label %s, want %s", r[0], r[1], want[r[0]])
		}
		if _, err := strconv.ParseInt(r[3], 10, 64); err != nil {
			t.Fatalf("event %s: event_time %q", r[0], r[3])
		}
	}
}
