// Package model loads trained models and scores feature vectors with them.
//
// Every format (logistic JSON, XGBoost JSON/UBJSON, LightGBM text, ONNX behind a
// build tag) implements Model. A feature vector is a []float64 indexed like
// Features(); math.NaN() marks a missing value, which each format treats the way its
// own library does (XGBoost default_left, LightGBM missing_type, logistic: error
// unless the feature spec supplies a default).
package model

import (
	"crypto/sha256"
	"encoding/hex"
)

// Model scores one row. Implementations are immutable after loading and safe for
// concurrent use by many goroutines.
type Model interface {
	// Features are the input names in the order Score expects them.
	Features() []string
	// Score returns the model's output for one row: a probability for binary
	// objectives, the raw value for regression and ranking objectives. For a
	// multiclass model it is the probability of the class named by Info().ScoreClass.
	Score(x []float64) float64
	// Info describes the loaded model for logs, metrics, `model check` and the
	// prediction record.
	Info() Info
}

// Multi is implemented by multiclass models.
type Multi interface {
	Model
	// ScoreAll appends one probability per class to dst and returns it.
	ScoreAll(dst, x []float64) []float64
}

// Info describes a loaded model.
type Info struct {
	Format     string // "logistic", "xgboost", "lightgbm", "onnx"
	Objective  string // e.g. "binary:logistic", "binary", "reg:squarederror"
	Trees      int    // number of trees actually used (0 for linear models)
	Classes    int    // 1 unless multiclass
	ScoreClass int    // class whose probability Score returns (multiclass only)
	Hash       string // hex sha256 of the model file's bytes
}

// HashBytes is the content hash recorded in Info.Hash: hex sha256 of the model file.
func HashBytes(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
