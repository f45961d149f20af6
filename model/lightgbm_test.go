package model

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The goldens in testdata/lightgbm come from the real lightgbm library:
//
//	$(scripts/pyenv.sh)/bin/python model/testdata/lightgbm/gen.py
//
// Each case is <name>.txt (Booster.save_model), <name>.rows.csv and
// <name>.expected.txt (Booster.predict of the saved file on those rows).
var lgbParityCases = []struct {
	name      string
	objective string
	trees     int
	classes   int
}{
	{"binary_nan", "binary", 40, 1},
	{"binary_v3", "binary", 40, 1},
	{"binary_sigmoid", "binary", 25, 1},
	{"regression_zero", "regression", 40, 1},
	{"regression_nomissing", "regression_l1", 20, 1},
	{"zero_band", "regression", 5, 1},
	{"poisson", "poisson", 25, 1},
	{"lambdarank", "lambdarank", 30, 1},
	{"multiclass", "multiclass", 60, 3},
	{"multiclassova", "multiclassova", 45, 3},
}

const lgbTolerance = 1e-6

func TestLightGBMParity(t *testing.T) {
	for _, tc := range lgbParityCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join("testdata", "lightgbm")
			data, err := os.ReadFile(filepath.Join(dir, tc.name+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			m, err := ParseLightGBM(data)
			if err != nil {
				t.Fatalf("ParseLightGBM: %v", err)
			}
			info := m.Info()
			want := Info{Format: "lightgbm", Objective: tc.objective, Trees: tc.trees, Classes: tc.classes, Hash: HashBytes(data)}
			if tc.classes > 1 {
				want.ScoreClass = 1
			}
			if info != want {
				t.Fatalf("Info = %+v, want %+v", info, want)
			}
			header, rows := readRows(t, filepath.Join(dir, tc.name+".rows.csv"))
			if got := strings.Join(m.Features(), ","); got != strings.Join(header, ",") {
				t.Fatalf("Features = %s, want %s", got, strings.Join(header, ","))
			}
			expected := lgbReadExpected(t, filepath.Join(dir, tc.name+".expected.txt"), tc.classes)
			if len(expected) != len(rows) {
				t.Fatalf("%d expected lines for %d rows", len(expected), len(rows))
			}
			multi, isMulti := m.(Multi)
			if isMulti != (tc.classes > 1) {
				t.Fatalf("implements Multi = %v for %d classes", isMulti, tc.classes)
			}
			var maxDiff float64
			exact := 0
			check := func(row, class int, got, want float64) {
				d := math.Abs(got - want)
				if !(d <= lgbTolerance) {
					t.Errorf("row %d (%v) class %d: go %.17g, lightgbm %.17g", row+2, rows[row], class, got, want)
				}
				maxDiff = math.Max(maxDiff, d)
				if got == want {
					exact++
				}
			}
			var all []float64
			for i, x := range rows {
				if isMulti {
					all = multi.ScoreAll(all[:0], x)
					if len(all) != tc.classes {
						t.Fatalf("ScoreAll returned %d values", len(all))
					}
					for k := range all {
						check(i, k, all[k], expected[i][k])
					}
					if got := m.Score(x); got != all[1] {
						t.Errorf("row %d: Score %.17g != ScoreAll[1] %.17g", i+2, got, all[1])
					}
				} else {
					check(i, 0, m.Score(x), expected[i][0])
				}
			}
			t.Logf("%d rows: max |go-lightgbm| = %.3g, %d of %d values bit-identical", len(rows), maxDiff, exact, len(rows)*tc.classes)
		})
	}
}

func TestLightGBMScoreClass(t *testing.T) {
	dir := filepath.Join("testdata", "lightgbm")
	data, err := os.ReadFile(filepath.Join(dir, "multiclass.txt"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseLightGBM(data)
	if err != nil {
		t.Fatal(err)
	}
	_, rows := readRows(t, filepath.Join(dir, "multiclass.rows.csv"))
	expected := lgbReadExpected(t, filepath.Join(dir, "multiclass.expected.txt"), 3)
	for k := range 3 {
		c, err := WithScoreClass(m, k) // what model predict --class calls
		if err != nil {
			t.Fatal(err)
		}
		if c.Info().ScoreClass != k {
			t.Fatalf("ScoreClass = %d, want %d", c.Info().ScoreClass, k)
		}
		for i := range 20 {
			if got := c.Score(rows[i]); math.Abs(got-expected[i][k]) > lgbTolerance {
				t.Fatalf("class %d row %d: %.17g, want %.17g", k, i, got, expected[i][k])
			}
		}
	}
	if _, err := WithScoreClass(m, 3); err == nil {
		t.Fatal("WithScoreClass(3) on 3 classes: no error")
	}
	if m.Info().ScoreClass != 1 {
		t.Fatal("WithScoreClass changed the original model")
	}
}

// lgbOneSplit is a regression model with one split on feature a: leaf 1 on the
// left, leaf 2 on the right.
func lgbOneSplit(threshold string, decisionType int, cat string) string {
	numCat := 0
	if cat != "" {
		numCat = 1
	}
	s := "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=1\n" +
		"objective=regression\nfeature_names=a b\nfeature_infos=none none\n\n" +
		"Tree=0\nnum_leaves=2\nnum_cat=" + strconv.Itoa(numCat) + "\nsplit_feature=0\nthreshold=" + threshold +
		"\ndecision_type=" + strconv.Itoa(decisionType) + "\nleft_child=-1\nright_child=-2\nleaf_value=1 2\n"
	if cat != "" {
		s += cat + "\n"
	}
	return s + "shrinkage=1\n\n\nend of trees\n"
}

// TestLightGBMDecision pins the split rules of LightGBM's tree.h
// (NumericalDecision, CategoricalDecision) and of its predict input conversion
// (|x| <= kZeroThreshold is read as 0) on one-split models.
func TestLightGBMDecision(t *testing.T) {
	kz := float64(float32(1e-35))
	nan := math.NaN()
	const (
		left  = 1.0
		right = 2.0
	)
	catSet := "cat_boundaries=0 2\ncat_threshold=10 2" // categories 1, 3, 33
	catZero := "cat_boundaries=0 1\ncat_threshold=1"   // category 0
	tests := []struct {
		name      string
		threshold string
		dt        int
		cat       string
		x         float64
		want      float64
	}{
		{"none equal", "1.5", 0, "", 1.5, left},
		{"none above", "1.5", 0, "", 1.5000000000000002, right},
		{"none NaN is 0 left", "1.5", 0, "", nan, left},
		{"none NaN is 0 right", "-1", 0, "", nan, right},
		{"none ignores default_left", "-1", 2, "", nan, right},
		{"none -inf", "-1", 0, "", math.Inf(-1), left},
		{"none +inf", "1e300", 0, "", math.Inf(1), right},
		{"nan default right", "1.5", 8, "", nan, right},
		{"nan default left", "-1", 10, "", nan, left},
		{"nan zero is a value", "-1", 10, "", 0, right},
		{"zero default right", "5", 4, "", 0, right},
		{"zero NaN default right", "5", 4, "", nan, right},
		{"zero tiny default right", "5", 4, "", 1e-36, right},
		{"zero -kz default right", "5", 4, "", -kz, right},
		{"zero just above kz", "5", 4, "", math.Nextafter(kz, 1), left},
		{"zero default left", "-1", 6, "", 0, left},
		{"zero value right", "-1", 6, "", 3, right},
		{"zero value left", "-1", 6, "", -2, left},
		// The threshold -kz: LightGBM reads x=-kz as 0, and 0 <= -kz is false.
		{"kz band -kz", "-1.0000000180025095e-35", 0, "", -kz, right},
		{"kz band below -kz", "-1.0000000180025095e-35", 0, "", math.Nextafter(-kz, -1), left},
		{"kz band 0 with kz", "0", 8, "", kz, left},
		{"kz band 0 above kz", "0", 8, "", math.Nextafter(kz, 1), right},
		{"kz band 0 with -tiny", "0", 8, "", -1e-40, left},
		{"cat in set", "0", 1, catSet, 1, left},
		{"cat in set 3", "0", 1, catSet, 3, left},
		{"cat in set second word", "0", 1, catSet, 33, left},
		{"cat truncated", "0", 1, catSet, 33.9, left},
		{"cat not in set", "0", 1, catSet, 2, right},
		{"cat zero not in set", "0", 1, catSet, 0, right},
		{"cat beyond bitset", "0", 1, catSet, 64, right},
		{"cat NaN right", "0", 1, catSet, nan, right},
		{"cat NaN right despite default_left", "0", 3, catSet, nan, right},
		{"cat negative", "0", 1, catZero, -1, right},
		{"cat -0.5 truncates to 0", "0", 1, catZero, -0.5, left},
		{"cat 0.9 truncates to 0", "0", 1, catZero, 0.9, left},
		{"cat tiny is 0", "0", 1, catZero, 1e-40, left},
		{"cat 2^31 right", "0", 1, catZero, 1 << 31, right},
		{"cat +inf right", "0", 1, catZero, math.Inf(1), right},
		{"cat -inf right", "0", 1, catZero, math.Inf(-1), right},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseLightGBM([]byte(lgbOneSplit(tc.threshold, tc.dt, tc.cat)))
			if err != nil {
				t.Fatalf("ParseLightGBM: %v", err)
			}
			if got := m.Score([]float64{tc.x, 0}); got != tc.want {
				t.Fatalf("Score(%v) = %v, want %v", tc.x, got, tc.want)
			}
		})
	}
}

func TestLightGBMObjectives(t *testing.T) {
	// One-leaf trees make the raw score known: 0.25 + 0.5 per class.
	model := func(objective string, classes int, extraHeader string) string {
		s := "tree\nversion=v4\nnum_class=" + strconv.Itoa(classes) + "\nnum_tree_per_iteration=" + strconv.Itoa(classes) +
			"\nlabel_index=0\nmax_feature_idx=0\nobjective=" + objective + "\nfeature_names=a\nfeature_infos=none\n" + extraHeader + "\n"
		tree := 0
		for _, v := range []string{"0.25", "0.5"} {
			for range classes {
				s += "Tree=" + strconv.Itoa(tree) + "\nnum_leaves=1\nnum_cat=0\nleaf_value=" + v + "\nshrinkage=1\n\n\n"
				tree++
			}
		}
		return s + "end of trees\n"
	}
	raw := 0.75
	sig := func(s, x float64) float64 { return 1 / (1 + math.Exp(-s*x)) }
	tests := []struct {
		objective string
		header    string
		want      float64
	}{
		{"regression", "", raw},
		{"regression sqrt", "", raw * raw},
		{"huber", "", raw},
		{"lambdarank", "", raw},
		{"rank_xendcg", "", raw},
		{"binary sigmoid:1", "", sig(1, raw)},
		{"binary sigmoid:2.5", "", sig(2.5, raw)},
		{"poisson", "", math.Exp(raw)},
		{"tweedie", "", math.Exp(raw)},
		{"cross_entropy", "", sig(1, raw)},
		{"cross_entropy_lambda", "", math.Log1p(math.Exp(raw))},
		{"regression", "average_output\n", raw / 2},
	}
	for _, tc := range tests {
		t.Run(tc.objective+tc.header, func(t *testing.T) {
			m, err := ParseLightGBM([]byte(model(tc.objective, 1, tc.header)))
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Score([]float64{0}); math.Abs(got-tc.want) > 1e-15 {
				t.Fatalf("Score = %v, want %v", got, tc.want)
			}
		})
	}
	// Equal raw scores per class: softmax gives 1/K each.
	m, err := ParseLightGBM([]byte(model("multiclass num_class:4", 4, "")))
	if err != nil {
		t.Fatal(err)
	}
	got := m.(Multi).ScoreAll(nil, []float64{0})
	for k, p := range got {
		if math.Abs(p-0.25) > 1e-15 {
			t.Fatalf("class %d: %v, want 0.25", k, p)
		}
	}
	// More classes than Score's stack buffer holds.
	m, err = ParseLightGBM([]byte(model("multiclassova num_class:20 sigmoid:1", 20, "")))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Score([]float64{0}); math.Abs(got-sig(1, raw)) > 1e-15 {
		t.Fatalf("20-class ova Score = %v, want %v", got, sig(1, raw))
	}
}

func TestLightGBMErrors(t *testing.T) {
	good := lgbOneSplit("1.5", 8, "")
	// A three-leaf tree to break in ways one split cannot show.
	three := strings.Replace(good, "num_leaves=2\nnum_cat=0\nsplit_feature=0\nthreshold=1.5\ndecision_type=8\nleft_child=-1\nright_child=-2\nleaf_value=1 2",
		"num_leaves=3\nnum_cat=0\nsplit_feature=0 1\nthreshold=1.5 0\ndecision_type=8 8\nleft_child=1 -1\nright_child=-3 -2\nleaf_value=1 2 3", 1)
	if _, err := ParseLightGBM([]byte(three)); err != nil {
		t.Fatalf("three-leaf base model: %v", err)
	}
	tests := []struct {
		name    string
		base    string
		old     string
		new     string
		wantErr string
	}{
		{"empty", "", "", "", `first line is not "tree"`},
		{"json", `{"tree": 1}`, "", "", `first line is not "tree"`},
		{"version", good, "version=v4", "version=v2", `version "v2" not supported`},
		{"no version", good, "version=v4\n", "", "header has no version"},
		{"no num_class", good, "num_class=1\n", "", "header has no num_class"},
		{"bad num_class", good, "num_class=1", "num_class=x", `num_class="x" is not an integer`},
		{"per iteration", good, "num_tree_per_iteration=1", "num_tree_per_iteration=2", "num_tree_per_iteration=2 with num_class=1"},
		{"feature names", good, "feature_names=a b", "feature_names=a", "feature_names has 1 names, max_feature_idx=1 needs 2"},
		{"feature infos", good, "feature_infos=none none", "feature_infos=none", "feature_infos has 1 entries for 2 features"},
		{"objective", good, "objective=regression", "objective=ndcg_magic", `objective "ndcg_magic" not supported`},
		{"sigmoid missing", good, "objective=regression", "objective=binary", "no sigmoid parameter"},
		{"sigmoid zero", good, "objective=regression", "objective=binary sigmoid:0", "sigmoid:0 must be a positive number"},
		{"multiclass on one class", good, "objective=regression", "objective=multiclass num_class:3", "num_class=1 in the header"},
		{"binary on three classes", good, "num_class=1\nnum_tree_per_iteration=1", "num_class=3\nnum_tree_per_iteration=3", `objective "regression" with num_class=3`},
		{"truncated", good, "end of trees\n", "", `missing "end of trees"`},
		{"no trees", good, "Tree=0", "end of trees\nTree=0", "model has no trees"},
		{"tree order", good, "Tree=0", "Tree=1", `"Tree=1" out of order, want Tree=0`},
		{"num_leaves", good, "num_leaves=2", "num_leaves=0", "tree 0: num_leaves=0, want >= 1"},
		{"no num_cat", good, "num_cat=0\n", "", "tree 0: missing num_cat"},
		{"split_feature count", three, "split_feature=0 1", "split_feature=0 1 0", "tree 0: split_feature has 3 values, num_leaves=3 needs 2"},
		{"leaf_value count", good, "leaf_value=1 2", "leaf_value=1", "tree 0: leaf_value has 1 values, num_leaves=2 needs 2"},
		{"leaf_value NaN", good, "leaf_value=1 2", "leaf_value=1 nan", "tree 0: leaf_value 1 is NaN"},
		{"threshold text", good, "threshold=1.5", "threshold=abc", `threshold value 0: "abc" is not a number`},
		{"split_feature range", good, "split_feature=0", "split_feature=2", "split_feature 2 out of range for 2 features"},
		{"child range", good, "right_child=-2", "right_child=-3", "child -3 out of range"},
		{"cycle", three, "left_child=1 -1", "left_child=1 0", "node 1: child 0 reached twice"},
		{"leaf twice", three, "right_child=-3 -2", "right_child=-1 -2", "child -1 reached twice"},
		{"missing type 3", good, "decision_type=8", "decision_type=12", "unknown missing type 3"},
		{"decision_type range", good, "decision_type=8", "decision_type=16", "decision_type 16 out of range"},
		{"categorical without num_cat", good, "decision_type=8", "decision_type=1", "categorical split with num_cat=0"},
		{"linear", good, "shrinkage=1", "is_linear=1\nshrinkage=1", "linear trees"},
	}
	catGood := lgbOneSplit("0", 1, "cat_boundaries=0 2\ncat_threshold=10 2")
	tests = append(tests, []struct {
		name    string
		base    string
		old     string
		new     string
		wantErr string
	}{
		{"cat_threshold count", catGood, "cat_threshold=10 2", "cat_threshold=10", "cat_threshold has 1 values, cat_boundaries ends at 2"},
		{"cat_boundaries count", catGood, "cat_boundaries=0 2", "cat_boundaries=0", "cat_boundaries has 1 values, num_cat=1 needs 2"},
		{"cat_boundaries order", catGood, "cat_boundaries=0 2\ncat_threshold=10 2", "cat_boundaries=2 0\ncat_threshold=", "cat_boundaries starts at 2"},
		{"cat index", catGood, "threshold=0", "threshold=1", "categorical threshold 1 out of range [0,1)"},
		{"cat bits", catGood, "cat_threshold=10 2", "cat_threshold=10 -2", `cat_threshold value 1: "-2" is not a uint32`},
	}...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.base
			if tc.old != "" {
				if !strings.Contains(src, tc.old) {
					t.Fatalf("base model lacks %q", tc.old)
				}
				src = strings.Replace(src, tc.old, tc.new, 1)
			}
			_, err := ParseLightGBM([]byte(src))
			if err == nil {
				t.Fatalf("no error, want %q", tc.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "lightgbm: ") || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestLightGBMShortRow(t *testing.T) {
	m, err := ParseLightGBM([]byte(lgbOneSplit("1.5", 8, "")))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Score([]float64{1}); !math.IsNaN(got) {
		t.Fatalf("Score of 1 value for 2 features = %v, want NaN", got)
	}
	data, err := os.ReadFile(filepath.Join("testdata", "lightgbm", "multiclass.txt"))
	if err != nil {
		t.Fatal(err)
	}
	mc, err := ParseLightGBM(data)
	if err != nil {
		t.Fatal(err)
	}
	got := mc.(Multi).ScoreAll([]float64{7}, []float64{1, 2})
	if len(got) != 4 || got[0] != 7 || !math.IsNaN(got[1]) || !math.IsNaN(got[3]) {
		t.Fatalf("ScoreAll of a short row = %v, want [7 NaN NaN NaN]", got)
	}
}

func TestLightGBMCRLF(t *testing.T) {
	src := lgbOneSplit("1.5", 8, "")
	m, err := ParseLightGBM([]byte(strings.ReplaceAll(src, "\n", "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Score([]float64{1, 0}); got != 1 {
		t.Fatalf("Score = %v, want 1", got)
	}
}

func TestLightGBMScoreDoesNotAllocate(t *testing.T) {
	for _, name := range []string{"binary_nan", "multiclass"} {
		data, err := os.ReadFile(filepath.Join("testdata", "lightgbm", name+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		m, err := ParseLightGBM(data)
		if err != nil {
			t.Fatal(err)
		}
		x := []float64{12.5, 40, math.NaN(), 4, 2, 0.5}
		if n := testing.AllocsPerRun(100, func() { m.Score(x) }); n != 0 {
			t.Errorf("%s: Score allocates %v times per call", name, n)
		}
		if mm, ok := m.(Multi); ok {
			dst := make([]float64, 0, 8)
			if n := testing.AllocsPerRun(100, func() { dst = mm.ScoreAll(dst[:0], x) }); n != 0 {
				t.Errorf("%s: ScoreAll allocates %v times per call", name, n)
			}
		}
	}
}

func lgbReadExpected(t *testing.T, path string, classes int) [][]float64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]float64
	for i, ln := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		cells := strings.Split(ln, ",")
		if len(cells) != classes {
			t.Fatalf("%s line %d: %d values, want %d", path, i+1, len(cells), classes)
		}
		vals := make([]float64, classes)
		for k, c := range cells {
			if vals[k], err = strconv.ParseFloat(c, 64); err != nil {
				t.Fatalf("%s line %d: %v", path, i+1, err)
			}
		}
		out = append(out, vals)
	}
	return out
}
