//go:build onnx

package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// ONNXRuntimeVersion is the onnxruntime C library version that the vendored
// onnxruntime_go (v1.27.0, C API headers of 1.24.1, ORT_API_VERSION 24) expects.
// scripts/onnxruntime.sh fetches exactly this version.
const ONNXRuntimeVersion = "1.24.1"

// ErrONNXNotCompiled is never returned by this build; it exists so that callers
// can compare against it in both builds.
var ErrONNXNotCompiled = errors.New("onnx: support is not compiled in")

// ONNXCompiled reports whether this build can load ONNX models (-tags onnx).
const ONNXCompiled = true

// The onnxruntime environment is process-wide inside onnxruntime_go itself (one
// OrtEnv, one loaded library), so it is initialised once here and never destroyed:
// this is the one piece of package-level state in package model, forced by the
// binding. The library path cannot change after the first ParseONNX.
var (
	ortOnce sync.Once
	ortErr  error
)

// ONNXRuntimeLibPath is the library ParseONNX loads: $SCORESTREAM_ONNXRUNTIME_LIB,
// else scripts/onnxruntime.sh's cache path
// ${SCORESTREAM_CACHE:-$HOME/.cache/scorestream}/onnxruntime-<ver>/libonnxruntime.so.<ver>.
func ONNXRuntimeLibPath() string {
	if p := os.Getenv(EnvONNXRuntimeLib); p != "" {
		return p
	}
	cache := os.Getenv("SCORESTREAM_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "scorestream")
	}
	return filepath.Join(cache, "onnxruntime-"+ONNXRuntimeVersion, "libonnxruntime.so."+ONNXRuntimeVersion)
}

func initONNXRuntime() error {
	ortOnce.Do(func() {
		if ort.IsInitialized() { // someone else in the process did it
			return
		}
		path := ONNXRuntimeLibPath()
		if _, err := os.Stat(path); err != nil {
			ortErr = fmt.Errorf("onnx: runtime library: %w (set %s to libonnxruntime.so.%s; scripts/onnxruntime.sh fetches it)",
				err, EnvONNXRuntimeLib, ONNXRuntimeVersion)
			return
		}
		ort.SetSharedLibraryPath(path)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			ortErr = fmt.Errorf("onnx: load %s (want onnxruntime %s): %w", path, ONNXRuntimeVersion, err)
		}
	})
	return ortErr
}

// ONNX is a model run by onnxruntime through cgo. It is safe for concurrent use: the
// onnxruntime session is shared (its Run is thread-safe) and each call borrows its
// own input/output tensors from a small free list.
//
// Accepted graphs: exactly one input, a float32 tensor of shape [N, F]; and a float
// tensor output of shape [N, K], chosen as the output named "probabilities" (what
// skl2onnx writes for a classifier converted with options {"zipmap": False}) or
// else the only float tensor output (a regressor's "variable"). A ZipMap output (a
// sequence of maps) is rejected: re-export with zipmap disabled. Score returns
// column 1 for K = 2 (the positive class), column 0 for K = 1 and column ScoreClass
// (1) for K > 2, where ScoreAll gives every class.
//
// Model files must come from a trusted exporter: onnxruntime 1.24.1 aborts the
// process (std::terminate) on some malformed graphs that pass onnx.checker, e.g. a
// TreeEnsembleClassifier whose nodes_featureids is one entry short (found by fuzzing
// ParseONNX; the Python onnxruntime aborts on the same file). Check a new model in a
// separate process (`scorestream model check`) before loading it into a live one.
//
// Feature names come from the model's metadata_props entry "feature_names", a JSON
// array of F strings written at export (model/testdata/onnx/gen.py shows how); a
// model without it gets f0..f{F-1}. Feature values are rounded to float32, as the
// graph's input type demands; NaN passes through (an Imputer in the graph, or the
// tree ensemble's own missing-value rule, decides what it means).
type ONNX struct {
	session *ort.DynamicAdvancedSession
	nfeat   int
	width   int // K, columns of the chosen output
	col     int // column Score returns
	feats   []string
	info    Info

	single chan *onnxScratch // free list of one-row scratches
	batch  chan *onnxScratch // free list of batch scratches (tensors resized per call)

	closeOnce sync.Once
}

var (
	_ Model   = (*ONNX)(nil)
	_ Multi   = (*ONNX)(nil)
	_ Batcher = (*ONNX)(nil)
)

// onnxScratch owns an input and an output tensor of n rows, backed by Go slices
// that may be longer (capacity is kept across resizes).
type onnxScratch struct {
	n       int
	inBuf   []float32
	outBuf  []float32
	in, out *ort.Tensor[float32]
	ins     []ort.Value
	outs    []ort.Value
}

// ParseONNX loads an ONNX model from its file bytes. The first call loads the
// onnxruntime library (see ONNXRuntimeLibPath). Call Close when the model is no
// longer used to free the session; Close must not race with scoring.
func ParseONNX(data []byte) (Model, error) {
	m, err := parseONNX(data)
	if err != nil {
		return nil, err
	}
	return m, nil
}

func parseONNX(data []byte) (*ONNX, error) {
	if err := initONNXRuntime(); err != nil {
		return nil, err
	}
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(data)
	if err != nil {
		return nil, fmt.Errorf("onnx: read graph: %w", err)
	}
	if len(ins) != 1 {
		return nil, fmt.Errorf("onnx: the graph has %d inputs, want one float tensor [N, features]", len(ins))
	}
	in := ins[0]
	if in.OrtValueType != ort.ONNXTypeTensor || in.DataType != ort.TensorElementDataTypeFloat || len(in.Dimensions) != 2 {
		return nil, fmt.Errorf("onnx: input %q is %s, want a float tensor [N, features]", in.Name, in.String())
	}
	names, err := onnxFeatureNames(data)
	if err != nil {
		return nil, err
	}
	nfeat := int(in.Dimensions[1])
	switch {
	case nfeat <= 0 && names == nil:
		return nil, fmt.Errorf("onnx: input %q has no fixed feature dimension and the model has no feature_names metadata", in.Name)
	case nfeat <= 0:
		nfeat = len(names)
	case names != nil && len(names) != nfeat:
		return nil, fmt.Errorf("onnx: feature_names metadata has %d names, input %q has %d features", len(names), in.Name, nfeat)
	case names == nil:
		names = make([]string, nfeat)
		for i := range names {
			names[i] = fmt.Sprintf("f%d", i)
		}
	}
	out, isProba, err := onnxPickOutput(outs)
	if err != nil {
		return nil, err
	}

	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnx: session options: %w", err)
	}
	defer opts.Destroy()
	// One thread per Run: the pipeline scores from several goroutines already, and
	// onnxruntime's spinning intra-op pool would compete with them for the cores.
	if err := errors.Join(opts.SetIntraOpNumThreads(1), opts.SetInterOpNumThreads(1)); err != nil {
		return nil, fmt.Errorf("onnx: session options: %w", err)
	}
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(data, []string{in.Name}, []string{out.Name}, opts)
	if err != nil {
		return nil, fmt.Errorf("onnx: session: %w", err)
	}
	m := &ONNX{
		session: sess,
		nfeat:   nfeat,
		feats:   names,
		single:  make(chan *onnxScratch, runtime.GOMAXPROCS(0)),
		batch:   make(chan *onnxScratch, runtime.GOMAXPROCS(0)),
	}
	// A probe run on a zero row checks that the graph runs and learns K when the
	// output's second dimension is symbolic.
	width, err := m.probe()
	if err != nil {
		m.Close()
		return nil, err
	}
	m.width = width
	objective := "regression"
	switch {
	case isProba && width == 2:
		objective, m.col = "binary", 1
	case isProba && width > 2:
		objective, m.col = "multiclass", 1
	case width != 1:
		m.Close()
		return nil, fmt.Errorf("onnx: output %q has %d columns; want 1 (regression) or an output named \"probabilities\"", out.Name, width)
	}
	m.info = Info{Format: FormatONNX, Objective: objective, Classes: 1, Hash: HashBytes(data)}
	if objective == "multiclass" {
		m.info.Classes, m.info.ScoreClass = width, m.col
	}
	return m, nil
}

// onnxFeatureNames reads the "feature_names" metadata entry; nil if there is none.
func onnxFeatureNames(data []byte) ([]string, error) {
	md, err := ort.GetModelMetadataWithONNXData(data)
	if err != nil {
		return nil, fmt.Errorf("onnx: metadata: %w", err)
	}
	defer md.Destroy()
	raw, ok, err := md.LookupCustomMetadataMap("feature_names")
	if err != nil {
		return nil, fmt.Errorf("onnx: metadata: %w", err)
	}
	if !ok {
		return nil, nil
	}
	var names []string
	if err := json.Unmarshal([]byte(raw), &names); err != nil {
		return nil, fmt.Errorf("onnx: metadata feature_names: want a JSON array of strings: %w", err)
	}
	if len(names) == 0 {
		return nil, errors.New("onnx: metadata feature_names: empty")
	}
	return names, nil
}

// onnxPickOutput chooses the output Score reads; see the ONNX doc comment.
func onnxPickOutput(outs []ort.InputOutputInfo) (ort.InputOutputInfo, bool, error) {
	isFloat := func(o ort.InputOutputInfo) bool {
		return o.OrtValueType == ort.ONNXTypeTensor && o.DataType == ort.TensorElementDataTypeFloat && len(o.Dimensions) == 2
	}
	var floats []ort.InputOutputInfo
	var desc []string
	zipmap := false
	for _, o := range outs {
		desc = append(desc, o.String())
		if o.Name == "probabilities" && isFloat(o) {
			return o, true, nil
		}
		if isFloat(o) {
			floats = append(floats, o)
		}
		if o.OrtValueType == ort.ONNXTypeSequence || o.OrtValueType == ort.ONNXTypeMap {
			zipmap = true
		}
	}
	switch {
	case len(floats) == 1:
		return floats[0], false, nil
	case len(floats) == 0 && zipmap:
		return ort.InputOutputInfo{}, false, fmt.Errorf("onnx: the probabilities are a sequence of maps (skl2onnx ZipMap); "+
			"convert with options={id(model): {\"zipmap\": False}} (outputs: %s)", strings.Join(desc, "; "))
	}
	return ort.InputOutputInfo{}, false, fmt.Errorf("onnx: want an output named \"probabilities\" or exactly one float tensor [N, K] output (outputs: %s)",
		strings.Join(desc, "; "))
}

func (m *ONNX) probe() (int, error) {
	x, err := ort.NewEmptyTensor[float32](ort.NewShape(1, int64(m.nfeat)))
	if err != nil {
		return 0, fmt.Errorf("onnx: probe: %w", err)
	}
	defer x.Destroy()
	outs := []ort.Value{nil}
	if err := m.session.Run([]ort.Value{x}, outs); err != nil {
		return 0, fmt.Errorf("onnx: probe run: %w", err)
	}
	defer outs[0].Destroy()
	shape := outs[0].GetShape()
	if _, ok := outs[0].(*ort.Tensor[float32]); !ok || len(shape) != 2 || shape[0] != 1 || shape[1] < 1 {
		return 0, fmt.Errorf("onnx: probe run: output is %v of shape %v, want float [1, K]", outs[0].DataType(), shape)
	}
	return int(shape[1]), nil
}

// Features implements Model.
func (m *ONNX) Features() []string { return m.feats }

// Info implements Model.
func (m *ONNX) Info() Info { return m.info }

// Score implements Model. It returns NaN if x is shorter than Features() or if
// onnxruntime fails.
func (m *ONNX) Score(x []float64) float64 {
	if len(x) < m.nfeat {
		return math.NaN()
	}
	s, err := m.get(m.single, 1)
	if err != nil {
		return math.NaN()
	}
	defer m.put(m.single, s)
	in := s.in.GetData()
	for i := range in {
		in[i] = float32(x[i])
	}
	if err := m.session.Run(s.ins, s.outs); err != nil {
		return math.NaN()
	}
	return float64(s.out.GetData()[m.col])
}

// ScoreAll implements Multi: appends the K output columns for x (all NaN on error).
func (m *ONNX) ScoreAll(dst, x []float64) []float64 {
	if len(x) < m.nfeat {
		return appendNaN(dst, m.width)
	}
	s, err := m.get(m.single, 1)
	if err != nil {
		return appendNaN(dst, m.width)
	}
	defer m.put(m.single, s)
	in := s.in.GetData()
	for i := range in {
		in[i] = float32(x[i])
	}
	if err := m.session.Run(s.ins, s.outs); err != nil {
		return appendNaN(dst, m.width)
	}
	for _, v := range s.out.GetData() {
		dst = append(dst, float64(v))
	}
	return dst
}

// ScoreBatch implements Batcher: one session run for all rows. A row shorter than
// Features() scores NaN (and is fed as zeros so the others still run).
func (m *ONNX) ScoreBatch(dst []float64, rows [][]float64) []float64 {
	n := len(rows)
	if n == 0 {
		return dst
	}
	s, err := m.get(m.batch, n)
	if err != nil {
		return appendNaN(dst, n)
	}
	defer m.put(m.batch, s)
	in := s.in.GetData()
	for r, x := range rows {
		row := in[r*m.nfeat : (r+1)*m.nfeat]
		if len(x) < m.nfeat {
			clear(row)
			continue
		}
		for i := range row {
			row[i] = float32(x[i])
		}
	}
	if err := m.session.Run(s.ins, s.outs); err != nil {
		return appendNaN(dst, n)
	}
	out := s.out.GetData()
	for r, x := range rows {
		if len(x) < m.nfeat {
			dst = append(dst, math.NaN())
			continue
		}
		dst = append(dst, float64(out[r*m.width+m.col]))
	}
	return dst
}

func appendNaN(dst []float64, n int) []float64 {
	for range n {
		dst = append(dst, math.NaN())
	}
	return dst
}

// get borrows a scratch from free with tensors of exactly n rows.
func (m *ONNX) get(free chan *onnxScratch, n int) (*onnxScratch, error) {
	var s *onnxScratch
	select {
	case s = <-free:
	default:
		s = &onnxScratch{ins: make([]ort.Value, 1), outs: make([]ort.Value, 1)}
	}
	if s.n == n {
		return s, nil
	}
	s.destroy()
	if need := n * m.nfeat; cap(s.inBuf) < need {
		s.inBuf = make([]float32, need)
	}
	if need := n * m.width; cap(s.outBuf) < need {
		s.outBuf = make([]float32, need)
	}
	var err error
	if s.in, err = ort.NewTensor(ort.NewShape(int64(n), int64(m.nfeat)), s.inBuf[:n*m.nfeat]); err != nil {
		return nil, fmt.Errorf("onnx: input tensor: %w", err)
	}
	if s.out, err = ort.NewTensor(ort.NewShape(int64(n), int64(m.width)), s.outBuf[:n*m.width]); err != nil {
		s.destroy()
		return nil, fmt.Errorf("onnx: output tensor: %w", err)
	}
	s.n, s.ins[0], s.outs[0] = n, s.in, s.out
	return s, nil
}

// put returns s to free, or destroys it when the free list is full.
func (m *ONNX) put(free chan *onnxScratch, s *onnxScratch) {
	select {
	case free <- s:
	default:
		s.destroy()
	}
}

func (s *onnxScratch) destroy() {
	if s.in != nil {
		s.in.Destroy()
	}
	if s.out != nil {
		s.out.Destroy()
	}
	s.in, s.out, s.n = nil, nil, 0
}

// Close frees the onnxruntime session and the cached tensors. It is safe to call
// twice but must not run concurrently with scoring.
func (m *ONNX) Close() error {
	var err error
	m.closeOnce.Do(func() {
		for _, free := range []chan *onnxScratch{m.single, m.batch} {
		drain:
			for {
				select {
				case s := <-free:
					s.destroy()
				default:
					break drain
				}
			}
		}
		err = m.session.Destroy()
	})
	return err
}
