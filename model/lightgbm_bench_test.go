package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkLightGBM scores one row at a time with models of 100, 300 and 1000 trees
// of 63 leaves over 20 features (the shape of bench_python.py's models):
//
//	go test ./model/ -run '^$' -bench LightGBM -benchtime 2s
//
// By default the models are built synthetically here (leaf-wise growth like
// LightGBM's, random leaf picked at each split; files of that size would not belong
// in testdata). To run the very models lightgbm trained and timed itself:
//
//	$(scripts/pyenv.sh)/bin/python model/testdata/lightgbm/bench_python.py --save /tmp/lgbbench
//	LIGHTGBM_BENCH_DIR=/tmp/lgbbench go test ./model/ -run '^$' -bench LightGBM
func BenchmarkLightGBM(b *testing.B) {
	const features = 20
	dir := os.Getenv("LIGHTGBM_BENCH_DIR")
	rng := rand.New(rand.NewPCG(1, 2))
	rows := make([][]float64, 1024)
	for i := range rows {
		rows[i] = make([]float64, features)
		for j := range rows[i] {
			rows[i][j] = rng.NormFloat64()
			if rng.Float64() < 0.05 {
				rows[i][j] = math.NaN()
			}
		}
	}
	for _, trees := range []int{100, 300, 1000} {
		var data []byte
		if dir != "" {
			var err error
			if data, err = os.ReadFile(filepath.Join(dir, fmt.Sprintf("bench_%d.txt", trees))); err != nil {
				b.Fatal(err)
			}
		} else {
			data = []byte(lgbSyntheticModel(trees, 63, features, uint64(trees)))
		}
		m, err := ParseLightGBM(data)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("trees=%d", trees), func(b *testing.B) {
			b.ReportAllocs()
			var sink float64
			i := 0
			for b.Loop() {
				sink += m.Score(rows[i&1023])
				i++
			}
			if math.IsNaN(sink) {
				b.Fatal("NaN score")
			}
		})
	}
	b.Run("parse/trees=1000", func(b *testing.B) {
		data := []byte(lgbSyntheticModel(1000, 63, features, 1000))
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := ParseLightGBM(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// lgbSyntheticModel writes a binary LightGBM v4 text model with the given number of
// trees and leaves per tree over standard-normal features. Each tree grows leaf-wise
// like LightGBM's Tree::Split: split s turns a random leaf l into internal node s,
// whose left child keeps leaf l and whose right child is the new leaf s+1.
func lgbSyntheticModel(trees, leaves, features int, seed uint64) string {
	rng := rand.New(rand.NewPCG(seed, 99))
	var sb strings.Builder
	names := make([]string, features)
	infos := make([]string, features)
	for j := range names {
		names[j] = "f" + strconv.Itoa(j)
		infos[j] = "[-4:4]"
	}
	fmt.Fprintf(&sb, "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=%d\n", features-1)
	fmt.Fprintf(&sb, "objective=binary sigmoid:1\nfeature_names=%s\nfeature_infos=%s\n\n", strings.Join(names, " "), strings.Join(infos, " "))
	ni := leaves - 1
	left := make([]int, ni)
	right := make([]int, ni)
	type slot struct{ node, side int } // side 0 left, 1 right; node -1: root
	parent := make([]slot, leaves)
	ints := func(v []int) string {
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = strconv.Itoa(x)
		}
		return strings.Join(s, " ")
	}
	floats := func(n int, f func() float64) string {
		s := make([]string, n)
		for i := range s {
			s[i] = strconv.FormatFloat(f(), 'g', 17, 64)
		}
		return strings.Join(s, " ")
	}
	for t := range trees {
		parent[0] = slot{-1, 0}
		for s := range ni {
			l := rng.IntN(s + 1)
			if p := parent[l]; p.node >= 0 {
				if p.side == 0 {
					left[p.node] = s
				} else {
					right[p.node] = s
				}
			}
			left[s], right[s] = ^l, ^(s + 1)
			parent[l], parent[s+1] = slot{s, 0}, slot{s, 1}
		}
		feats := make([]int, ni)
		dts := make([]int, ni)
		for s := range ni {
			feats[s] = rng.IntN(features)
			dts[s] = []int{8, 10, 8, 10, 0, 2}[rng.IntN(6)]
		}
		fmt.Fprintf(&sb, "Tree=%d\nnum_leaves=%d\nnum_cat=0\nsplit_feature=%s\n", t, leaves, ints(feats))
		fmt.Fprintf(&sb, "threshold=%s\n", floats(ni, func() float64 { return rng.NormFloat64() }))
		fmt.Fprintf(&sb, "decision_type=%s\nleft_child=%s\nright_child=%s\n", ints(dts), ints(left), ints(right))
		fmt.Fprintf(&sb, "leaf_value=%s\nis_linear=0\nshrinkage=0.05\n\n\n", floats(leaves, func() float64 { return 0.1 * rng.NormFloat64() }))
	}
	sb.WriteString("end of trees\n")
	return sb.String()
}
