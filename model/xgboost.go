package model

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// XGBoost is a gradient-boosted tree ensemble saved by xgboost's Booster.save_model,
// as JSON (.json) or Universal Binary JSON (.ubj, the default since xgboost 2.1).
// Versions 1.x to 3.x are read.
//
// Prediction follows the library exactly, so that scores match Booster.predict to
// float32 precision:
//   - inputs are cast to float32; a numerical split goes left iff
//     float32(x) < split_condition, a missing (NaN) input follows default_left;
//   - a categorical split (split_type 1) sends the categories listed for the node
//     RIGHT and every other value (unseen, negative) left; the category of x is
//     int(x), truncated;
//   - the margin is base_margin + Σ leaf values, accumulated in float32 in tree
//     order (times weight_drop[i] for a dart booster); base_margin is
//     learner_model_param.base_score through the objective's link (logit for
//     binary:logistic, log for count:poisson, identity for the rest);
//   - if early stopping recorded best_iteration, only the trees of iterations
//     0..best_iteration are used, like the scikit-learn wrapper's predict and
//     Booster.predict(iteration_range=(0, best_iteration+1)); Info().Trees says how
//     many. (The native Booster.predict without iteration_range uses every tree.)
//
// Trees are flattened into one array of 16-byte nodes with the right child stored
// next to the left one, so Score walks memory without pointers and never allocates.
// A leaf is a node that leads to itself (its condition is NaN, so every input goes
// "right", to left+1 == itself): each tree is then walked for exactly its depth
// without a leaf test, with branch-free steps, eight (or four) trees at a time so that the
// CPU overlaps their memory loads.
type XGBoost struct {
	features []string
	nodes    []xgbNode
	roots    []int32   // root node index of each used tree
	depth    []uint8   // depth of each used tree
	blockDep []uint8   // max depth of trees 4k..4k+3
	leafVal  []float32 // leaf value by node index (0 for internal nodes)
	groups   []int32   // class of each tree (multiclass), nil otherwise
	weights  []float32 // dart tree weights, nil for gbtree
	cats     []uint64  // bitsets of categorical splits
	catSets  []xgbCatSet
	base     []float32 // base margin per class
	obj      xgbObjective
	classes  int
	class    int // class whose probability Score returns
	info     Info
}

type xgbNode struct {
	cond  float32 // split threshold; NaN for a leaf
	feat  int32   // feature index (0 for a leaf)
	left  int32   // index of the left child in nodes; the right child is left+1 (a leaf: its own index − 1)
	flags uint32  // bit 0: missing goes left; bit 1: categorical; bits 2-31: cat set
}

const (
	xgbDefaultLeft = 1 << 0
	xgbCategorical = 1 << 1
)

// xgbCatSet locates a categorical node's bitset: (flags>>2) indexes catSets.
type xgbCatSet struct{ off, words uint32 }

type xgbLink int

const (
	linkIdentity xgbLink = iota
	linkLogit            // base_score is a probability; output = sigmoid(margin)
	linkLogitRaw         // base_score is a probability; output = margin
	linkLog              // base_score is a mean; output = exp(margin)
	linkHinge            // output = margin > 0 ? 1 : 0
	linkSoftmax          // multiclass; base_score is a margin per class
)

type xgbObjective struct {
	link xgbLink
}

var xgbObjectives = map[string]xgbLink{
	"binary:logistic":      linkLogit,
	"reg:logistic":         linkLogit,
	"binary:logitraw":      linkLogitRaw,
	"binary:hinge":         linkHinge,
	"reg:squarederror":     linkIdentity,
	"reg:linear":           linkIdentity,
	"reg:squaredlogerror":  linkIdentity,
	"reg:pseudohubererror": linkIdentity,
	"reg:absoluteerror":    linkIdentity,
	"reg:quantileerror":    linkIdentity,
	"rank:pairwise":        linkIdentity,
	"rank:ndcg":            linkIdentity,
	"rank:map":             linkIdentity,
	"count:poisson":        linkLog,
	"reg:gamma":            linkLog,
	"reg:tweedie":          linkLog,
	"multi:softprob":       linkSoftmax,
	"multi:softmax":        linkSoftmax,
}

// ParseXGBoost reads an xgboost model saved as JSON or UBJSON (detected from the
// first bytes).
func ParseXGBoost(data []byte) (*XGBoost, error) {
	var doc any
	var err error
	if isJSONObject(data) {
		doc, err = decodeJSON(data)
	} else {
		doc, err = decodeUBJSON(data)
	}
	if err != nil {
		return nil, fmt.Errorf("xgboost: %w", err)
	}
	m, err := xgbFromDoc(doc)
	if err != nil {
		return nil, fmt.Errorf("xgboost: %w", err)
	}
	m.info.Hash = HashBytes(data)
	return m, nil
}

func xgbFromDoc(doc any) (*XGBoost, error) {
	root, err := asObject(doc, "document")
	if err != nil {
		return nil, err
	}
	learner, err := member(root, "learner")
	if err != nil {
		return nil, err
	}
	objM, err := member(learner, "objective")
	if err != nil {
		return nil, fmt.Errorf("learner: %w", err)
	}
	objName, _ := objM["name"].(string)
	link, ok := xgbObjectives[objName]
	if !ok {
		return nil, fmt.Errorf("objective %q is not supported", objName)
	}
	lmp, err := member(learner, "learner_model_param")
	if err != nil {
		return nil, fmt.Errorf("learner: %w", err)
	}
	numFeature, err := intParam(lmp, "num_feature", -1)
	if err != nil {
		return nil, fmt.Errorf("learner_model_param: %w", err)
	}
	numClass, err := intParam(lmp, "num_class", 0)
	if err != nil {
		return nil, fmt.Errorf("learner_model_param: %w", err)
	}
	numTarget, err := intParam(lmp, "num_target", 1)
	if err != nil {
		return nil, fmt.Errorf("learner_model_param: %w", err)
	}
	if numTarget > 1 {
		return nil, fmt.Errorf("learner_model_param: num_target %d: multi-target models are not supported", numTarget)
	}
	if numClass < 0 || numClass > 1<<16 {
		return nil, fmt.Errorf("learner_model_param: num_class %d out of range", numClass)
	}
	classes := int(max(numClass, 1))
	if (link == linkSoftmax) != (classes > 1) {
		return nil, fmt.Errorf("objective %q with num_class %d", objName, numClass)
	}

	features, err := stringList(learner["feature_names"], "feature_names")
	if err != nil {
		return nil, err
	}
	if numFeature < 0 {
		numFeature = int64(len(features))
	}
	if numFeature > xgbMaxFeatures {
		return nil, fmt.Errorf("learner_model_param: num_feature %d out of range", numFeature)
	}
	if len(features) == 0 {
		// xgboost's default names when the training data had none.
		features = make([]string, numFeature)
		for i := range features {
			features[i] = fmt.Sprintf("f%d", i)
		}
	}
	if numFeature == 0 {
		return nil, errors.New("learner_model_param: num_feature 0")
	}
	if int64(len(features)) != numFeature {
		return nil, fmt.Errorf("%d feature_names for num_feature %d", len(features), numFeature)
	}
	seen := make(map[string]bool, len(features))
	for _, f := range features {
		if seen[f] {
			return nil, fmt.Errorf("feature_names: %q appears twice", f)
		}
		seen[f] = true
	}

	base, err := xgbBaseScore(lmp["base_score"], classes, link)
	if err != nil {
		return nil, fmt.Errorf("learner_model_param: base_score: %w", err)
	}

	gb, err := member(learner, "gradient_booster")
	if err != nil {
		return nil, fmt.Errorf("learner: %w", err)
	}
	boosterName, _ := gb["name"].(string)
	var dartWeights []float32
	switch boosterName {
	case "gbtree":
	case "dart":
		if dartWeights, err = float32s(gb["weight_drop"], "weight_drop"); err != nil {
			return nil, err
		}
		if gb, err = member(gb, "gbtree"); err != nil {
			return nil, fmt.Errorf("dart: %w", err)
		}
	case "gblinear":
		return nil, errors.New("booster gblinear is not supported (export a tree booster or use the logistic format)")
	default:
		return nil, fmt.Errorf("booster %q is not supported", boosterName)
	}
	gm, err := member(gb, "model")
	if err != nil {
		return nil, fmt.Errorf("gradient_booster: %w", err)
	}
	trees, ok := gm["trees"].([]any)
	if !ok && gm["trees"] != nil {
		return nil, fmt.Errorf("trees: want an array, got %s", typeName(gm["trees"]))
	}
	treeInfo, err := int64s(gm["tree_info"], "tree_info")
	if err != nil {
		return nil, err
	}
	if len(treeInfo) != len(trees) {
		return nil, fmt.Errorf("tree_info has %d entries for %d trees", len(treeInfo), len(trees))
	}
	if dartWeights != nil && len(dartWeights) != len(trees) {
		return nil, fmt.Errorf("dart: weight_drop has %d entries for %d trees", len(dartWeights), len(trees))
	}

	// How many trees the prediction uses: all, or up to best_iteration.
	used := len(trees)
	if attrs, ok := learner["attributes"].(map[string]any); ok {
		if bv, ok := attrs["best_iteration"]; ok {
			best, ok := asInt(bv)
			if !ok || best < 0 {
				return nil, fmt.Errorf("attributes: best_iteration %v is not a non-negative integer", bv)
			}
			if used, err = xgbTreesUpTo(gm, best+1, classes, len(trees)); err != nil {
				return nil, err
			}
		}
	}

	m := &XGBoost{
		features: features,
		base:     base,
		obj:      xgbObjective{link: link},
		classes:  classes,
		roots:    make([]int32, 0, used),
	}
	if classes > 1 {
		m.class = 1
		m.groups = make([]int32, 0, used)
	}
	if dartWeights != nil {
		m.weights = dartWeights[:used]
	}
	for i := 0; i < used; i++ {
		t, err := asObject(trees[i], fmt.Sprintf("tree %d", i))
		if err != nil {
			return nil, err
		}
		if treeInfo[i] < 0 || treeInfo[i] >= int64(classes) {
			return nil, fmt.Errorf("tree %d: tree_info class %d out of range [0,%d)", i, treeInfo[i], classes)
		}
		root := int32(len(m.nodes))
		treeDepth, err := m.addTree(i, t)
		if err != nil {
			return nil, err
		}
		m.roots = append(m.roots, root)
		m.depth = append(m.depth, treeDepth)
		if m.groups != nil {
			m.groups = append(m.groups, int32(treeInfo[i]))
		}
	}
	for t := 0; t < len(m.depth); t += 4 {
		d := uint8(0)
		for _, x := range m.depth[t:min(t+4, len(m.depth))] {
			d = max(d, x)
		}
		m.blockDep = append(m.blockDep, d)
	}
	m.info = Info{
		Format:     "xgboost",
		Objective:  objName,
		Trees:      used,
		Classes:    classes,
		ScoreClass: m.class,
	}
	if classes == 1 {
		m.info.ScoreClass = 0
	}
	return m, nil
}

// xgbTreesUpTo returns the number of trees in the first iters boosting iterations.
func xgbTreesUpTo(gm map[string]any, iters int64, classes, ntrees int) (int, error) {
	if v, ok := gm["iteration_indptr"]; ok {
		indptr, err := int64s(v, "iteration_indptr")
		if err != nil {
			return 0, err
		}
		if iters >= int64(len(indptr)) {
			return 0, fmt.Errorf("best_iteration %d but the model has %d iterations", iters-1, len(indptr)-1)
		}
		n := indptr[iters]
		if n < 0 || n > int64(ntrees) {
			return 0, fmt.Errorf("iteration_indptr[%d] = %d out of range [0,%d]", iters, n, ntrees)
		}
		return int(n), nil
	}
	gp, _ := gm["gbtree_model_param"].(map[string]any)
	npt, err := intParam(gp, "num_parallel_tree", 1)
	if err != nil {
		return 0, fmt.Errorf("gbtree_model_param: %w", err)
	}
	if npt < 1 || npt > 1<<20 {
		return 0, fmt.Errorf("gbtree_model_param: num_parallel_tree %d out of range", npt)
	}
	per := npt * int64(classes)
	if iters > int64(ntrees)/per {
		return 0, fmt.Errorf("best_iteration %d but the model has %d iterations", iters-1, int64(ntrees)/per)
	}
	return int(iters * per), nil
}

// xgbBaseScore parses base_score ("5E-1", "[5E-1]", or "[a,b,c]" per class) into
// the base margin per class.
func xgbBaseScore(v any, classes int, link xgbLink) ([]float32, error) {
	var parts []string
	switch x := v.(type) {
	case nil:
		parts = []string{"0.5"}
	case string:
		s := strings.TrimSpace(x)
		if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
			s = s[1 : len(s)-1]
		}
		parts = strings.Split(s, ",")
	default:
		f, ok := asFloat(x, 32)
		if !ok {
			return nil, fmt.Errorf("want a number, got %s", typeName(v))
		}
		parts = []string{fmt.Sprint(f)}
	}
	vals := make([]float32, 0, len(parts))
	for _, p := range parts {
		f, ok := asFloat(p, 32)
		if !ok {
			return nil, fmt.Errorf("%q is not a number", v)
		}
		vals = append(vals, float32(f))
	}
	switch {
	case len(vals) == 1 && classes > 1:
		for len(vals) < classes {
			vals = append(vals, vals[0])
		}
	case len(vals) != classes:
		return nil, fmt.Errorf("%d values for %d classes", len(vals), classes)
	}
	for i, b := range vals {
		switch link {
		case linkLogit, linkLogitRaw:
			if !(b > 0 && b < 1) {
				return nil, fmt.Errorf("%v is not a probability in (0,1)", b)
			}
			vals[i] = float32(-math.Log(1/float64(b) - 1))
		case linkLog:
			if !(b > 0) {
				return nil, fmt.Errorf("%v must be > 0 for a log link", b)
			}
			vals[i] = float32(math.Log(float64(b)))
		}
		if math.IsNaN(float64(vals[i])) || math.IsInf(float64(vals[i]), 0) {
			return nil, fmt.Errorf("%v gives a non-finite base margin", b)
		}
	}
	return vals, nil
}

// addTree validates tree i and appends its nodes in breadth-first order, each
// internal node's children adjacent.
func (m *XGBoost) addTree(i int, t map[string]any) (depth uint8, err error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("tree %d: "+format, append([]any{i}, args...)...)
	}
	if tp, ok := t["tree_param"].(map[string]any); ok {
		if lv, err := intParam(tp, "size_leaf_vector", 1); err != nil {
			return 0, fail("tree_param: %w", err)
		} else if lv > 1 {
			return 0, fail("vector leaves (size_leaf_vector %d, multi_strategy=multi_output_tree) are not supported", lv)
		}
	}
	var left []int64
	left, err = int64s(t["left_children"], "left_children")
	if err != nil {
		return 0, fail("%w", err)
	}
	right, err := int64s(t["right_children"], "right_children")
	if err != nil {
		return 0, fail("%w", err)
	}
	feat, err := int64s(t["split_indices"], "split_indices")
	if err != nil {
		return 0, fail("%w", err)
	}
	cond, err := float32s(t["split_conditions"], "split_conditions")
	if err != nil {
		return 0, fail("%w", err)
	}
	defLeft, err := int64s(t["default_left"], "default_left")
	if err != nil {
		return 0, fail("%w", err)
	}
	n := len(left)
	if n == 0 {
		return 0, fail("no nodes")
	}
	for _, a := range []struct {
		name string
		n    int
	}{{"right_children", len(right)}, {"split_indices", len(feat)}, {"split_conditions", len(cond)}, {"default_left", len(defLeft)}} {
		if a.n != n {
			return 0, fail("%s has %d entries, left_children has %d", a.name, a.n, n)
		}
	}
	var splitType []int64
	if v, ok := t["split_type"]; ok {
		if splitType, err = int64s(v, "split_type"); err != nil {
			return 0, fail("%w", err)
		}
		if len(splitType) != 0 && len(splitType) != n {
			return 0, fail("split_type has %d entries, left_children has %d", len(splitType), n)
		}
	}
	// Categorical splits: node categories_nodes[k] holds
	// categories[categories_segments[k] : +categories_sizes[k]].
	var catOf map[int64][]int64
	if len(splitType) != 0 {
		cats, err := int64s(t["categories"], "categories")
		if err != nil {
			return 0, fail("%w", err)
		}
		cnodes, err := int64s(t["categories_nodes"], "categories_nodes")
		if err != nil {
			return 0, fail("%w", err)
		}
		csegs, err := int64s(t["categories_segments"], "categories_segments")
		if err != nil {
			return 0, fail("%w", err)
		}
		csizes, err := int64s(t["categories_sizes"], "categories_sizes")
		if err != nil {
			return 0, fail("%w", err)
		}
		if len(csegs) != len(cnodes) || len(csizes) != len(cnodes) {
			return 0, fail("categories_nodes, categories_segments and categories_sizes differ in length (%d, %d, %d)", len(cnodes), len(csegs), len(csizes))
		}
		catOf = make(map[int64][]int64, len(cnodes))
		for k, nid := range cnodes {
			if nid < 0 || nid >= int64(n) {
				return 0, fail("categories_nodes[%d]: node %d out of range", k, nid)
			}
			seg, size := csegs[k], csizes[k]
			if seg < 0 || size < 0 || seg > int64(len(cats)) || size > int64(len(cats))-seg {
				return 0, fail("node %d: categories segment [%d,+%d) out of range", nid, seg, size)
			}
			catOf[nid] = cats[seg : seg+size]
		}
	}

	isLeaf := func(o int64) bool { return left[o] == -1 }
	base := int32(len(m.nodes))
	if int64(len(m.nodes))+int64(n) > math.MaxInt32 {
		return 0, fail("too many nodes")
	}
	order := make([]int64, 1, n)
	newIdx := make([]int32, n)
	for k := range newIdx {
		newIdx[k] = -1
	}
	newIdx[0] = 0
	level := make([]uint8, n) // depth of each node, by new index
	for p := 0; p < len(order); p++ {
		o := order[p]
		depth = max(depth, level[p])
		if isLeaf(o) {
			if right[o] != -1 {
				return 0, fail("node %d: left child -1 but right child %d", o, right[o])
			}
			continue
		}
		for _, c := range [2]int64{left[o], right[o]} {
			if c < 0 || c >= int64(n) {
				side := "left"
				if c == right[o] {
					side = "right"
				}
				return 0, fail("node %d: %s child %d out of range", o, side, c)
			}
			if newIdx[c] >= 0 {
				return 0, fail("node %d: child %d is reached twice", o, c)
			}
			if level[p] >= 250 {
				return 0, fail("node %d: deeper than 250 levels", c)
			}
			newIdx[c] = int32(len(order))
			level[len(order)] = level[p] + 1
			order = append(order, c)
		}
	}
	for p, o := range order {
		leafVal := float32(0)
		// A leaf leads to itself: NaN condition → always right → left+1 = itself.
		nd := xgbNode{cond: float32(math.NaN()), left: base + int32(p) - 1}
		if isLeaf(o) {
			leafVal = cond[o]
		} else {
			if feat[o] < 0 || feat[o] >= int64(len(m.features)) {
				return 0, fail("node %d: split feature %d out of range [0,%d)", o, feat[o], len(m.features))
			}
			nd.feat = int32(feat[o])
			nd.cond = cond[o]
			nd.left = base + newIdx[left[o]]
			if defLeft[o] != 0 {
				nd.flags |= xgbDefaultLeft
			}
			if len(splitType) != 0 && splitType[o] == 1 {
				set, ok := catOf[o]
				if !ok {
					return 0, fail("node %d: categorical split without categories", o)
				}
				idx, err := m.addCatSet(set)
				if err != nil {
					return 0, fail("node %d: %w", o, err)
				}
				nd.flags |= xgbCategorical | idx<<2
			} else if len(splitType) != 0 && splitType[o] != 0 {
				return 0, fail("node %d: unknown split_type %d", o, splitType[o])
			} else if math.IsNaN(float64(nd.cond)) {
				return 0, fail("node %d: split condition is NaN", o)
			}
		}
		m.nodes = append(m.nodes, nd)
		m.leafVal = append(m.leafVal, leafVal)
	}
	return depth, nil
}

// xgbMaxFeatures bounds num_feature so that a corrupt file cannot make the loader
// (or every Score call's input row) enormous.
const xgbMaxFeatures = 1 << 20

// xgbMaxCat bounds a categorical split's largest category (xgboost itself stores
// categories as float32, exact up to 2^24).
const xgbMaxCat = 1 << 24

func (m *XGBoost) addCatSet(set []int64) (uint32, error) {
	var hi int64 = -1
	for _, c := range set {
		if c < 0 || c >= xgbMaxCat {
			return 0, fmt.Errorf("category %d out of range [0,%d)", c, xgbMaxCat)
		}
		hi = max(hi, c)
	}
	if len(m.catSets) >= 1<<30 {
		return 0, errors.New("too many categorical splits")
	}
	words := uint32(hi/64 + 1)
	off := uint32(len(m.cats))
	m.cats = append(m.cats, make([]uint64, words)...)
	for _, c := range set {
		m.cats[off+uint32(c/64)] |= 1 << (uint(c) % 64)
	}
	m.catSets = append(m.catSets, xgbCatSet{off: off, words: words})
	return uint32(len(m.catSets) - 1), nil
}

// Features implements Model.
func (m *XGBoost) Features() []string { return m.features }

// Info implements Model.
func (m *XGBoost) Info() Info { return m.info }

// step moves from node i one level down for x. Leaves lead to themselves.
func (m *XGBoost) step(i int32, x []float64) int32 {
	if n := &m.nodes[i]; n.flags&xgbCategorical != 0 {
		return m.catStep(n, x[n.feat])
	}
	return numStep(m.nodes, i, x)
}

// numStep is step for a numerical split; small enough to inline.
func numStep(nodes []xgbNode, i int32, x []float64) int32 {
	n := &nodes[i]
	v := x[n.feat]
	var r int32
	if !(float32(v) < n.cond) { // NaN goes right here...
		r = 1
	}
	if v != v { // ...unless missing goes left
		r ^= int32(n.flags & xgbDefaultLeft)
	}
	return n.left + r
}

// catStep is step for a categorical split: listed categories go right.
func (m *XGBoost) catStep(n *xgbNode, v float64) int32 {
	if v != v {
		return n.left + 1 - int32(n.flags&xgbDefaultLeft)
	}
	if m.inCatSet(n.flags>>2, float32(v)) {
		return n.left + 1
	}
	return n.left
}

// leaf walks tree t and returns its leaf value for x.
func (m *XGBoost) leaf(t int, x []float64) float32 {
	i := m.roots[t]
	for d := m.depth[t]; d > 0; d-- {
		i = m.step(i, x)
	}
	return m.leafVal[i]
}

func (m *XGBoost) inCatSet(set uint32, v float32) bool {
	if !(v >= 0) || v >= xgbMaxCat {
		return false
	}
	c := uint32(v)
	s := m.catSets[set]
	w := c / 64
	if w >= s.words {
		return false
	}
	return m.cats[s.off+w]&(1<<(c%64)) != 0
}

// margins adds each tree's leaf for x into sums, one per class, in tree order (the
// float32 sum must add in the library's order to match it).
func (m *XGBoost) margins(sums []float32, x []float64) {
	copy(sums, m.base)
	roots, leafVal, nodes := m.roots, m.leafVal, m.nodes
	t := 0
	if len(m.catSets) == 0 && m.groups == nil && m.weights == nil {
		for ; t+8 <= len(roots); t += 8 {
			i0, i1, i2, i3 := roots[t], roots[t+1], roots[t+2], roots[t+3]
			i4, i5, i6, i7 := roots[t+4], roots[t+5], roots[t+6], roots[t+7]
			for d := max(m.blockDep[t/4], m.blockDep[t/4+1]); d > 0; d-- {
				i0 = numStep(nodes, i0, x)
				i1 = numStep(nodes, i1, x)
				i2 = numStep(nodes, i2, x)
				i3 = numStep(nodes, i3, x)
				i4 = numStep(nodes, i4, x)
				i5 = numStep(nodes, i5, x)
				i6 = numStep(nodes, i6, x)
				i7 = numStep(nodes, i7, x)
			}
			s := sums[0]
			s += leafVal[i0]
			s += leafVal[i1]
			s += leafVal[i2]
			s += leafVal[i3]
			s += leafVal[i4]
			s += leafVal[i5]
			s += leafVal[i6]
			s += leafVal[i7]
			sums[0] = s
		}
	}
	if len(m.catSets) == 0 {
		for ; t+4 <= len(roots); t += 4 {
			i0, i1, i2, i3 := roots[t], roots[t+1], roots[t+2], roots[t+3]
			for d := m.blockDep[t/4]; d > 0; d-- {
				i0 = numStep(nodes, i0, x)
				i1 = numStep(nodes, i1, x)
				i2 = numStep(nodes, i2, x)
				i3 = numStep(nodes, i3, x)
			}
			if m.groups == nil && m.weights == nil {
				sums[0] += leafVal[i0]
				sums[0] += leafVal[i1]
				sums[0] += leafVal[i2]
				sums[0] += leafVal[i3]
				continue
			}
			m.add(sums, t, leafVal[i0])
			m.add(sums, t+1, leafVal[i1])
			m.add(sums, t+2, leafVal[i2])
			m.add(sums, t+3, leafVal[i3])
		}
	}
	for ; t+4 <= len(roots); t += 4 {
		i0, i1, i2, i3 := roots[t], roots[t+1], roots[t+2], roots[t+3]
		for d := m.blockDep[t/4]; d > 0; d-- {
			i0 = m.step(i0, x)
			i1 = m.step(i1, x)
			i2 = m.step(i2, x)
			i3 = m.step(i3, x)
		}
		if m.groups == nil && m.weights == nil {
			sums[0] += leafVal[i0]
			sums[0] += leafVal[i1]
			sums[0] += leafVal[i2]
			sums[0] += leafVal[i3]
			continue
		}
		m.add(sums, t, leafVal[i0])
		m.add(sums, t+1, leafVal[i1])
		m.add(sums, t+2, leafVal[i2])
		m.add(sums, t+3, leafVal[i3])
	}
	for ; t < len(roots); t++ {
		m.add(sums, t, m.leaf(t, x))
	}
}

func (m *XGBoost) add(sums []float32, t int, v float32) {
	if m.weights != nil {
		v *= m.weights[t]
	}
	g := int32(0)
	if m.groups != nil {
		g = m.groups[t]
	}
	sums[g] += v
}

// Score implements Model: the probability for binary and multiclass objectives
// (of class Info().ScoreClass), the transformed prediction otherwise. It returns
// NaN if x is shorter than Features().
func (m *XGBoost) Score(x []float64) float64 {
	if len(x) < len(m.features) {
		return math.NaN()
	}
	if m.classes == 1 {
		var s [1]float32
		m.margins(s[:], x)
		return m.transform(s[0])
	}
	var buf [32]float32
	var sums []float32
	if m.classes <= len(buf) {
		sums = buf[:m.classes]
	} else {
		sums = make([]float32, m.classes)
	}
	m.margins(sums, x)
	return softmaxOne(sums, m.class)
}

// ScoreAll implements Multi: one probability per class (a single transformed score
// for a model with one output).
func (m *XGBoost) ScoreAll(dst, x []float64) []float64 {
	if len(x) < len(m.features) {
		for k := 0; k < m.classes; k++ {
			dst = append(dst, math.NaN())
		}
		return dst
	}
	if m.classes == 1 {
		return append(dst, m.Score(x))
	}
	var buf [32]float32
	var sums []float32
	if m.classes <= len(buf) {
		sums = buf[:m.classes]
	} else {
		sums = make([]float32, m.classes)
	}
	m.margins(sums, x)
	hi := sums[0]
	for _, s := range sums {
		hi = max(hi, s)
	}
	var tot float64
	start := len(dst)
	for _, s := range sums {
		e := math.Exp(float64(s - hi))
		tot += e
		dst = append(dst, e)
	}
	for k := start; k < len(dst); k++ {
		dst[k] /= tot
	}
	return dst
}

// Margin returns the raw sum before the objective's transform (the library's
// output_margin=True), for single-output models; NaN otherwise.
func (m *XGBoost) Margin(x []float64) float64 {
	if len(x) < len(m.features) || m.classes != 1 {
		return math.NaN()
	}
	var s [1]float32
	m.margins(s[:], x)
	return float64(s[0])
}

func softmaxOne(sums []float32, class int) float64 {
	hi := sums[0]
	for _, s := range sums {
		hi = max(hi, s)
	}
	var tot float64
	for _, s := range sums {
		tot += math.Exp(float64(s - hi))
	}
	return math.Exp(float64(sums[class]-hi)) / tot
}

func (m *XGBoost) transform(margin float32) float64 {
	switch m.obj.link {
	case linkLogit:
		return float64(float32(1 / (1 + math.Exp(-float64(margin)))))
	case linkLog:
		return float64(float32(math.Exp(float64(margin))))
	case linkHinge:
		if margin > 0 {
			return 1
		}
		return 0
	}
	return float64(margin)
}

// withClass returns a copy of a multiclass model whose Score is the probability of
// class k.
func (m *XGBoost) withClass(k int) (*XGBoost, error) {
	if m.classes == 1 {
		return nil, fmt.Errorf("xgboost: score class %d: the model has one output", k)
	}
	if k < 0 || k >= m.classes {
		return nil, fmt.Errorf("xgboost: score class %d out of range [0,%d)", k, m.classes)
	}
	c := *m
	c.class = k
	c.info.ScoreClass = k
	return &c, nil
}
