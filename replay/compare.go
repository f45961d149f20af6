package replay

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/parquet-go/parquet-go"

	"github.com/scorestream/scorestream/sink"
	"github.com/scorestream/scorestream/stream/decode"
)

// Prediction is one model's score of one event, as read back from a replay's
// Parquet file or from a live predictions topic, for comparing the two.
type Prediction struct {
	EventID                    string
	Key                        string
	EventTime                  int64 // Unix ms
	Model, ModelVersion, Hash  string
	Score                      float64 // NaN: the model failed
	Decision                   string
	Label                      int8   // -1 none (Parquet only)
	Segment                    string // Parquet only
	Features                   map[string]float64
	FeaturesLogged             bool // false: no feature vector was written
	SourcePartition            int32
	SourceOffset, ScoringTimeM int64 // live only
}

// ReadParquet reads a replay's Parquet file back.
func ReadParquet(path string) ([]Prediction, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	f, err := parquet.OpenFile(fh, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("parquet %s: %w", path, err)
	}
	cols := f.Schema().Columns()
	names := make([]string, len(cols))
	logged := false
	for i, c := range cols {
		names[i] = strings.Join(c, ".")
		logged = logged || strings.HasPrefix(names[i], FeaturePrefix)
	}
	rd := parquet.NewReader(f)
	defer rd.Close()
	var out []Prediction
	rows := make([]parquet.Row, 256)
	for {
		n, err := rd.ReadRows(rows)
		for _, row := range rows[:n] {
			p := Prediction{Score: math.NaN(), Label: -1, FeaturesLogged: logged}
			if logged {
				p.Features = map[string]float64{}
			}
			for _, v := range row {
				name := names[v.Column()]
				if fname, ok := strings.CutPrefix(name, FeaturePrefix); ok {
					p.Features[fname] = math.NaN()
					if !v.IsNull() {
						p.Features[fname] = v.Double()
					}
					continue
				}
				if v.IsNull() {
					continue
				}
				switch name {
				case ColEventID:
					p.EventID = v.String()
				case ColKey:
					p.Key = v.String()
				case ColEventTime:
					p.EventTime = v.Int64()
				case ColModel:
					p.Model = v.String()
				case ColModelVersion:
					p.ModelVersion = v.String()
				case ColModelHash:
					p.Hash = v.String()
				case ColScore:
					p.Score = v.Double()
				case ColDecision:
					p.Decision = v.String()
				case ColLabel:
					p.Label = int8(v.Int32())
				case ColSegment:
					p.Segment = v.String()
				}
			}
			out = append(out, p)
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("parquet %s: %w", path, err)
		}
	}
}

// PredictionDecoder decodes live prediction records (sink.PredictionSchema,
// Confluent framing) with goavro, independently of the encoder in sink.
type PredictionDecoder struct{ codec *goavro.Codec }

// NewPredictionDecoder compiles sink.PredictionSchema.
func NewPredictionDecoder() (*PredictionDecoder, error) {
	c, err := goavro.NewCodec(sink.PredictionSchema)
	if err != nil {
		return nil, err
	}
	return &PredictionDecoder{codec: c}, nil
}

// Decode decodes one prediction record's value.
func (d *PredictionDecoder) Decode(value []byte) (Prediction, error) {
	_, body, err := decode.SplitFrame(value)
	if err != nil {
		return Prediction{}, err
	}
	native, _, err := d.codec.NativeFromBinary(body)
	if err != nil {
		return Prediction{}, err
	}
	m, ok := native.(map[string]any)
	if !ok {
		return Prediction{}, fmt.Errorf("prediction is %T", native)
	}
	str := func(k string) string { s, _ := m[k].(string); return s }
	p := Prediction{EventID: str("event_id"), Key: str("entity_key"), Model: str("model_name"),
		ModelVersion: str("model_version"), Hash: str("model_hash"), Decision: str("decision"), Label: -1}
	p.Score, _ = m["score"].(float64)
	p.EventTime = millis(m["event_time"])
	p.ScoringTimeM = millis(m["scoring_time"])
	p.SourcePartition, _ = m["source_partition"].(int32)
	p.SourceOffset, _ = m["source_offset"].(int64)
	if fs, ok := m["features"].(map[string]any); ok {
		if inner, ok := fs["map"].(map[string]any); ok {
			fs = inner
		}
		p.FeaturesLogged = true
		p.Features = make(map[string]float64, len(fs))
		for k, v := range fs {
			p.Features[k] = math.NaN()
			switch x := v.(type) {
			case float64:
				p.Features[k] = x
			case map[string]any:
				if f, ok := x["double"].(float64); ok {
					p.Features[k] = f
				}
			}
		}
	}
	return p, nil
}

func millis(v any) int64 {
	switch t := v.(type) {
	case time.Time:
		return t.UnixMilli()
	case int64:
		return t
	}
	return 0
}

// Diff compares replayed predictions of one model with live ones, matched by
// event id, and describes every difference in score (bit for bit), decision,
// model hash, event time, entity key and logged features (bit for bit; a
// missing value on both sides is equal). Fields that legitimately differ are
// not compared: scoring_time (wall clock), and the model's name and version
// (replay names a model by its --model NAME; the hash identifies the file).
// Live events without a replayed prediction and the reverse are differences too.
func Diff(live, replayed []Prediction) []string {
	byID := make(map[string]*Prediction, len(replayed))
	for i := range replayed {
		byID[replayed[i].EventID] = &replayed[i]
	}
	var diffs []string
	seen := make(map[string]bool, len(live))
	for i := range live {
		l := &live[i]
		seen[l.EventID] = true
		r, ok := byID[l.EventID]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("event %s: live prediction, none replayed", l.EventID))
			continue
		}
		if math.Float64bits(l.Score) != math.Float64bits(r.Score) {
			diffs = append(diffs, fmt.Sprintf("event %s: score live %v (%#x), replayed %v (%#x)", l.EventID, l.Score, math.Float64bits(l.Score), r.Score, math.Float64bits(r.Score)))
		}
		if l.Decision != r.Decision {
			diffs = append(diffs, fmt.Sprintf("event %s: decision live %q, replayed %q", l.EventID, l.Decision, r.Decision))
		}
		if l.Hash != r.Hash {
			diffs = append(diffs, fmt.Sprintf("event %s: model hash live %s, replayed %s", l.EventID, l.Hash, r.Hash))
		}
		if l.EventTime != r.EventTime || l.Key != r.Key {
			diffs = append(diffs, fmt.Sprintf("event %s: event time/key live %d/%q, replayed %d/%q", l.EventID, l.EventTime, l.Key, r.EventTime, r.Key))
		}
		if l.FeaturesLogged != r.FeaturesLogged {
			diffs = append(diffs, fmt.Sprintf("event %s: features logged live %v, replayed %v", l.EventID, l.FeaturesLogged, r.FeaturesLogged))
			continue
		}
		for _, k := range union(l.Features, r.Features) {
			lv, lok := l.Features[k]
			rv, rok := r.Features[k]
			if lok != rok || !sameFloat(lv, rv) {
				diffs = append(diffs, fmt.Sprintf("event %s: feature %s live %v, replayed %v", l.EventID, k, lv, rv))
			}
		}
	}
	for i := range replayed {
		if !seen[replayed[i].EventID] {
			diffs = append(diffs, fmt.Sprintf("event %s: replayed prediction, none live", replayed[i].EventID))
		}
	}
	return diffs
}

func sameFloat(a, b float64) bool {
	if math.IsNaN(a) && math.IsNaN(b) {
		return true
	}
	return math.Float64bits(a) == math.Float64bits(b)
}

func union(a, b map[string]float64) []string {
	ks := make([]string, 0, len(a))
	for k := range a {
		ks = append(ks, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return ks
}
