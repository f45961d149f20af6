package model

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// Per-row scoring cost. Rerun with:
//
//	go test ./model -run '^$' -bench . -benchtime 2s
//
// The XGBoost cases are synthetic binary:logistic ensembles of full depth-6 trees
// (127 nodes each, the worst case for that depth) over 20 features, built here so
// that no multi-megabyte model is committed. To benchmark models trained by xgboost
// itself, write them with model/testdata/bench_python.py and point
// SCORESTREAM_BENCH_MODELS at its output directory: every *.ubj / *.json in it gets
// a "file=" sub-benchmark.

const benchFeatures = 20

// synthXGBoost returns an xgboost JSON model of ntrees full trees of the given depth.
func synthXGBoost(ntrees, depth int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	names := make([]string, benchFeatures)
	for i := range names {
		names[i] = fmt.Sprintf("f%02d", i)
	}
	nodes := 1<<(depth+1) - 1
	internal := 1<<depth - 1
	trees := make([]any, ntrees)
	info := make([]int, ntrees)
	for t := range trees {
		left, right := make([]int, nodes), make([]int, nodes)
		feat, def := make([]int, nodes), make([]int, nodes)
		cond := make([]float32, nodes)
		for i := range nodes {
			if i < internal {
				left[i], right[i] = 2*i+1, 2*i+2
				feat[i] = r.IntN(benchFeatures)
				cond[i] = float32(r.NormFloat64())
				def[i] = r.IntN(2)
			} else {
				left[i], right[i] = -1, -1
				cond[i] = float32(r.NormFloat64() * 0.05)
			}
		}
		trees[t] = map[string]any{
			"id": t, "left_children": left, "right_children": right, "split_indices": feat,
			"split_conditions": cond, "default_left": def, "split_type": make([]int, nodes),
			"categories": []int{}, "categories_nodes": []int{}, "categories_segments": []int{},
			"categories_sizes": []int{},
			"tree_param":       map[string]any{"num_nodes": fmt.Sprint(nodes), "size_leaf_vector": "1"},
		}
	}
	doc := map[string]any{"version": []int{3, 2, 0}, "learner": map[string]any{
		"attributes": map[string]any{}, "feature_names": names, "feature_types": []string{},
		"objective":           map[string]any{"name": "binary:logistic"},
		"learner_model_param": map[string]any{"base_score": "[5E-1]", "num_class": "0", "num_feature": fmt.Sprint(benchFeatures), "num_target": "1"},
		"gradient_booster": map[string]any{"name": "gbtree", "model": map[string]any{
			"gbtree_model_param": map[string]any{"num_parallel_tree": "1", "num_trees": fmt.Sprint(ntrees)},
			"tree_info":          info, "trees": trees,
		}},
	}}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return b
}

// benchRows returns n rows of width features, standard normal, ~5% missing.
func benchRows(n, width int) [][]float64 {
	r := rand.New(rand.NewPCG(7, 7))
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = make([]float64, width)
		for j := range rows[i] {
			if r.Float64() < 0.05 {
				rows[i][j] = math.NaN()
			} else {
				rows[i][j] = r.NormFloat64()
			}
		}
	}
	return rows
}

func benchScore(b *testing.B, m Model) {
	rows := benchRows(1024, len(m.Features()))
	b.ReportAllocs()
	b.ResetTimer()
	var sink float64
	for i := 0; b.Loop(); i++ {
		sink += m.Score(rows[i&1023])
	}
	if math.IsInf(sink, 0) {
		b.Log(sink)
	}
}

func BenchmarkScore(b *testing.B) {
	b.Run("logistic", func(b *testing.B) {
		m, err := Load("testdata/parity/logistic_pipeline.json", "")
		if err != nil {
			b.Fatal(err)
		}
		benchScore(b, m)
	})
	for _, n := range []int{100, 300, 1000} {
		b.Run(fmt.Sprintf("xgboost/trees=%d/depth=6", n), func(b *testing.B) {
			m, err := Parse(synthXGBoost(n, 6, uint64(n)), "")
			if err != nil {
				b.Fatal(err)
			}
			benchScore(b, m)
		})
	}
	b.Run("xgboost/multiclass=3", func(b *testing.B) {
		m, err := Load("testdata/parity/xgb_multi_softprob.json", "")
		if err != nil {
			b.Fatal(err)
		}
		benchScore(b, m)
	})
	if dir := os.Getenv("SCORESTREAM_BENCH_MODELS"); dir != "" {
		files, _ := filepath.Glob(filepath.Join(dir, "*.ubj"))
		more, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, f := range append(files, more...) {
			b.Run("file="+filepath.Base(f), func(b *testing.B) {
				m, err := Load(f, "")
				if err != nil {
					b.Fatal(err)
				}
				benchScore(b, m)
			})
		}
	}
}

func BenchmarkParse(b *testing.B) {
	data := synthXGBoost(300, 6, 300)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data, ""); err != nil {
			b.Fatal(err)
		}
	}
}
