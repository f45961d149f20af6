package model

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// This file evaluates LightGBM models saved by Booster.save_model (the text format,
// "version=v3" and "version=v4"; v4 only added an optional trailing "parser:"
// section). The decision rules copy LightGBM's include/LightGBM/tree.h
// (NumericalDecision, CategoricalDecision) and the objectives' ConvertOutput, so that
// scores match lightgbm's own predict; model/testdata/lightgbm holds goldens made by
// the real library (see gen.py there).

// lgbZeroThreshold is LightGBM's kZeroThreshold. It is written as the float literal
// 1e-35f in meta.h and then widened to double, hence the float32 rounding.
const lgbZeroThreshold = float64(float32(1e-35))

// Node kinds after parsing. LightGBM's missing type None ("NaN is read as 0.0") is
// folded into lgbNaN with a fixed default direction, see lgbTree building.
const (
	lgbNaN  uint8 = iota // NaN goes the default way; otherwise x <= threshold
	lgbZero              // NaN and |x| <= kZeroThreshold go the default way
	lgbCat               // bitset lookup of int(x)
)

// lgbNode is one internal node of a flattened tree. Children >= 0 index nodes,
// children < 0 are ^(index into leaves). All trees share the same slices.
type lgbNode struct {
	threshold   float64 // numerical: left iff x <= threshold; lgbCat: index into cats
	left, right int32
	feature     int32
	kind        uint8
	defaultLeft bool
}

// lgbCatSet is the bitset of categories that go left at a categorical node:
// bits[start:start+n] of lgbModel.bits.
type lgbCatSet struct {
	start, n int32
}

type lgbLink uint8

const (
	lgbIdentity lgbLink = iota
	lgbSigmoid          // 1/(1+exp(-sigmoid*x)), per class for multiclassova
	lgbSoftmax
	lgbExp      // poisson, gamma, tweedie
	lgbSquare   // regression objectives with the "sqrt" option: sign(x)*x*x
	lgbLog1pExp // cross_entropy_lambda
)

// lgbModel is a parsed LightGBM model. It is immutable and safe for concurrent use.
type lgbModel struct {
	features []string
	nodes    []lgbNode
	leaves   []float64
	cats     []lgbCatSet
	bits     []uint32
	roots    []int32 // per tree: node index, or ^leaf index for a one-leaf tree
	perIter  int     // trees per boosting iteration (= outputs)
	classes  int
	class    int // multiclass: class whose probability Score returns
	link     lgbLink
	sigmoid  float64
	average  bool // average_output (random forest): divide by iterations
	info     Info
}

// lgbMulti is a multiclass lgbModel; it implements Multi.
type lgbMulti struct {
	*lgbModel
}

// ParseLightGBM reads a LightGBM text model (Booster.save_model, version v3 or v4).
// Features() are the model's feature_names; Score follows lightgbm's predict for
// float64 input: NaN is the missing value, handled per split by the model's
// missing type (None, Zero, NaN), and categorical features carry the integer
// category codes (pandas_categorical mappings are not applied). Multiclass models
// (multiclass, multiclassova) also implement Multi, and their Score is the
// probability of class 1 (see withClass). Score allocates nothing, except for
// multiclass models of more than 16 classes.
//
// Linear trees (linear_tree=true) are refused.
func ParseLightGBM(data []byte) (Model, error) {
	m, err := parseLightGBM(data)
	if err != nil {
		return nil, fmt.Errorf("lightgbm: %w", err)
	}
	m.info.Hash = HashBytes(data)
	if m.classes > 1 {
		return &lgbMulti{m}, nil
	}
	return m, nil
}

// Features returns the model's feature names, in the order Score expects them.
// The slice is shared; callers must not modify it.
func (m *lgbModel) Features() []string { return m.features }

// Info describes the model.
func (m *lgbModel) Info() Info { return m.info }

// Score returns the converted prediction for x (a probability for binary, the
// probability of Info().ScoreClass for multiclass, the raw or transformed value
// otherwise). x holds len(Features()) values, NaN for missing; a shorter x scores
// NaN, like the other formats.
func (m *lgbModel) Score(x []float64) float64 {
	if len(x) < len(m.features) {
		return math.NaN()
	}
	if m.perIter == 1 {
		var s float64
		for _, r := range m.roots {
			s += m.leaf(r, x)
		}
		if m.average {
			s /= float64(len(m.roots))
		}
		return m.convert1(s)
	}
	var buf [16]float64
	var out []float64
	if m.perIter <= len(buf) {
		out = buf[:m.perIter]
	} else {
		out = make([]float64, m.perIter)
	}
	m.rawMulti(out, x)
	m.convertMulti(out)
	return out[m.class]
}

// ScoreAll appends the probability of every class to dst and returns it (NaNs if
// x is shorter than Features()). It allocates only when dst lacks the capacity.
func (m *lgbMulti) ScoreAll(dst, x []float64) []float64 {
	n := len(dst)
	dst = slices.Grow(dst, m.perIter)[:n+m.perIter]
	out := dst[n:]
	if len(x) < len(m.features) {
		for i := range out {
			out[i] = math.NaN()
		}
		return dst
	}
	clear(out)
	m.rawMulti(out, x)
	m.convertMulti(out)
	return dst
}

// withClass returns a copy of a multiclass model whose Score is the
// probability of class k.
func (m *lgbMulti) withClass(k int) (*lgbMulti, error) {
	if k < 0 || k >= m.classes {
		return nil, fmt.Errorf("lightgbm: score class %d out of range [0,%d)", k, m.classes)
	}
	c := *m.lgbModel
	c.class = k
	c.info.ScoreClass = k
	return &lgbMulti{&c}, nil
}

// rawMulti adds the raw score of each output into out (len perIter), summing the
// trees iteration by iteration like GBDT::PredictRaw.
func (m *lgbModel) rawMulti(out, x []float64) {
	k := 0
	for _, r := range m.roots {
		out[k] += m.leaf(r, x)
		k++
		if k == len(out) {
			k = 0
		}
	}
	if m.average {
		iters := float64(len(m.roots) / m.perIter)
		for i := range out {
			out[i] /= iters
		}
	}
}

// leaf walks one tree from root r and returns its leaf value (Tree::GetLeaf).
func (m *lgbModel) leaf(r int32, x []float64) float64 {
	n := r
	for n >= 0 {
		nd := &m.nodes[n]
		v := x[nd.feature]
		var left bool
		switch nd.kind {
		case lgbNaN:
			if v != v {
				left = nd.defaultLeft
			} else {
				left = v <= nd.threshold
			}
		case lgbZero:
			if v != v || (v >= -lgbZeroThreshold && v <= lgbZeroThreshold) {
				left = nd.defaultLeft
			} else {
				left = v <= nd.threshold
			}
		default:
			left = m.catLeft(int(nd.threshold), v)
		}
		if left {
			n = nd.left
		} else {
			n = nd.right
		}
	}
	return m.leaves[^n]
}

// catLeft is Tree::CategoricalDecision: NaN and negative codes go right, the code
// is truncated to int, and it goes left iff its bit is set.
func (m *lgbModel) catLeft(c int, v float64) bool {
	// !(v > -1) is true for NaN and for values whose int cast is negative. Values
	// at or above 2^31 overflow LightGBM's int cast to a negative (x86) or to a
	// code beyond any bitset (saturating targets): right either way.
	if !(v > -1) || v >= 1<<31 {
		return false
	}
	code := uint32(int32(v))
	cs := m.cats[c]
	i := code / 32
	if i >= uint32(cs.n) {
		return false
	}
	return m.bits[uint32(cs.start)+i]>>(code%32)&1 == 1
}

func (m *lgbModel) convert1(s float64) float64 {
	switch m.link {
	case lgbSigmoid:
		return 1 / (1 + math.Exp(-m.sigmoid*s))
	case lgbExp:
		return math.Exp(s)
	case lgbSquare:
		return lgbSign(s) * s * s
	case lgbLog1pExp:
		return math.Log1p(math.Exp(s))
	}
	return s
}

func (m *lgbModel) convertMulti(out []float64) {
	switch m.link {
	case lgbSoftmax:
		// Common::Softmax.
		wmax := out[0]
		for _, v := range out[1:] {
			wmax = math.Max(v, wmax)
		}
		var wsum float64
		for i, v := range out {
			out[i] = math.Exp(v - wmax)
			wsum += out[i]
		}
		for i := range out {
			out[i] /= wsum
		}
	case lgbSigmoid:
		for i, v := range out {
			out[i] = 1 / (1 + math.Exp(-m.sigmoid*v))
		}
	}
}

func lgbSign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

// parseLightGBM does the work of ParseLightGBM; its errors lack the "lightgbm: "
// prefix.
func parseLightGBM(data []byte) (*lgbModel, error) {
	lines := lgbLines(data)
	if len(lines) == 0 || lines[0] != "tree" {
		return nil, errors.New(`not a LightGBM text model: first line is not "tree"`)
	}
	// Header: key=value lines up to the first tree.
	hdr := make(map[string]string)
	i := 1
	for ; i < len(lines) && !strings.HasPrefix(lines[i], "Tree="); i++ {
		ln := lines[i]
		if ln == "" {
			continue
		}
		if ln == "end of trees" {
			break
		}
		k, v, _ := strings.Cut(ln, "=")
		hdr[k] = v
	}
	h, err := lgbParseHeader(hdr)
	if err != nil {
		return nil, err
	}
	m := &lgbModel{
		features: h.features,
		perIter:  h.perIter,
		classes:  h.classes,
		link:     h.link,
		sigmoid:  h.sigmoid,
		average:  h.average,
	}
	if m.classes > 1 {
		m.class = 1
	}

	// Trees, each a "Tree=N" line and key=value lines up to a blank line.
	ended := false
	for i < len(lines) {
		ln := lines[i]
		if ln == "" {
			i++
			continue
		}
		if ln == "end of trees" {
			ended = true
			i++
			break
		}
		idx, ok := strings.CutPrefix(ln, "Tree=")
		if !ok {
			return nil, fmt.Errorf("line %d: want Tree=%d or end of trees, got %q", i+1, len(m.roots), lgbClip(ln))
		}
		if idx != strconv.Itoa(len(m.roots)) {
			return nil, fmt.Errorf("line %d: %q out of order, want Tree=%d", i+1, lgbClip(ln), len(m.roots))
		}
		i++
		kv := make(map[string]string, 24)
		for ; i < len(lines) && lines[i] != ""; i++ {
			k, v, ok := strings.Cut(lines[i], "=")
			if !ok || strings.HasPrefix(lines[i], "Tree=") || lines[i] == "end of trees" {
				break
			}
			kv[k] = v
		}
		if err := m.addTree(kv, len(h.features)); err != nil {
			return nil, fmt.Errorf("tree %d: %w", len(m.roots), err)
		}
	}
	if !ended {
		return nil, errors.New(`missing "end of trees" (truncated file?)`)
	}
	if len(m.roots) == 0 {
		return nil, errors.New("model has no trees")
	}
	if len(m.roots)%m.perIter != 0 {
		return nil, fmt.Errorf("%d trees is not a multiple of num_tree_per_iteration=%d", len(m.roots), m.perIter)
	}
	// The parameters section only matters for linear trees, which addTree refuses
	// by their is_linear flag; pandas_categorical is the caller's business.
	for _, ln := range lines[i:] {
		if strings.HasPrefix(ln, "[linear_tree: ") && ln != "[linear_tree: 0]" {
			return nil, errors.New("linear trees (linear_tree=true) are not supported")
		}
	}
	m.info = Info{
		Format:     "lightgbm",
		Objective:  h.objective,
		Trees:      len(m.roots),
		Classes:    m.classes,
		ScoreClass: m.class,
	}
	return m, nil
}

type lgbHeader struct {
	features  []string
	perIter   int
	classes   int
	objective string
	link      lgbLink
	sigmoid   float64
	average   bool
}

// lgbMaxClasses bounds num_class so that a corrupt header cannot demand huge
// per-row buffers.
const lgbMaxClasses = 1 << 16

func lgbParseHeader(hdr map[string]string) (lgbHeader, error) {
	var h lgbHeader
	switch v, ok := hdr["version"]; {
	case !ok:
		return h, errors.New("header has no version")
	case v != "v3" && v != "v4":
		return h, fmt.Errorf("version %q not supported (want v3 or v4)", lgbClip(v))
	}
	classes, err := lgbHeaderInt(hdr, "num_class", true, 1)
	if err != nil {
		return h, err
	}
	if classes < 1 || classes > lgbMaxClasses {
		return h, fmt.Errorf("num_class=%d out of range [1,%d]", classes, lgbMaxClasses)
	}
	perIter, err := lgbHeaderInt(hdr, "num_tree_per_iteration", false, classes)
	if err != nil {
		return h, err
	}
	if perIter != classes {
		return h, fmt.Errorf("num_tree_per_iteration=%d with num_class=%d", perIter, classes)
	}
	maxFeature, err := lgbHeaderInt(hdr, "max_feature_idx", true, 0)
	if err != nil {
		return h, err
	}
	names, ok := hdr["feature_names"]
	if !ok {
		return h, errors.New("header has no feature_names")
	}
	h.features = strings.Fields(names)
	if maxFeature < 0 || len(h.features) != maxFeature+1 {
		return h, fmt.Errorf("feature_names has %d names, max_feature_idx=%d needs %d", len(h.features), maxFeature, maxFeature+1)
	}
	if infos, ok := hdr["feature_infos"]; ok && len(strings.Fields(infos)) != len(h.features) {
		return h, fmt.Errorf("feature_infos has %d entries for %d features", len(strings.Fields(infos)), len(h.features))
	}
	_, h.average = hdr["average_output"]
	h.classes, h.perIter = classes, perIter

	obj, ok := hdr["objective"]
	if !ok {
		// Models trained with a custom objective have no objective line;
		// lightgbm's predict returns their raw score.
		h.objective, h.link = "custom", lgbIdentity
		return h, h.checkSingle()
	}
	parts := strings.Fields(obj)
	if len(parts) == 0 {
		return h, errors.New("objective is empty")
	}
	h.objective = parts[0]
	params := make(map[string]string)
	sqrt := false
	for _, p := range parts[1:] {
		if k, v, ok := strings.Cut(p, ":"); ok {
			params[k] = v
		} else if p == "sqrt" {
			sqrt = true
		}
	}
	switch h.objective {
	case "regression", "regression_l1", "quantile", "fair", "mape":
		h.link = lgbIdentity
		if sqrt {
			h.link = lgbSquare
		}
		return h, h.checkSingle()
	case "huber", "lambdarank", "rank_xendcg", "custom":
		h.link = lgbIdentity
		return h, h.checkSingle()
	case "poisson", "gamma", "tweedie":
		h.link = lgbExp
		return h, h.checkSingle()
	case "cross_entropy":
		h.link, h.sigmoid = lgbSigmoid, 1
		return h, h.checkSingle()
	case "cross_entropy_lambda":
		h.link = lgbLog1pExp
		return h, h.checkSingle()
	case "binary":
		h.link = lgbSigmoid
		if h.sigmoid, err = lgbSigmoidParam(params); err != nil {
			return h, err
		}
		return h, h.checkSingle()
	case "multiclass", "multiclassova":
		k, err := strconv.Atoi(params["num_class"])
		if err != nil {
			return h, fmt.Errorf("objective %q: bad or missing num_class", lgbClip(obj))
		}
		if k != classes || k < 2 {
			return h, fmt.Errorf("objective %q with num_class=%d in the header", lgbClip(obj), classes)
		}
		h.link = lgbSoftmax
		if h.objective == "multiclassova" {
			h.link = lgbSigmoid
			if h.sigmoid, err = lgbSigmoidParam(params); err != nil {
				return h, err
			}
		}
		return h, nil
	}
	return h, fmt.Errorf("objective %q not supported", lgbClip(h.objective))
}

func (h *lgbHeader) checkSingle() error {
	if h.classes != 1 {
		return fmt.Errorf("objective %q with num_class=%d, want 1", h.objective, h.classes)
	}
	return nil
}

func lgbSigmoidParam(params map[string]string) (float64, error) {
	s, ok := params["sigmoid"]
	if !ok {
		return 0, errors.New("objective has no sigmoid parameter")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("objective: sigmoid:%s must be a positive number", lgbClip(s))
	}
	return v, nil
}

func lgbHeaderInt(hdr map[string]string, key string, required bool, def int) (int, error) {
	s, ok := hdr[key]
	if !ok {
		if required {
			return 0, fmt.Errorf("header has no %s", key)
		}
		return def, nil
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not an integer", key, lgbClip(s))
	}
	return v, nil
}

// addTree validates one tree's fields and appends it to the flattened arrays.
func (m *lgbModel) addTree(kv map[string]string, nfeat int) error {
	if kv["is_linear"] != "" && kv["is_linear"] != "0" {
		return errors.New("linear trees (is_linear=1) are not supported")
	}
	numLeaves, err := lgbTreeInt(kv, "num_leaves")
	if err != nil {
		return err
	}
	numCat, err := lgbTreeInt(kv, "num_cat")
	if err != nil {
		return err
	}
	if numLeaves < 1 {
		return fmt.Errorf("num_leaves=%d, want >= 1", numLeaves)
	}
	if numCat < 0 {
		return fmt.Errorf("num_cat=%d, want >= 0", numCat)
	}
	leafValues, err := lgbFloats(kv, "leaf_value", numLeaves, "num_leaves", numLeaves)
	if err != nil {
		return err
	}
	for j, v := range leafValues {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("leaf_value %d is %v", j, v)
		}
	}
	leafBase := len(m.leaves)
	if leafBase+numLeaves > math.MaxInt32 {
		return errors.New("too many leaves")
	}
	if numLeaves == 1 {
		m.leaves = append(m.leaves, leafValues[0])
		m.roots = append(m.roots, ^int32(leafBase))
		return nil
	}
	ni := numLeaves - 1
	feats, err := lgbInts(kv, "split_feature", ni, "num_leaves", numLeaves)
	if err != nil {
		return err
	}
	thresholds, err := lgbFloats(kv, "threshold", ni, "num_leaves", numLeaves)
	if err != nil {
		return err
	}
	lefts, err := lgbInts(kv, "left_child", ni, "num_leaves", numLeaves)
	if err != nil {
		return err
	}
	rights, err := lgbInts(kv, "right_child", ni, "num_leaves", numLeaves)
	if err != nil {
		return err
	}
	var dts []int
	if _, ok := kv["decision_type"]; ok {
		if dts, err = lgbInts(kv, "decision_type", ni, "num_leaves", numLeaves); err != nil {
			return err
		}
	} else {
		dts = make([]int, ni) // LightGBM's default: numerical, missing None, right
	}
	var catBounds []int
	var catBits []uint32
	if numCat > 0 {
		if catBounds, err = lgbInts(kv, "cat_boundaries", numCat+1, "num_cat", numCat); err != nil {
			return err
		}
		if catBounds[0] != 0 {
			return fmt.Errorf("cat_boundaries starts at %d, want 0", catBounds[0])
		}
		for j := 1; j < len(catBounds); j++ {
			if catBounds[j] < catBounds[j-1] {
				return fmt.Errorf("cat_boundaries not ascending at %d", j)
			}
		}
		last := catBounds[numCat]
		words := strings.Fields(kv["cat_threshold"])
		if _, ok := kv["cat_threshold"]; !ok {
			return errors.New("missing cat_threshold")
		}
		if len(words) != last {
			return fmt.Errorf("cat_threshold has %d values, cat_boundaries ends at %d", len(words), last)
		}
		catBits = make([]uint32, len(words))
		for j, w := range words {
			u, err := strconv.ParseUint(w, 10, 32)
			if err != nil {
				return fmt.Errorf("cat_threshold value %d: %q is not a uint32", j, lgbClip(w))
			}
			catBits[j] = uint32(u)
		}
	}

	// Check the shape: every child index in range, and a walk from the root
	// reaches each internal node and each leaf exactly once (a tree, no cycles),
	// so Score always terminates.
	seenNode := make([]bool, ni)
	seenLeaf := make([]bool, numLeaves)
	stack := []int{0}
	seenNode[0] = true
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, c := range [2]int{lefts[n], rights[n]} {
			switch {
			case c >= 0 && c < ni && !seenNode[c]:
				seenNode[c] = true
				stack = append(stack, c)
			case c < 0 && ^c < numLeaves && !seenLeaf[^c]:
				seenLeaf[^c] = true
			case c >= ni || (c < 0 && ^c >= numLeaves):
				return fmt.Errorf("node %d: child %d out of range for num_leaves=%d", n, c, numLeaves)
			default:
				return fmt.Errorf("node %d: child %d reached twice", n, c)
			}
		}
	}
	for j, ok := range seenLeaf {
		if !ok {
			return fmt.Errorf("leaf %d unreachable", j)
		}
	}
	for j, ok := range seenNode {
		if !ok {
			return fmt.Errorf("node %d unreachable", j)
		}
	}

	nodeBase := len(m.nodes)
	if nodeBase+ni > math.MaxInt32 {
		return errors.New("too many nodes")
	}
	catBase := len(m.cats)
	child := func(c int) int32 {
		if c < 0 {
			return ^int32(leafBase + ^c)
		}
		return int32(nodeBase + c)
	}
	for n := range ni {
		f := feats[n]
		if f < 0 || f >= nfeat {
			return fmt.Errorf("node %d: split_feature %d out of range for %d features", n, f, nfeat)
		}
		dt := dts[n]
		if dt < 0 || dt > 15 {
			return fmt.Errorf("node %d: decision_type %d out of range [0,15]", n, dt)
		}
		nd := lgbNode{
			left:        child(lefts[n]),
			right:       child(rights[n]),
			feature:     int32(f),
			defaultLeft: dt&2 != 0,
		}
		thr := thresholds[n]
		if math.IsNaN(thr) {
			return fmt.Errorf("node %d: threshold is NaN", n)
		}
		if dt&1 != 0 {
			// Categorical: the threshold is the index of the node's bitset.
			if numCat == 0 {
				return fmt.Errorf("node %d: categorical split with num_cat=0", n)
			}
			ci := int(thr)
			if float64(ci) != thr || ci < 0 || ci >= numCat {
				return fmt.Errorf("node %d: categorical threshold %v out of range [0,%d)", n, thr, numCat)
			}
			nd.kind = lgbCat
			nd.threshold = float64(catBase + ci)
		} else {
			// LightGBM's predict first replaces |x| <= kZeroThreshold by 0. Only a
			// threshold inside that band can tell the two apart; moving it to the
			// band's edge gives the same answer without touching x.
			if thr >= -lgbZeroThreshold && thr < lgbZeroThreshold {
				if thr >= 0 {
					thr = lgbZeroThreshold
				} else {
					thr = math.Nextafter(-lgbZeroThreshold, math.Inf(-1))
				}
			}
			nd.threshold = thr
			switch (dt >> 2) & 3 {
			case 0: // None: NaN is read as 0.0
				nd.kind = lgbNaN
				nd.defaultLeft = 0 <= thr
			case 1:
				nd.kind = lgbZero
			case 2:
				nd.kind = lgbNaN
			default:
				return fmt.Errorf("node %d: decision_type %d has unknown missing type 3", n, dt)
			}
		}
		m.nodes = append(m.nodes, nd)
	}
	for j := range numCat {
		m.cats = append(m.cats, lgbCatSet{
			start: int32(len(m.bits) + catBounds[j]),
			n:     int32(catBounds[j+1] - catBounds[j]),
		})
	}
	m.bits = append(m.bits, catBits...)
	m.leaves = append(m.leaves, leafValues...)
	m.roots = append(m.roots, int32(nodeBase))
	return nil
}

func lgbTreeInt(kv map[string]string, key string) (int, error) {
	s, ok := kv[key]
	if !ok {
		return 0, fmt.Errorf("missing %s", key)
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not an integer", key, lgbClip(s))
	}
	return v, nil
}

// lgbInts parses kv[key] as want integers; what/n name the field that sets want,
// for the error message.
func lgbInts(kv map[string]string, key string, want int, what string, n int) ([]int, error) {
	return lgbValues(kv, key, want, what, n, "an int32", func(w string) (int, error) {
		v, err := strconv.ParseInt(w, 10, 32)
		return int(v), err
	})
}

// lgbFloats parses kv[key] as want numbers, like lgbInts.
func lgbFloats(kv map[string]string, key string, want int, what string, n int) ([]float64, error) {
	return lgbValues(kv, key, want, what, n, "a number", func(w string) (float64, error) {
		return strconv.ParseFloat(w, 64)
	})
}

// lgbValues parses the space-separated words of kv[key], exactly want of them,
// with parse; kind names what a word must be.
func lgbValues[T any](kv map[string]string, key string, want int, what string, n int, kind string, parse func(string) (T, error)) ([]T, error) {
	s, ok := kv[key]
	if !ok {
		return nil, fmt.Errorf("missing %s", key)
	}
	words := strings.Fields(s)
	if len(words) != want {
		return nil, fmt.Errorf("%s has %d values, %s=%d needs %d", key, len(words), what, n, want)
	}
	out := make([]T, want)
	for j, w := range words {
		v, err := parse(w)
		if err != nil {
			return nil, fmt.Errorf("%s value %d: %q is not %s", key, j, lgbClip(w), kind)
		}
		out[j] = v
	}
	return out, nil
}

// lgbLines splits data into lines without their "\n" or "\r\n" endings.
func lgbLines(data []byte) []string {
	lines := strings.Split(string(data), "\n")
	for i, ln := range lines {
		lines[i] = strings.TrimSuffix(ln, "\r")
	}
	return lines
}

// lgbClip shortens s for an error message.
func lgbClip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
