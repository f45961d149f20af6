package replay

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/stream"
	"github.com/scorestream/scorestream/stream/decode"
	"github.com/scorestream/scorestream/stream/features"
)

// ErrLabels marks a labels source that cannot be used as given (missing column,
// unreadable value): a usage error.
var ErrLabels = errors.New("labels")

// Labels are the known outcomes by event id, joined to the replayed events.
type Labels struct {
	Source string
	SHA256 string // of the file's bytes; "" for a topic
	ByID   map[string]int8
	seen   map[string]struct{}
}

// LabelColumns name the columns of a labels source.
type LabelColumns struct {
	ID    string // default event_id
	Label string // default label
}

func (c *LabelColumns) defaults() {
	if c.ID == "" {
		c.ID = "event_id"
	}
	if c.Label == "" {
		c.Label = "label"
	}
}

// Lookup returns the event's label (1 or 0), or -1 when it has none, and
// remembers that the label matched an event.
func (l *Labels) Lookup(id string) int8 {
	if l == nil {
		return -1
	}
	v, ok := l.ByID[id]
	if !ok {
		return -1
	}
	if l.seen == nil {
		l.seen = map[string]struct{}{}
	}
	l.seen[id] = struct{}{}
	return v
}

// Matched is how many labels matched a replayed event so far; Unmatched the rest.
func (l *Labels) Matched() (matched, unmatched int64) {
	if l == nil {
		return 0, 0
	}
	return int64(len(l.seen)), int64(len(l.ByID) - len(l.seen))
}

// LoadLabelsFile reads labels from a CSV file (a header row naming the columns)
// or, when path ends in .parquet, a Parquet file. Label values: 1/0, true/false,
// yes/no, fraud/legit (case-insensitive); an empty value is no label.
func LoadLabelsFile(path string, cols LabelColumns) (*Labels, error) {
	cols.defaults()
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLabels, err)
	}
	sum := sha256.Sum256(data)
	l := &Labels{Source: path, SHA256: hex.EncodeToString(sum[:]), ByID: map[string]int8{}}
	if strings.HasSuffix(strings.ToLower(path), ".parquet") {
		err = l.readParquet(data, cols)
	} else {
		err = l.readCSV(data, cols)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrLabels, path, err)
	}
	return l, nil
}

func (l *Labels) readCSV(data []byte, cols LabelColumns) error {
	r := csv.NewReader(strings.NewReader(string(data)))
	r.ReuseRecord = true
	head, err := r.Read()
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	idCol, labCol := -1, -1
	for i, h := range head {
		switch strings.TrimSpace(h) {
		case cols.ID:
			idCol = i
		case cols.Label:
			labCol = i
		}
	}
	if err := missing(idCol, labCol, cols, head); err != nil {
		return err
	}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := l.add(rec[idCol], rec[labCol]); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
	}
}

func (l *Labels) readParquet(data []byte, cols LabelColumns) error {
	f, err := parquet.OpenFile(strings.NewReader(string(data)), int64(len(data)))
	if err != nil {
		return err
	}
	var names []string
	idCol, labCol := -1, -1
	for i, c := range f.Schema().Columns() {
		name := strings.Join(c, ".")
		names = append(names, name)
		switch name {
		case cols.ID:
			idCol = i
		case cols.Label:
			labCol = i
		}
	}
	if err := missing(idCol, labCol, cols, names); err != nil {
		return err
	}
	rd := parquet.NewReader(f)
	defer rd.Close()
	rows := make([]parquet.Row, 256)
	n := 0
	for {
		k, err := rd.ReadRows(rows)
		for _, row := range rows[:k] {
			var id, lab string
			for _, v := range row {
				switch v.Column() {
				case idCol:
					if !v.IsNull() {
						id = v.String()
					}
				case labCol:
					if !v.IsNull() {
						lab = v.String()
					}
				}
			}
			if err := l.add(id, lab); err != nil {
				return fmt.Errorf("row %d: %w", n, err)
			}
			n++
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func missing(idCol, labCol int, cols LabelColumns, have []string) error {
	switch {
	case idCol < 0:
		return fmt.Errorf("no column %q (--label-id-column); columns: %v", cols.ID, have)
	case labCol < 0:
		return fmt.Errorf("no column %q (--label-column); columns: %v", cols.Label, have)
	}
	return nil
}

func (l *Labels) add(id, value string) error {
	id = strings.TrimSpace(id)
	v, ok, err := parseLabel(value)
	if err != nil {
		return fmt.Errorf("event %q: %w", id, err)
	}
	if !ok || id == "" {
		return nil
	}
	l.ByID[id] = v
	return nil
}

func parseLabel(s string) (v int8, ok bool, err error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return 0, false, nil
	case "1", "true", "yes", "fraud", "positive":
		return 1, true, nil
	case "0", "false", "no", "legit", "negative":
		return 0, true, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && (f == 0 || f == 1) {
		return int8(f), true, nil
	}
	return 0, false, fmt.Errorf("label %q is not 1/0, true/false, yes/no or fraud/legit", s)
}

// LoadLabelsTopic reads every committed record of topic (Avro, Confluent
// framing, decoded with dec) and takes the id and label from the named fields
// (dotted paths). conn are connection options for a reading client of its own;
// admin is any client connected to the cluster.
func LoadLabelsTopic(ctx context.Context, conn []kgo.Opt, admin *kgo.Client, topic string, dec *decode.Decoder, cols LabelColumns) (*Labels, error) {
	cols.defaults()
	l := &Labels{Source: "topic:" + topic, ByID: map[string]int8{}}
	ps, err := partitions(ctx, admin, topic)
	if err != nil {
		return nil, err
	}
	var first error
	err = stream.ReadCommitted(ctx, conn, admin, topic, ps, func(r *kgo.Record) error {
		rec, _, err := dec.Decode(ctx, r.Value)
		if err != nil {
			return fmt.Errorf("%w: topic %s offset %d/%d: %w", ErrLabels, topic, r.Partition, r.Offset, err)
		}
		id, lab := features.Lookup(rec, cols.ID), features.Lookup(rec, cols.Label)
		if id == nil {
			if first == nil {
				first = fmt.Errorf("%w: topic %s: record %d/%d has no field %q (--label-id-column)", ErrLabels, topic, r.Partition, r.Offset, cols.ID)
			}
			return first
		}
		if lab == nil {
			return fmt.Errorf("%w: topic %s: record %d/%d has no field %q (--label-column)", ErrLabels, topic, r.Partition, r.Offset, cols.Label)
		}
		return l.add(fmt.Sprint(id), fmt.Sprint(lab))
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

func partitions(ctx context.Context, admin *kgo.Client, topic string) ([]int32, error) {
	td, err := kadm.NewClient(admin).ListTopics(ctx, topic)
	if err == nil {
		err = td.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: topic %s: %w", ErrLabels, topic, err)
	}
	t, ok := td[topic]
	if !ok {
		return nil, fmt.Errorf("%w: topic %s does not exist", ErrLabels, topic)
	}
	return t.Partitions.Numbers(), nil
}
