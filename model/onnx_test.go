//go:build onnx

package model

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Run with the library fetched and the tag set (scripts/test-onnx.sh does this):
//
//	export SCORESTREAM_ONNXRUNTIME_LIB=$(scripts/onnxruntime.sh)
//	CGO_ENABLED=1 go test -tags onnx ./model -run ONNX -v
//	CGO_ENABLED=1 go test -tags onnx ./model -run '^$' -bench ONNX -benchtime 2000x
//
// The goldens in testdata/onnx come from the real onnxruntime (gen.py there).

// onnxTol is the largest |go − python| accepted per value.
const onnxTol = 1e-5

var onnxFeatures = []string{"amount", "hour", "merchant_age", "distance_km", "tx_count_1h"}

type onnxCase struct {
	name      string
	features  []string // want Features()
	objective string
	classes   int
	col       int // column of the expected line that Score returns
}

var onnxCases = []onnxCase{
	{name: "gbc_binary", features: onnxFeatures, objective: "binary", classes: 1, col: 0},
	{name: "logreg_imputer", features: onnxFeatures, objective: "binary", classes: 1, col: 0},
	{name: "gbr_nonames", features: []string{"f0", "f1", "f2", "f3", "f4"}, objective: "regression", classes: 1, col: 0},
	{name: "rf_multiclass", features: onnxFeatures, objective: "multiclass", classes: 3, col: 1},
}

// loadONNXCase loads testdata/onnx/NAME.onnx through Load (extension dispatch) and
// its rows and expected outputs.
func loadONNXCase(t testing.TB, name string) (Model, []string, [][]float64, [][]float64) {
	t.Helper()
	m, err := Load(filepath.Join("testdata", "onnx", name+".onnx"), "")
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := m.(io.Closer).Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	header, rows := readRows(t, filepath.Join("testdata", "onnx", name+".rows.csv"))
	want := readExpected(t, filepath.Join("testdata", "onnx", name+".expected.txt"))
	if len(rows) != len(want) || len(rows) == 0 {
		t.Fatalf("%s: %d rows, %d expected lines", name, len(rows), len(want))
	}
	return m, header, rows, want
}

func TestONNXParity(t *testing.T) {
	for _, tc := range onnxCases {
		t.Run(tc.name, func(t *testing.T) {
			m, header, rows, want := loadONNXCase(t, tc.name)
			if !slices.Equal(m.Features(), tc.features) || !slices.Equal(header, tc.features) {
				t.Fatalf("features %q, csv header %q, want %q", m.Features(), header, tc.features)
			}
			info := m.Info()
			if info.Format != FormatONNX || info.Objective != tc.objective || info.Classes != tc.classes || len(info.Hash) != 64 {
				t.Fatalf("info %+v, want format onnx, objective %s, classes %d, a sha256 hash", info, tc.objective, tc.classes)
			}

			maxSingle, maxBatch := 0.0, 0.0
			for i, x := range rows {
				got := m.Score(x)
				d := math.Abs(got - want[i][tc.col])
				if !(d <= onnxTol) {
					t.Errorf("row %d: Score = %.17g, onnxruntime (python) %.17g, |diff| %.3g", i, got, want[i][tc.col], d)
				}
				maxSingle = max(maxSingle, d)
				all := m.(Multi).ScoreAll(nil, x)
				if len(all) != len(want[i]) && !(len(want[i]) == 1 && len(all) == 2) {
					t.Fatalf("row %d: ScoreAll gave %d values, want %d", i, len(all), len(want[i]))
				}
				if len(want[i]) > 1 {
					for k := range want[i] {
						if d := math.Abs(all[k] - want[i][k]); !(d <= onnxTol) {
							t.Errorf("row %d class %d: ScoreAll = %.17g, onnxruntime (python) %.17g", i, k, all[k], want[i][k])
						}
					}
				}
			}
			batch := m.(Batcher).ScoreBatch([]float64{-1}, rows)
			if len(batch) != len(rows)+1 || batch[0] != -1 {
				t.Fatalf("ScoreBatch returned %d values (dst prefix %v), want dst + %d", len(batch), batch[:1], len(rows))
			}
			for i, got := range batch[1:] {
				d := math.Abs(got - want[i][tc.col])
				if !(d <= onnxTol) {
					t.Errorf("row %d: ScoreBatch = %.17g, onnxruntime (python) %.17g", i, got, want[i][tc.col])
				}
				maxBatch = max(maxBatch, d)
			}
			t.Logf("%d rows: max |go - python| single %.3g, batch %.3g", len(rows), maxSingle, maxBatch)
		})
	}
}

// TestONNXBatchSizes scores the rows in batches of varying size (the scratch
// tensors are resized between calls) and checks each against the goldens.
func TestONNXBatchSizes(t *testing.T) {
	m, _, rows, want := loadONNXCase(t, "gbc_binary")
	b := m.(Batcher)
	var got []float64
	for i, n := 0, 1; i < len(rows); i, n = i+n, n%7+1 {
		got = b.ScoreBatch(got, rows[i:min(i+n, len(rows))])
	}
	if len(got) != len(rows) {
		t.Fatalf("got %d scores for %d rows", len(got), len(rows))
	}
	for i := range rows {
		if d := math.Abs(got[i] - want[i][0]); !(d <= onnxTol) {
			t.Errorf("row %d: %.17g, want %.17g", i, got[i], want[i][0])
		}
	}
	if out := b.ScoreBatch(nil, nil); len(out) != 0 {
		t.Errorf("ScoreBatch of no rows = %v", out)
	}
}

func TestONNXShortRow(t *testing.T) {
	m, _, rows, want := loadONNXCase(t, "gbc_binary")
	if got := m.Score(rows[0][:3]); !math.IsNaN(got) {
		t.Errorf("Score of a 3-feature row = %v, want NaN", got)
	}
	got := m.(Batcher).ScoreBatch(nil, [][]float64{rows[0], rows[1][:2], rows[2]})
	if len(got) != 3 || !math.IsNaN(got[1]) {
		t.Fatalf("ScoreBatch with a short middle row = %v, want NaN in the middle", got)
	}
	for _, k := range []int{0, 2} {
		if d := math.Abs(got[k] - want[k][0]); !(d <= onnxTol) {
			t.Errorf("row %d beside a short row: %.17g, want %.17g", k, got[k], want[k][0])
		}
	}
}

// TestONNXConcurrent scores from many goroutines at once (run it with -race too);
// every result must still match the goldens.
func TestONNXConcurrent(t *testing.T) {
	m, _, rows, want := loadONNXCase(t, "rf_multiclass")
	const workers = 8
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rep := range 5 {
				if (w+rep)%2 == 0 {
					for i, x := range rows {
						if got := m.Score(x); !(math.Abs(got-want[i][1]) <= onnxTol) {
							errs <- fmt.Errorf("worker %d row %d: Score %.17g, want %.17g", w, i, got, want[i][1])
							return
						}
					}
					continue
				}
				lo := (w * 7) % len(rows)
				got := m.(Batcher).ScoreBatch(nil, rows[lo:])
				for j, v := range got {
					if !(math.Abs(v-want[lo+j][1]) <= onnxTol) {
						errs <- fmt.Errorf("worker %d row %d: ScoreBatch %.17g, want %.17g", w, lo+j, v, want[lo+j][1])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestONNXErrors(t *testing.T) {
	zipmap, err := os.ReadFile(filepath.Join("testdata", "onnx", "zipmap.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join("testdata", "onnx", "logreg_imputer.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"zipmap output", zipmap, "zipmap"},
		{"not onnx", []byte("tree\nversion=v4\n"), "onnx: read graph"},
		{"empty", nil, "onnx: read graph"},
		{"truncated", good[:len(good)/2], "onnx: read graph"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse(tc.data, FormatONNX)
			if err == nil {
				m.(io.Closer).Close()
				t.Fatalf("Parse succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestONNXClose(t *testing.T) {
	m, err := Load(filepath.Join("testdata", "onnx", "gbc_binary.onnx"), "")
	if err != nil {
		t.Fatal(err)
	}
	m.(Batcher).ScoreBatch(nil, [][]float64{{1, 2, 3, 4, 5}, {1, 2, 3, 4, 5}})
	m.Score([]float64{1, 2, 3, 4, 5})
	c := m.(io.Closer)
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// BenchmarkONNX compares one session run per row with one run per 100 rows; ns/row
// is the figure to compare. Rerun:
//
//	export SCORESTREAM_ONNXRUNTIME_LIB=$(scripts/onnxruntime.sh)
//	CGO_ENABLED=1 go test -tags onnx ./model -run '^$' -bench ONNX -benchtime 2000x
func BenchmarkONNX(b *testing.B) {
	for _, name := range []string{"gbc_binary", "logreg_imputer"} {
		m, _, rows, _ := loadONNXCase(b, name)
		batch := make([][]float64, 100)
		for i := range batch {
			batch[i] = rows[i%len(rows)]
		}
		b.Run(name+"/single", func(b *testing.B) {
			b.ReportAllocs()
			sink := 0.0
			for i := 0; b.Loop(); i++ {
				sink += m.Score(rows[i%len(rows)])
			}
			if math.IsNaN(sink) {
				b.Fatal("NaN score")
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/row")
		})
		b.Run(name+"/batch100", func(b *testing.B) {
			b.ReportAllocs()
			bt := m.(Batcher)
			dst := make([]float64, 0, len(batch))
			for b.Loop() {
				dst = bt.ScoreBatch(dst[:0], batch)
			}
			if math.IsNaN(dst[0]) {
				b.Fatal("NaN score")
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/row")
		})
	}
}

// FuzzONNX scores arbitrary feature values (NaN, ±Inf, huge, tiny) with every
// testdata model: no panic, Score agrees with a one-row ScoreBatch and ScoreAll,
// and probabilities stay in [0, 1].
//
// It does not fuzz the model bytes: onnxruntime 1.24.1 aborts the whole process
// (std::terminate, SIGABRT) on some malformed graphs that pass onnx.checker — found
// by fuzzing ParseONNX, e.g. a TreeEnsembleClassifier whose nodes_featureids has one
// entry fewer than nodes_nodeids; the Python onnxruntime aborts on the same file. A
// Go test cannot survive that, so model files must come from a trusted exporter.
// Rerun:
//
//	export SCORESTREAM_ONNXRUNTIME_LIB=$(scripts/onnxruntime.sh)
//	CGO_ENABLED=1 go test -tags onnx ./model -run '^$' -fuzz FuzzONNX -fuzztime 30s
func FuzzONNX(f *testing.F) {
	type loaded struct {
		m     Model
		proba bool
	}
	var models []loaded
	for _, tc := range onnxCases {
		m, _, rows, _ := loadONNXCase(f, tc.name)
		models = append(models, loaded{m, tc.objective != "regression"})
		for _, x := range rows[:3] {
			f.Add(x[0], x[1], x[2], x[3], x[4])
		}
	}
	f.Add(math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64)
	f.Add(-0.0, 1e39, -1e39, 3.4028235e38, 1e-46)
	f.Fuzz(func(t *testing.T, a, b, c, d, e float64) {
		x := []float64{a, b, c, d, e}
		for _, l := range models {
			s := l.m.Score(x)
			bs := l.m.(Batcher).ScoreBatch(nil, [][]float64{x})
			all := l.m.(Multi).ScoreAll(nil, x)
			same := func(u, v float64) bool { return u == v || (math.IsNaN(u) && math.IsNaN(v)) }
			if len(bs) != 1 || !same(s, bs[0]) {
				t.Fatalf("%s: Score %v, ScoreBatch %v", l.m.Info().Objective, s, bs)
			}
			if k := l.m.(*ONNX).col; len(all) <= k || !same(s, all[k]) {
				t.Fatalf("%s: Score %v, ScoreAll %v", l.m.Info().Objective, s, all)
			}
			if l.proba && !(s >= 0 && s <= 1) && !math.IsNaN(s) {
				t.Fatalf("probability %v out of [0, 1] for %v", s, x)
			}
		}
	})
}
