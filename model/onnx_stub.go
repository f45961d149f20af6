//go:build !onnx

package model

import "errors"

// ErrONNXNotCompiled is returned by ParseONNX in a build without the onnx tag.
var ErrONNXNotCompiled = errors.New("onnx: support is not compiled in; use the -onnx image, or rebuild with " +
	"scripts/build.sh --onnx (cgo, -tags onnx) and set " + EnvONNXRuntimeLib + " (see scripts/onnxruntime.sh)")

// ParseONNX returns ErrONNXNotCompiled: this binary was built without -tags onnx.
func ParseONNX(data []byte) (Model, error) {
	return nil, ErrONNXNotCompiled
}

// ONNXCompiled reports whether this build can load ONNX models (-tags onnx).
const ONNXCompiled = false
