package modelwatch_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/demo"
	"github.com/scorestream/scorestream/model"
	"github.com/scorestream/scorestream/modelwatch"
	"github.com/scorestream/scorestream/stream/features"
)

// TestLoadClass: model.class picks the class a multiclass model's score is the
// probability of, and a model with one output refuses it naming the field.
func TestLoadClass(t *testing.T) {
	cfg, err := demo.Config([]string{"127.0.0.1:9092"}, "http://127.0.0.1:8081", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"amount", "hour", "merchant_age", "distance_km", "tx_count_1h"}
	fs := make([]config.Feature, len(names))
	for i, n := range names {
		fs[i] = config.Feature{Name: n, Field: n}
	}
	spec, err := features.Compile(fs, cfg.State, cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	x := []float64{120, 3, 400, 12.5, 2}
	for _, k := range []int{0, 2} {
		mc := config.Model{Path: filepath.Join("..", "model", "testdata", "parity", "xgb_multi_softprob.json"), Class: &k}
		ms, err := modelwatch.Load(mc, fs, spec)
		if err != nil {
			t.Fatalf("class %d: %v", k, err)
		}
		m := ms.Champion.Model
		all := m.(model.Multi).ScoreAll(nil, x)
		if len(all) < 3 || m.Score(x) != all[k] {
			t.Fatalf("class %d: Score %v, ScoreAll %v", k, m.Score(x), all)
		}
	}

	two := 2
	_, err = modelwatch.Load(config.Model{Path: cfg.Model.Path, Class: &two}, cfg.Features, mustSpec(t, cfg))
	if err == nil || !strings.Contains(err.Error(), "model.class") || !strings.Contains(err.Error(), "one output") {
		t.Fatalf("class 2 of a binary model: %v; want a model.class error", err)
	}
}

func mustSpec(t *testing.T, cfg *config.Config) *features.Spec {
	t.Helper()
	spec, err := features.Compile(cfg.Features, cfg.State, cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}
