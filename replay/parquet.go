package replay

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/parquet-go/parquet-go"
)

// Prediction columns of the Parquet output, one row per event per model.
const (
	ColEventID      = "event_id"
	ColKey          = "key"
	ColEventTime    = "event_time" // timestamp (ms, UTC)
	ColModel        = "model"
	ColModelVersion = "model_version"
	ColModelHash    = "model_hash"
	ColScore        = "score"
	ColDecision     = "decision"
	ColLabel        = "label"   // nullable int32: 1, 0 or null (no label)
	ColSegment      = "segment" // nullable string
	// FeaturePrefix names the feature columns (nullable doubles; null = missing)
	// written with --features: "f_" + the feature's name.
	FeaturePrefix = "f_"
)

// ModelID names a model in the outputs.
type ModelID struct{ Name, Version, Hash string }

// ParquetWriter writes predictions to a Parquet file that pandas, polars,
// DuckDB and pyarrow read as-is. It writes to a temporary name in the target
// directory and renames it into place on Close, so a failed replay leaves no
// half-written file.
type ParquetWriter struct {
	path, tmp string
	f         *os.File
	w         *parquet.Writer
	models    []ModelID
	features  []string // nil: no feature columns
	row       map[string]any
	closed    bool
}

// NewParquetWriter creates the writer of path. features are the feature names
// to write as columns, nil for none.
func NewParquetWriter(path string, models []ModelID, features []string) (*ParquetWriter, error) {
	g := parquet.Group{
		ColEventID:      parquet.String(),
		ColKey:          parquet.String(),
		ColEventTime:    parquet.Timestamp(parquet.Millisecond),
		ColModel:        parquet.String(),
		ColModelVersion: parquet.String(),
		ColModelHash:    parquet.String(),
		ColScore:        parquet.Optional(parquet.Leaf(parquet.DoubleType)),
		ColDecision:     parquet.Optional(parquet.String()),
		ColLabel:        parquet.Optional(parquet.Int(32)),
		ColSegment:      parquet.Optional(parquet.String()),
	}
	for _, n := range features {
		if _, dup := g[FeaturePrefix+n]; dup {
			return nil, fmt.Errorf("parquet: feature %q named twice", n)
		}
		g[FeaturePrefix+n] = parquet.Optional(parquet.Leaf(parquet.DoubleType))
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	schema := parquet.NewSchema("prediction", g)
	w := parquet.NewWriter(f, schema, parquet.Compression(&parquet.Zstd))
	return &ParquetWriter{path: path, tmp: f.Name(), f: f, w: w, models: models, features: features,
		row: make(map[string]any, len(g))}, nil
}

// Write writes one row per model for ev; label is 1, 0 or -1 (none).
func (p *ParquetWriter) Write(ev *Event, label int8) error {
	r := p.row
	clear(r)
	r[ColEventID] = ev.EventID
	r[ColKey] = string(ev.Key)
	r[ColEventTime] = time.UnixMilli(ev.Time).UTC()
	if label >= 0 {
		r[ColLabel] = int32(label)
	}
	if ev.Segment != "" {
		r[ColSegment] = ev.Segment
	}
	for i, n := range p.features {
		if v := ev.Features[i]; !math.IsNaN(v) {
			r[FeaturePrefix+n] = v
		} else {
			delete(r, FeaturePrefix+n)
		}
	}
	for k, m := range p.models {
		r[ColModel], r[ColModelVersion], r[ColModelHash] = m.Name, m.Version, m.Hash
		delete(r, ColScore)
		delete(r, ColDecision)
		if !math.IsNaN(ev.Scores[k]) {
			r[ColScore] = ev.Scores[k]
			r[ColDecision] = ev.Decisions[k]
		}
		if err := p.w.Write(r); err != nil {
			return fmt.Errorf("parquet: write: %w", err)
		}
	}
	return nil
}

// Close finishes the file and renames it into place.
func (p *ParquetWriter) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	if err := p.w.Close(); err != nil {
		p.abort()
		return fmt.Errorf("parquet: %w", err)
	}
	if err := p.f.Sync(); err != nil {
		p.abort()
		return fmt.Errorf("parquet: %w", err)
	}
	if err := p.f.Close(); err != nil {
		os.Remove(p.tmp)
		return fmt.Errorf("parquet: %w", err)
	}
	if err := os.Rename(p.tmp, p.path); err != nil {
		os.Remove(p.tmp)
		return fmt.Errorf("parquet: %w", err)
	}
	return nil
}

// Abort drops the temporary file; the target is left as it was.
func (p *ParquetWriter) Abort() {
	if !p.closed {
		p.closed = true
		p.abort()
	}
}

func (p *ParquetWriter) abort() {
	p.f.Close()
	os.Remove(p.tmp)
}
