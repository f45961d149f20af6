package demo

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/scorestream/scorestream/model"
	"github.com/scorestream/scorestream/stream/features"
)

// TestDemoModelMatchesXGBoost scores the example's hold-out rows with the demo's
// embedded model and compares with xgboost's own predictions (examples/fraud).
func TestDemoModelMatchesXGBoost(t *testing.T) {
	served, err := files.ReadFile("model.json")
	if err != nil {
		t.Fatal(err)
	}
	trained, err := os.ReadFile("../examples/fraud/model.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(served, trained) {
		t.Fatal("demo/model.json differs from examples/fraud/model.json: rerun examples/fraud/train.py")
	}
	m, err := model.Parse(served, "")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("../examples/fraud/holdout.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, n := range rows[0] {
		col[n] = i
	}
	exp, err := os.ReadFile("../examples/fraud/expected.txt")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(exp))
	x := make([]float64, len(m.Features()))
	n := 0
	for _, row := range rows[1:] {
		for i, name := range m.Features() {
			c, ok := col[name]
			if !ok {
				t.Fatalf("hold-out rows lack feature %q", name)
			}
			x[i] = math.NaN()
			if s := strings.TrimSpace(row[c]); s != "" {
				if x[i], err = strconv.ParseFloat(s, 64); err != nil {
					t.Fatal(err)
				}
			}
		}
		if !sc.Scan() {
			t.Fatal("fewer expected predictions than rows")
		}
		want, _ := strconv.ParseFloat(sc.Text(), 64)
		if got := m.Score(x); math.Abs(got-want) > 1e-6 {
			t.Fatalf("row %d: scorestream %v, xgboost %v", n, got, want)
		}
		n++
	}
	if n != 200 {
		t.Fatalf("%d rows checked, want 200", n)
	}
}

// TestDemoConfigFeedsModel checks that the demo config provides every feature the
// demo model needs.
func TestDemoConfigFeedsModel(t *testing.T) {
	cfg, err := Config([]string{"127.0.0.1:9092"}, "http://127.0.0.1:8081", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	spec, err := features.Compile(cfg.Features, cfg.State, cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(cfg.Model.Path, cfg.Model.Format)
	if err != nil {
		t.Fatal(err)
	}
	if err := model.CheckFeatures(m, spec.Names(), "the feature spec"); err != nil {
		t.Fatal(err)
	}
}

// TestComparisonModel: the demo's second model (for the replay walkthrough) is
// the example's, and it needs only the event's own fields.
func TestComparisonModel(t *testing.T) {
	served, err := files.ReadFile("model-novelocity.json")
	if err != nil {
		t.Fatal(err)
	}
	trained, err := os.ReadFile("../examples/fraud/model-novelocity.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(served, trained) {
		t.Fatal("demo/model-novelocity.json differs from examples/fraud/model-novelocity.json: rerun examples/fraud/train.py --no-velocity")
	}
	m, err := model.Parse(served, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.Features(), ","); got != "amount,log_amount,hour,channel_idx,device_age_days" {
		t.Fatalf("features %s", got)
	}
}
