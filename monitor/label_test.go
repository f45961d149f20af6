package monitor

import (
	"strings"
	"testing"
	"time"
)

func TestLabelOf(t *testing.T) {
	m := &Monitor{cfg: Config{EventIDField: "meta.id", LabelField: "fraud", LabelTimeField: "known_at"}}
	at := time.UnixMilli(1767225600000).UTC()
	rec := func(id, label, known any) map[string]any {
		return map[string]any{"meta": map[string]any{"id": id}, "fraud": label, "known_at": known}
	}
	for _, tc := range []struct {
		name    string
		rec     map[string]any
		want    Label
		wantErr string
	}{
		{"boolean", rec("e1", true, at), Label{EventID: "e1", Positive: true, Time: at.UnixMilli()}, ""},
		{"timestamp", rec("e2", false, at), Label{EventID: "e2", Time: at.UnixMilli()}, ""},
		{"number 1", rec("e3", int32(1), int64(5)), Label{EventID: "e3", Positive: true, Time: 5}, ""},
		{"number 0", rec("e4", 0.0, int64(5)), Label{EventID: "e4", Time: 5}, ""},
		{"long event id", rec(int64(42), false, int64(5)), Label{EventID: "42", Time: 5}, ""},
		{"number 2", rec("e5", int64(2), int64(5)), Label{}, "label field fraud: 2: want 0 or 1"},
		{"string label", rec("e6", "yes", int64(5)), Label{}, "label field fraud: want a boolean or 0/1, got string"},
		{"no label", rec("e7", nil, int64(5)), Label{}, "label field fraud: want a boolean or 0/1, got <nil>"},
		{"no event id", rec(nil, true, int64(5)), Label{}, "label field meta.id: want a string event id, got <nil>"},
		{"empty event id", rec("", true, int64(5)), Label{}, "label field meta.id: empty event id"},
		{"bad time", rec("e8", true, "yesterday"), Label{}, "label field known_at: want a timestamp-millis or long, got string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.labelOf(tc.rec, 7)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case got != tc.want:
				t.Fatalf("label %+v, want %+v", got, tc.want)
			}
		})
	}
	// Without a label time field, the record timestamp is the label time.
	m.cfg.LabelTimeField = ""
	if l, err := m.labelOf(rec("e9", true, nil), 7); err != nil || l.Time != 7 {
		t.Fatalf("label %+v, %v: want the record timestamp 7", l, err)
	}
}
