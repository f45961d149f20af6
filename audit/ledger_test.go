package audit

import (
	"errors"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scorestream/scorestream/sink"
)

func hdrs(kv ...string) []kgo.RecordHeader {
	var hs []kgo.RecordHeader
	for i := 0; i < len(kv); i += 2 {
		hs = append(hs, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return hs
}

func TestProvenance(t *testing.T) {
	const T, P, O = sink.HeaderSourceTopic, sink.HeaderSourcePartition, sink.HeaderSourceOffset
	for _, tc := range []struct {
		name    string
		headers []kgo.RecordHeader
		topic   string
		part    int32
		off     int64
		ok      bool
	}{
		{"all three", hdrs(T, "in", P, "3", O, "12345678901"), "in", 3, 12345678901, true},
		{"other headers and order", hdrs(sink.HeaderModel, "m/1", O, "0", "x", "y", P, "0", T, "a.b"), "a.b", 0, 0, true},
		{"none", nil, "", 0, 0, false},
		{"no topic", hdrs(P, "1", O, "2"), "", 0, 0, false},
		{"empty topic", hdrs(T, "", P, "1", O, "2"), "", 0, 0, false},
		{"no partition", hdrs(T, "in", O, "2"), "", 0, 0, false},
		{"no offset", hdrs(T, "in", P, "1"), "", 0, 0, false},
		{"negative partition", hdrs(T, "in", P, "-1", O, "2"), "", 0, 0, false},
		{"partition too big", hdrs(T, "in", P, "2147483648", O, "2"), "", 0, 0, false},
		{"negative offset", hdrs(T, "in", P, "1", O, "-2"), "", 0, 0, false},
		{"hex offset", hdrs(T, "in", P, "1", O, "0x10"), "", 0, 0, false},
		{"spaces", hdrs(T, "in", P, " 1", O, "2"), "", 0, 0, false},
		{"leading zero", hdrs(T, "in", P, "1", O, "02"), "", 0, 0, false},
		{"plus sign", hdrs(T, "in", P, "+1", O, "2"), "", 0, 0, false},
		{"repeated offset", hdrs(T, "in", P, "1", O, "2", O, "2"), "", 0, 0, false},
		{"repeated topic", hdrs(T, "in", T, "in", P, "1", O, "2"), "", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic, part, off, err := Provenance(tc.headers)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				if !errors.Is(err, errNoProvenance) {
					t.Errorf("err %v does not wrap errNoProvenance", err)
				}
				return
			}
			if topic != tc.topic || part != tc.part || off != tc.off {
				t.Errorf("got %s/%d@%d, want %s/%d@%d", topic, part, off, tc.topic, tc.part, tc.off)
			}
		})
	}
}

// FuzzProvenance: go test ./audit -run '^$' -fuzz FuzzProvenance -fuzztime 30s
func FuzzProvenance(f *testing.F) {
	f.Add("in", "0", "0")
	f.Add("payments", "11", "9223372036854775807")
	f.Add("", "-1", "x")
	f.Fuzz(func(t *testing.T, topic, part, off string) {
		gt, gp, go_, err := Provenance(hdrs(sink.HeaderSourceTopic, topic, sink.HeaderSourcePartition, part, sink.HeaderSourceOffset, off))
		if err != nil {
			return
		}
		// Whatever parses must be what a writer using decimal text wrote.
		if gt != topic || strconv.Itoa(int(gp)) != part || strconv.FormatInt(go_, 10) != off || gp < 0 || go_ < 0 {
			t.Fatalf("%q %q %q parsed as %q %d %d", topic, part, off, gt, gp, go_)
		}
	})
}

func TestLedger(t *testing.T) {
	// Offsets 10..29 are the log; coverage ends at 25 (say, a group commit);
	// the last stable offset is 30. Inputs exist at even offsets; 12 is out
	// of the time range.
	l := newLedger("in", 0, 10, 25, 30)
	for off := int64(10); off < 30; off += 2 {
		l.input(off, off != 12)
	}
	for _, tc := range []struct {
		off  int64
		want verdict
	}{
		{9, ignored},  // before log start
		{10, counted}, // input
		{11, orphan},  // no input there
		{12, ignored}, // outside time range
		{24, counted}, // last covered input
		{26, ignored}, // past the group's offset, below last stable
		{30, orphan},  // at the last stable offset: nothing committed there
		{1 << 40, orphan},
	} {
		if got := l.output(tc.off); got != tc.want {
			t.Errorf("output(%d) = %v, want %v", tc.off, got, tc.want)
		}
	}
	// 10 is now named once, 24 once; name 14 three times; 300 times 16.
	for range 3 {
		l.output(14)
	}
	for range 300 {
		l.output(16)
	}
	got := map[int64]int64{}
	l.tally(func(off, c int64) { got[off] = c })
	want := map[int64]int64{14: 3, 16: 300, 18: 0, 20: 0, 22: 0}
	if len(got) != len(want) {
		t.Fatalf("tally = %v, want %v", got, want)
	}
	for off, c := range want {
		if got[off] != c {
			t.Errorf("tally[%d] = %d, want %d", off, got[off], c)
		}
	}
	// Covered: 10, 14, 16, 18, 20, 22, 24 (12 out of range, 26+ past bound).
	if c := l.covered(); c != 7 {
		t.Errorf("covered = %d, want 7", c)
	}
}

// BenchmarkLedger measures the per-offset cost of the audit's bookkeeping.
// go test ./audit -run '^$' -bench Ledger -benchmem
func BenchmarkLedger(b *testing.B) {
	const n = 1 << 20
	b.ReportAllocs()
	for b.Loop() {
		l := newLedger("in", 0, 0, n, n)
		for off := range int64(n) {
			l.input(off, true)
		}
		for off := range int64(n) {
			l.output(off)
		}
		l.tally(func(int64, int64) {})
	}
}
