package modelwatch_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/demo"
	"github.com/scorestream/scorestream/modelwatch"
	"github.com/scorestream/scorestream/stream/features"
	"github.com/scorestream/scorestream/stream/process"
)

// logisticB is a second, different model over features the demo spec computes
// and that are never missing (also served by the real-broker hot-reload test).
var logisticB = func() string {
	b, err := os.ReadFile(filepath.Join("testdata", "model_b.json"))
	if err != nil {
		panic(err)
	}
	return string(b)
}()

type fixture struct {
	dir     string
	cfg     *config.Config
	spec    *features.Spec
	reloads *prometheus.CounterVec
	info    *prometheus.GaugeVec
}

// newFixture copies the fraud example's model and manifest into a temp dir and
// points a demo config at them.
func newFixture(t *testing.T, withManifest bool) *fixture {
	t.Helper()
	dir := t.TempDir()
	cfg, err := demo.Config([]string{"127.0.0.1:9092"}, "http://127.0.0.1:8081", dir)
	if err != nil {
		t.Fatal(err)
	}
	if withManifest {
		copyFile(t, filepath.Join("..", "examples", "fraud", "manifest.yaml"), filepath.Join(dir, "manifest.yaml"))
		cfg.Model.Manifest = filepath.Join(dir, "manifest.yaml")
	}
	spec, err := features.Compile(cfg.Features, cfg.State, cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{dir: dir, cfg: cfg, spec: spec,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "reloads"}, []string{"result"}),
		info:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "info"}, []string{"model", "version", "hash", "role"}),
	}
}

func (f *fixture) watcher(t *testing.T) *modelwatch.Watcher {
	t.Helper()
	w, err := modelwatch.New(modelwatch.Config{Model: f.cfg.Model, Features: f.cfg.Features, Spec: f.spec,
		Interval: 5 * time.Millisecond, Reloads: f.reloads, Info: f.info})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, to, b)
}

// writeAtomic replaces path the way an operator should: temp file + rename.
func writeAtomic(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) edit(t *testing.T, name string, fn func([]byte) []byte) {
	t.Helper()
	p := filepath.Join(f.dir, name)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, p, fn(b))
}

func TestWatcherManifestReload(t *testing.T) {
	f := newFixture(t, true)
	w := f.watcher(t)
	ms := w.Models()
	if c := ms.Champion; c.Name != "fraud" || c.Version != "1" || len(c.Thresholds) != 2 || c.Thresholds[1].Decision != "block" {
		t.Fatalf("champion %s thresholds %v: want the manifest's name, version and thresholds", c.Label(), c.Thresholds)
	}
	if p := ms.Champion.Profile; p == nil || p.Score == nil || p.Feature("amount") == nil {
		t.Fatalf("champion profile %+v: want the manifest's reference profile", p)
	}
	hashA := ms.Champion.Hash
	if got := value(t, f.info.WithLabelValues("fraud", "1", hashA, "champion")); got != 1 {
		t.Fatalf("info gauge for the initial model = %v", got)
	}
	_, sub1 := w.Subscribe()
	_, sub2 := w.Subscribe()

	// Same content: nothing to do, nothing counted.
	if ok, err := w.Reload(); ok || err != nil {
		t.Fatalf("Reload of unchanged files = %v, %v", ok, err)
	}
	if sub1() != nil || value(t, f.reloads.WithLabelValues("ok")) != 0 {
		t.Fatal("an unchanged reload was handed out or counted")
	}

	// A re-saved model (same scores, new bytes) with a new manifest version.
	f.edit(t, "model.json", func(b []byte) []byte { return append(b, '\n') })
	f.edit(t, "manifest.yaml", func(b []byte) []byte {
		return bytes.Replace(b, []byte("version: \"1\""), []byte("version: \"2\""), 1)
	})
	if ok, err := w.Reload(); !ok || err != nil {
		t.Fatalf("Reload = %v, %v; want a swap", ok, err)
	}
	for i, sub := range []func() *process.Models{sub1, sub2} {
		got := sub()
		if got == nil || got.Champion.Version != "2" || got.Champion.Hash == hashA {
			t.Fatalf("subscription %d: got %v, want version 2 with a new hash", i, got)
		}
		if again := sub(); again != nil {
			t.Fatalf("subscription %d handed the same generation out twice", i)
		}
	}
	hashB := w.Models().Champion.Hash
	if series(f.info) != 1 || value(t, f.info.WithLabelValues("fraud", "2", hashB, "champion")) != 1 {
		t.Fatal("info gauge does not show exactly the new model")
	}

	// A model whose scores moved: the golden rows catch it.
	f.edit(t, "model.json", func(b []byte) []byte {
		return bytes.ReplaceAll(b, []byte(`"base_score":"[1.87375E-2]"`), []byte(`"base_score":"[2.5E-2]"`))
	})
	ok, err := w.Reload()
	if ok || err == nil || !strings.Contains(err.Error(), "golden rows") || !strings.Contains(err.Error(), filepath.Join(f.dir, "model.json")) {
		t.Fatalf("Reload of a model failing its golden rows = %v, %v", ok, err)
	}
	if w.Models().Champion.Hash != hashB || sub1() != nil || w.Generation() != 1 {
		t.Fatal("a refused model replaced the serving one")
	}
	if got := value(t, f.reloads.WithLabelValues("refused")); got != 1 {
		t.Fatalf("refused = %v, want 1", got)
	}
}

func TestWatcherRefuses(t *testing.T) {
	cases := []struct {
		name     string
		manifest bool
		change   func(t *testing.T, f *fixture)
		want     string
	}{
		{"corrupt model", false, func(t *testing.T, f *fixture) {
			f.edit(t, "model.json", func(b []byte) []byte { return b[:len(b)/2] })
		}, "model.json"},
		{"missing model", false, func(t *testing.T, f *fixture) {
			if err := os.Remove(filepath.Join(f.dir, "model.json")); err != nil {
				t.Fatal(err)
			}
		}, "no such file"},
		{"feature not in the spec", false, func(t *testing.T, f *fixture) {
			writeAtomic(t, filepath.Join(f.dir, "model.json"), []byte(strings.ReplaceAll(logisticB, "count_1h", "count_2h")))
		}, "not in the feature spec: [count_2h]"},
		{"corrupt manifest", true, func(t *testing.T, f *fixture) {
			f.edit(t, "manifest.yaml", func(b []byte) []byte { return append(b, "colour: blue\n"...) })
		}, "field colour not found"},
		{"manifest default differs from the spec", true, func(t *testing.T, f *fixture) {
			f.edit(t, "manifest.yaml", func(b []byte) []byte {
				return bytes.Replace(b, []byte("{name: device_age_days, type: numeric}"), []byte("{name: device_age_days, type: numeric, default: 0}"), 1)
			})
		}, `feature "device_age_days": the manifest's default is 0 but features[4] has none`},
		{"manifest names another file", true, func(t *testing.T, f *fixture) {
			f.edit(t, "manifest.yaml", func(b []byte) []byte {
				return bytes.Replace(b, []byte("model: model.json"), []byte("model: other.json"), 1)
			})
		}, "names model file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, c.manifest)
			w := f.watcher(t)
			before := w.Models()
			c.change(t, f)
			ok, err := w.Reload()
			if ok || err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Reload = %v, %v; want refused with %q", ok, err, c.want)
			}
			if w.Models() != before || value(t, f.reloads.WithLabelValues("refused")) != 1 {
				t.Fatal("not refused cleanly")
			}
		})
	}
}

// A new model without a manifest keeps the configured name and version; the hash
// tells the files apart.
func TestWatcherNoManifestKeepsIdentity(t *testing.T) {
	f := newFixture(t, false)
	w := f.watcher(t)
	a := w.Models().Champion
	writeAtomic(t, filepath.Join(f.dir, "model.json"), []byte(logisticB))
	if ok, err := w.Reload(); !ok || err != nil {
		t.Fatalf("Reload = %v, %v", ok, err)
	}
	b := w.Models().Champion
	if b.Name != a.Name || b.Version != a.Version || b.Hash == a.Hash || b.Model.Info().Format != "logistic" {
		t.Fatalf("after reload %s (%s), before %s", b.Label(), b.Model.Info().Format, a.Label())
	}
}

// Run reloads on a signal and on a file change, and logs a refusal as a warning
// naming the file.
func TestWatcherRun(t *testing.T) {
	f := newFixture(t, false)
	w := f.watcher(t)
	logs := make(chan slog.Record, 64)
	log := slog.New(chanHandler(logs))
	hup := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, log, hup) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	await := func(msg string) slog.Record {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case r := <-logs:
				if strings.HasPrefix(r.Message, msg) {
					return r
				}
			case <-timeout:
				t.Fatalf("no log %q", msg)
			}
		}
	}
	await("watching model files")

	hup <- os.Interrupt // any signal value: the channel is the trigger
	if r := await("model files unchanged"); attr(r, "trigger") != "signal" {
		t.Fatalf("trigger %q", attr(r, "trigger"))
	}
	writeAtomic(t, filepath.Join(f.dir, "model.json"), []byte(logisticB))
	if r := await("model reloaded"); attr(r, "trigger") != "file changed" {
		t.Fatalf("trigger %q", attr(r, "trigger"))
	}
	writeAtomic(t, filepath.Join(f.dir, "model.json"), []byte(`{"format":"logistic"`))
	r := await("model reload refused")
	if r.Level != slog.LevelWarn || !strings.Contains(attr(r, "err"), "model.json") || attr(r, "file") != filepath.Join(f.dir, "model.json") {
		t.Fatalf("refusal logged as %v %q file=%q err=%q", r.Level, r.Message, attr(r, "file"), attr(r, "err"))
	}
	if w.Models().Champion.Model.Info().Format != "logistic" || w.Generation() != 1 {
		t.Fatal("the refused file replaced the model")
	}
}

func attr(r slog.Record, key string) string {
	var v string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

type chanHandler chan<- slog.Record

func (h chanHandler) Enabled(context.Context, slog.Level) bool      { return true }
func (h chanHandler) Handle(_ context.Context, r slog.Record) error { h <- r.Clone(); return nil }
func (h chanHandler) WithAttrs([]slog.Attr) slog.Handler            { return h }
func (h chanHandler) WithGroup(string) slog.Handler                 { return h }

func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	switch {
	case d.Counter != nil:
		return d.Counter.GetValue()
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	}
	t.Fatal("not a counter or gauge")
	return 0
}

func series(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 64)
	c.Collect(ch)
	close(ch)
	return len(ch)
}
