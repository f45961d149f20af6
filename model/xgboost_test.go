package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
)

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The library saved the same booster as JSON and UBJSON: both must decode to the
// same flattened model.
func TestXGBoostJSONAndUBJSONAgree(t *testing.T) {
	for _, c := range []struct{ json, ubj string }{
		{"testdata/parity/xgb_binary.json", "testdata/parity/xgb_binary_ubj.ubj"},
		{"testdata/parity/xgb_dart.json", "testdata/parity/xgb_dart_ubj.ubj"},
	} {
		a, err := ParseXGBoost(readFile(t, c.json))
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseXGBoost(readFile(t, c.ubj))
		if err != nil {
			t.Fatal(err)
		}
		if len(a.nodes) == 0 || fmt.Sprint(a.nodes) != fmt.Sprint(b.nodes) || !reflect.DeepEqual(a.leafVal, b.leafVal) || !reflect.DeepEqual(a.base, b.base) ||
			!reflect.DeepEqual(a.roots, b.roots) || !reflect.DeepEqual(a.weights, b.weights) ||
			!reflect.DeepEqual(a.features, b.features) {
			t.Errorf("%s and %s decode differently", c.json, c.ubj)
		}
		if a.info.Hash == b.info.Hash {
			t.Errorf("hash should be of the file bytes, got the same for both files")
		}
	}
}

// mutate loads a golden xgboost JSON, applies f to its generic form and re-encodes.
func mutate(t *testing.T, path string, f func(learner map[string]any)) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(readFile(t, path), &doc); err != nil {
		t.Fatal(err)
	}
	f(doc["learner"].(map[string]any))
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func tree(l map[string]any, i int) map[string]any {
	return l["gradient_booster"].(map[string]any)["model"].(map[string]any)["trees"].([]any)[i].(map[string]any)
}

func TestXGBoostBadModels(t *testing.T) {
	const bin = "testdata/parity/xgb_binary.json"
	cases := []struct {
		name string
		path string
		f    func(l map[string]any)
		want string
	}{
		{"left child out of range", bin, func(l map[string]any) {
			tree(l, 12)["left_children"].([]any)[0] = 99
		}, "xgboost: tree 12: node 0: left child 99 out of range"},
		{"right child negative", bin, func(l map[string]any) {
			tree(l, 3)["right_children"].([]any)[0] = -7
		}, "xgboost: tree 3: node 0: right child -7 out of range"},
		{"cycle", bin, func(l map[string]any) {
			tree(l, 0)["left_children"].([]any)[1] = 0
		}, "xgboost: tree 0: node 1: child 0 is reached twice"},
		{"split feature", bin, func(l map[string]any) {
			tree(l, 1)["split_indices"].([]any)[0] = 5
		}, "xgboost: tree 1: node 0: split feature 5 out of range [0,5)"},
		{"short array", bin, func(l map[string]any) {
			tr := tree(l, 2)
			tr["default_left"] = tr["default_left"].([]any)[:3]
		}, "xgboost: tree 2: default_left has 3 entries, left_children has"},
		{"objective", bin, func(l map[string]any) {
			l["objective"].(map[string]any)["name"] = "survival:cox"
		}, `xgboost: objective "survival:cox" is not supported`},
		{"tree_info", bin, func(l map[string]any) {
			m := l["gradient_booster"].(map[string]any)["model"].(map[string]any)
			m["tree_info"] = m["tree_info"].([]any)[1:]
		}, "xgboost: tree_info has 19 entries for 20 trees"},
		{"best_iteration", bin, func(l map[string]any) {
			l["attributes"] = map[string]any{"best_iteration": "40"}
		}, "xgboost: best_iteration 40 but the model has 20 iterations"},
		{"base_score", bin, func(l map[string]any) {
			l["learner_model_param"].(map[string]any)["base_score"] = "[1.5E0]"
		}, "xgboost: learner_model_param: base_score: 1.5 is not a probability in (0,1)"},
		{"feature names", bin, func(l map[string]any) {
			l["feature_names"] = []any{"a", "b"}
		}, "xgboost: 2 feature_names for num_feature 5"},
		{"gblinear", bin, func(l map[string]any) {
			l["gradient_booster"] = map[string]any{"name": "gblinear"}
		}, "xgboost: booster gblinear is not supported"},
		{"no learner", bin, func(l map[string]any) {
			delete(l, "objective")
		}, `xgboost: learner: missing "objective"`},
		{"multiclass base_score count", "testdata/parity/xgb_multi_softprob.json", func(l map[string]any) {
			l["learner_model_param"].(map[string]any)["base_score"] = "[1E-1,2E-1]"
		}, "xgboost: learner_model_param: base_score: 2 values for 3 classes"},
		{"categorical segment", "testdata/parity/xgb_categorical.json", func(l map[string]any) {
			tree(l, 0)["categories_sizes"].([]any)[0] = 1000
		}, "xgboost: tree 0: node 0: categories segment [0,+1000) out of range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(mutate(t, c.path, c.f), "")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// A hand-built tree checks the split rules the parity data might not reach:
// float32 comparison, default_left both ways, and categories going right.
func TestXGBoostSplitRules(t *testing.T) {
	doc := `{"learner":{"attributes":{},"feature_names":["x","c"],"feature_types":["float","c"],
 "gradient_booster":{"model":{"gbtree_model_param":{"num_parallel_tree":"1","num_trees":"2"},
  "tree_info":[0,0],"trees":[
  {"left_children":[1,-1,-1],"right_children":[2,-1,-1],"split_indices":[0,0,0],
   "split_conditions":[0.1,-1,1],"default_left":[1,0,0],"split_type":[0,0,0],
   "categories":[],"categories_nodes":[],"categories_segments":[],"categories_sizes":[]},
  {"left_children":[1,-1,-1],"right_children":[2,-1,-1],"split_indices":[1,0,0],
   "split_conditions":[0,10,20],"default_left":[0,0,0],"split_type":[1,0,0],
   "categories":[3,70],"categories_nodes":[0],"categories_segments":[0],"categories_sizes":[2]}]},
  "name":"gbtree"},
 "learner_model_param":{"base_score":"0","num_class":"0","num_feature":"2"},
 "objective":{"name":"reg:squarederror"}},"version":[1,7,6]}`
	m, err := Parse([]byte(doc), "")
	if err != nil {
		t.Fatal(err)
	}
	nan := math.NaN()
	// float32(0.1) rounds up: 0.1 (float64) < float32(0.1), but float32(0.1) is not.
	cases := []struct {
		x, c float64
		want float64
	}{
		{0.0999, 0, -1 + 10},
		{0.1, 0, 1 + 10},           // float32(0.1) < float32(0.1) is false → right
		{0.10000000149, 0, 1 + 10}, // == float32(0.1) → right
		{nan, 0, -1 + 10},          // default_left
		{0, 3, -1 + 20},            // category in the set → right
		{0, 3.7, -1 + 20},          // truncated to 3
		{0, 70, -1 + 20},
		{0, 4, -1 + 10},   // not in the set → left
		{0, 700, -1 + 10}, // beyond the bitset → left
		{0, -3, -1 + 10},  // negative → left
		{0, nan, -1 + 20}, // missing, default right
	}
	for _, c := range cases {
		if got := m.Score([]float64{c.x, c.c}); got != c.want {
			t.Errorf("Score(%v, %v) = %v, want %v", c.x, c.c, got, c.want)
		}
	}
	if got := m.Score([]float64{1}); !math.IsNaN(got) {
		t.Errorf("Score on a short row = %v, want NaN", got)
	}
}

func TestXGBoostScoreClass(t *testing.T) {
	m, err := Load("testdata/parity/xgb_multi_softprob.json", "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Info().Classes != 3 || m.Info().ScoreClass != 1 {
		t.Fatalf("info %+v, want 3 classes, score class 1", m.Info())
	}
	x := []float64{20, 3, 100, 5, 1}
	all := m.(Multi).ScoreAll(nil, x)
	m2, err := WithScoreClass(m, 2)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Score(x) != all[2] || m.Score(x) != all[1] {
		t.Errorf("class scores %v / %v, want %v", m.Score(x), m2.Score(x), all)
	}
	if _, err := WithScoreClass(m, 3); err == nil {
		t.Error("class 3 of 3 accepted")
	}
	bin, err := Load("testdata/parity/xgb_binary.json", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WithScoreClass(bin, 0); err == nil {
		t.Error("score class accepted on a binary model")
	}
}

func TestScoreDoesNotAllocate(t *testing.T) {
	for _, path := range []string{"testdata/parity/xgb_binary.json", "testdata/parity/xgb_multi_softprob.json",
		"testdata/parity/xgb_dart.json", "testdata/parity/xgb_categorical.json", "testdata/parity/logistic_pipeline.json"} {
		m, err := Load(path, "")
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float64, len(m.Features()))
		for i := range x {
			x[i] = float64(i) * 1.5
		}
		if n := testing.AllocsPerRun(100, func() { m.Score(x) }); n != 0 {
			t.Errorf("%s: Score allocates %v times per row", path, n)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load("testdata/parity/none.json", ""); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Load("testdata/parity/xgb_binary.json", FormatXGBoostUBJ); err == nil {
		t.Error("JSON accepted as xgboost-ubj")
	}
	if _, err := Parse([]byte("{}"), "onnx-nope"); err == nil || !strings.Contains(err.Error(), "unknown model format") {
		t.Errorf("unknown format: %v", err)
	}
	b := readFile(t, "testdata/parity/xgb_binary_ubj.ubj")
	for _, n := range []int{1, 10, len(b) / 2, len(b) - 1} {
		if _, err := Parse(b[:n], ""); err == nil {
			t.Errorf("UBJSON truncated to %d bytes accepted", n)
		}
	}
}

// xgboost 1.x wrote the same trees without split_type/categories, num_target or
// iteration_indptr, with default_left as booleans. Rewriting the golden files into
// that shape must not change the library's predictions.
func TestXGBoostLegacyShape(t *testing.T) {
	for _, name := range []string{"xgb_binary_scalar_base", "xgb_early_stop", "xgb_forest", "xgb_multi_softprob"} {
		t.Run(name, func(t *testing.T) {
			stem := "testdata/parity/" + name
			data := mutate(t, stem+".json", func(l map[string]any) {
				delete(l["learner_model_param"].(map[string]any), "num_target")
				gm := l["gradient_booster"].(map[string]any)["model"].(map[string]any)
				delete(gm, "iteration_indptr")
				delete(gm, "cats")
				for _, tr := range gm["trees"].([]any) {
					tr := tr.(map[string]any)
					for _, k := range []string{"split_type", "categories", "categories_nodes", "categories_segments", "categories_sizes"} {
						delete(tr, k)
					}
					dl := tr["default_left"].([]any)
					for i, v := range dl {
						dl[i] = v.(float64) != 0
					}
				}
			})
			m, err := Parse(data, "")
			if err != nil {
				t.Fatal(err)
			}
			header, rows := readRows(t, stem+".rows.csv")
			want := readExpected(t, stem+".expected.txt")
			for r, x := range align(t, m, header, rows) {
				got := []float64{m.Score(x)}
				if m.Info().Classes > 1 {
					got = m.(Multi).ScoreAll(nil, x)
				}
				for k := range got {
					if d := math.Abs(got[k] - want[r][k]); !(d <= parityTol) {
						t.Errorf("row %d output %d: go %.17g python %.17g", r, k, got[k], want[r][k])
					}
				}
			}
		})
	}
}
