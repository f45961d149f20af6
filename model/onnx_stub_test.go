//go:build !onnx

package model

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestONNXNotCompiled(t *testing.T) {
	const want = "onnx: support is not compiled in; use the -onnx image, or rebuild with scripts/build.sh --onnx (cgo, -tags onnx) and set SCORESTREAM_ONNXRUNTIME_LIB (see scripts/onnxruntime.sh)"
	m, err := ParseONNX([]byte("anything"))
	if m != nil || err == nil || err.Error() != want {
		t.Fatalf("ParseONNX = %v, %v; want nil, %q", m, err, want)
	}
	// Load dispatches a .onnx file to ParseONNX.
	_, err = Load(filepath.Join("testdata", "onnx", "gbc_binary.onnx"), "")
	if !errors.Is(err, ErrONNXNotCompiled) {
		t.Fatalf("Load(.onnx) error %v, want ErrONNXNotCompiled", err)
	}
}
