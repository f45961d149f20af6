package model

// FormatONNX selects ParseONNX in Parse; Load picks it for a ".onnx" file. ONNX
// support needs the onnxruntime C library and is compiled in only with -tags onnx
// (see model/onnx.go and scripts/onnxruntime.sh); without the tag ParseONNX returns
// ErrONNXNotCompiled.
const FormatONNX = "onnx"

// EnvONNXRuntimeLib names the environment variable holding the path of the
// onnxruntime shared library (libonnxruntime.so.<version>) used by ParseONNX.
const EnvONNXRuntimeLib = "SCORESTREAM_ONNXRUNTIME_LIB"

// Batcher is implemented by models that score many rows in one call more cheaply
// than one Score call per row (ONNX: one onnxruntime session run instead of one per
// row, which amortises the cgo and session overhead). The pipeline scores a
// transaction's records with it when the model has it:
//
//	if b, ok := m.(model.Batcher); ok { scores = b.ScoreBatch(scores[:0], rows) }
type Batcher interface {
	// ScoreBatch appends one score per row to dst and returns it; scores[i] is what
	// Score(rows[i]) returns (NaN for a row shorter than Features(), or for every
	// row if the runtime fails).
	ScoreBatch(dst []float64, rows [][]float64) []float64
}
