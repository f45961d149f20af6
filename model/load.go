package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Formats accepted by Load and Parse. "" detects the format from the content (and,
// for Load, the file extension).
const (
	FormatLogistic   = "logistic"
	FormatXGBoost    = "xgboost"     // JSON or UBJSON, detected
	FormatXGBoostUBJ = "xgboost-ubj" // UBJSON only
	FormatLightGBM   = "lightgbm"
)

// Formats lists the formats this build can load, in the order --help lists
// them; "onnx" only in a build with -tags onnx.
func Formats() []string {
	fs := []string{FormatLogistic, FormatXGBoost, FormatLightGBM}
	if ONNXCompiled {
		fs = append(fs, FormatONNX)
	}
	return fs
}

// Load reads and parses the model file at path. format is one of the Format
// constants or "" to detect it: a .ubj file is XGBoost UBJSON, a JSON object with a
// "learner" member is XGBoost, one with "format": "logistic" is logistic, and text
// starting with "tree\nversion=" is a LightGBM model.
func Load(path string, format string) (Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if format == "" && strings.EqualFold(filepath.Ext(path), ".ubj") {
		format = FormatXGBoostUBJ
	}
	if format == "" && strings.EqualFold(filepath.Ext(path), ".onnx") {
		format = FormatONNX
	}
	m, err := Parse(data, format)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	return m, nil
}

// Parse parses a model from its file bytes; see Load for format. Info().Hash is
// HashBytes(data).
func Parse(data []byte, format string) (Model, error) {
	if format == "" {
		var err error
		if format, err = Detect(data); err != nil {
			return nil, err
		}
	}
	switch format {
	case FormatLogistic:
		m, err := ParseLogistic(data)
		if err != nil {
			return nil, err
		}
		return m, nil
	case FormatXGBoost, "xgboost-json":
		m, err := ParseXGBoost(data)
		if err != nil {
			return nil, err
		}
		return m, nil
	case FormatXGBoostUBJ:
		if isJSONObject(data) {
			return nil, errors.New("xgboost: format xgboost-ubj but the file is JSON")
		}
		m, err := ParseXGBoost(data)
		if err != nil {
			return nil, err
		}
		return m, nil
	case FormatLightGBM:
		return ParseLightGBM(data)
	case FormatONNX:
		return ParseONNX(data)
	}
	return nil, fmt.Errorf("unknown model format %q (want logistic, xgboost, xgboost-ubj or lightgbm)", format)
}

// Detect guesses a model file's format from its content.
func Detect(data []byte) (string, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	switch {
	case bytes.HasPrefix(trimmed, []byte("tree\nversion=")), bytes.HasPrefix(trimmed, []byte("tree\r\nversion=")):
		return FormatLightGBM, nil
	case isJSONObject(data):
		var probe struct {
			Format  *string         `json:"format"`
			Learner json.RawMessage `json:"learner"`
		}
		if err := json.Unmarshal(data, &probe); err != nil {
			return "", fmt.Errorf("model: detect format: invalid JSON: %w", err)
		}
		switch {
		case probe.Learner != nil:
			return FormatXGBoost, nil
		case probe.Format != nil && *probe.Format == FormatLogistic:
			return FormatLogistic, nil
		case probe.Format != nil:
			return "", fmt.Errorf("model: detect format: unknown \"format\": %q", *probe.Format)
		}
		return "", errors.New(`model: detect format: JSON with neither "learner" (xgboost) nor "format": "logistic"`)
	case len(trimmed) > 1 && trimmed[0] == '{':
		return FormatXGBoostUBJ, nil
	}
	return "", errors.New("model: detect format: not JSON, UBJSON or LightGBM text; pass the format explicitly")
}

// CheckFeatures returns an error naming every feature the model needs that
// provided lacks, or nil. source names provided in the message: "the feature
// spec", "the CSV header".
func CheckFeatures(m Model, provided []string, source string) error {
	have := make(map[string]bool, len(provided))
	for _, p := range provided {
		have[p] = true
	}
	var missing []string
	for _, f := range m.Features() {
		if !have[f] {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("model needs features not in %s: %s", source, strings.Join(missing, ", "))
	}
	return nil
}

// WithScoreClass returns m with Score reporting the probability of class k, for a
// multiclass model (the default class is 1, like a binary model's positive class).
func WithScoreClass(m Model, k int) (Model, error) {
	switch x := m.(type) {
	case *XGBoost:
		return x.withClass(k)
	case *lgbMulti:
		return x.withClass(k)
	}
	if m.Info().Classes > 1 {
		return nil, fmt.Errorf("model: score class: not supported for format %q", m.Info().Format)
	}
	return nil, fmt.Errorf("model: score class %d: the model has one output", k)
}
