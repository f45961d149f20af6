package state

import (
	"math"
	"testing"
	"time"
)

const minute = int64(time.Minute / time.Millisecond)

var lim = Limits{TTL: 24 * time.Hour, MaxEvents: 4}

// TestWindows checks the documented window semantics against hand-computed values.
func TestWindows(t *testing.T) {
	var e *Entity
	// events at minutes 0, 5, 9, 10 with amounts 1, 2, 4, 8
	for i, m := range []int64{0, 5, 9, 10} {
		e = e.Observe(m*minute, float64(int(1)<<i), "", m*minute, lim)
	}
	at := 10 * minute
	cases := []struct {
		name      string
		got, want float64
	}{
		{"count 10m is (0,10]: excludes minute 0", e.Count(at, 10*time.Minute), 3},
		{"sum 10m", e.Sum(at, 10*time.Minute), 14},
		{"count 1h", e.Count(at, time.Hour), 4},
		{"mean 1h", e.Mean(at, time.Hour), 15.0 / 4},
		{"count 1m is (9,10]", e.Count(at, time.Minute), 1},
		{"since last", e.SinceLast(11 * minute), 60},
		{"count at an earlier time excludes later events", e.Count(6*minute, time.Hour), 2},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	var empty *Entity
	if empty.Count(at, time.Hour) != 0 || !math.IsNaN(empty.Mean(at, time.Hour)) || !math.IsNaN(empty.SinceLast(at)) {
		t.Error("a new entity must have count 0 and missing mean and since-last")
	}
}

func TestCapsAndTTL(t *testing.T) {
	var e *Entity
	for i := int64(0); i < 10; i++ {
		e = e.Observe(i*minute, 1, string(rune('a'+i)), i*minute, lim)
	}
	if len(e.Events) != 4 || e.Events[0].T != 6*minute {
		t.Fatalf("events %+v: want the newest 4", e.Events)
	}
	if len(e.Distinct) != 4 || e.Distinct[3].Value != "j" {
		t.Fatalf("distinct %+v: want the newest 4", e.Distinct)
	}
	// Out of order: inserted in time order.
	e = e.Observe(7*minute+1, 5, "a", 9*minute, lim)
	if e.Events[0].T != 7*minute || e.Events[1].T != 7*minute+1 || e.Last != 9*minute { // the oldest (6) went
		t.Fatalf("out-of-order event misplaced: %+v last %d", e.Events, e.Last)
	}
	// Past the TTL everything older is pruned on the next write.
	day := int64(24 * time.Hour / time.Millisecond)
	e = e.Observe(9*minute+day, 1, "z", 9*minute+day, lim)
	if len(e.Events) != 1 || len(e.Distinct) != 1 {
		t.Fatalf("expired history kept: %+v %+v", e.Events, e.Distinct)
	}
}

func TestEncodingRoundTrip(t *testing.T) {
	var e *Entity
	for i := int64(0); i < 6; i++ {
		e = e.Observe(i*minute, float64(i)*1.5, "m"+string(rune('0'+i%3)), i*minute, lim)
	}
	b := e.AppendBinary(nil)
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(d.AppendBinary(nil)) != string(b) || d.Last != e.Last || d.WM != e.WM || len(d.Events) != len(e.Events) {
		t.Fatalf("round trip changed the state: %+v vs %+v", d, e)
	}
	for _, bad := range [][]byte{nil, {2}, b[:len(b)-1], append(append([]byte{}, b...), 0)} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("Decode(%x) accepted a corrupt value", bad)
		}
	}
}

func FuzzDecode(f *testing.F) {
	var e *Entity
	e = e.Observe(1, 2, "x", 1, lim)
	f.Add(e.AppendBinary(nil))
	f.Add([]byte{1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Decode(b)
		if err != nil {
			return
		}
		if _, err := Decode(d.AppendBinary(nil)); err != nil {
			t.Fatalf("re-encoding a decoded value fails: %v", err)
		}
	})
}

func TestStagingCommitAbort(t *testing.T) {
	p, err := NewPartition(Config{Limits: lim, MaxEntities: 10})
	if err != nil {
		t.Fatal(err)
	}
	e := (*Entity)(nil).Observe(5, 1, "", 5, lim)
	p.Advance(5)
	p.Stage("k", e)
	if p.Get("k", 5) != e {
		t.Fatal("staged state not visible")
	}
	p.Abort()
	if p.Get("k", 5) != nil || p.Watermark() >= 5 {
		t.Fatal("aborted state or watermark still visible")
	}
	p.Advance(5)
	p.Stage("k", e)
	p.Commit()
	if p.Get("k", 5) != e || p.Len() != 1 || p.Watermark() != 5 {
		t.Fatal("committed state not visible")
	}
}

// TestEarlyEvictionAndRestore: the LRU bound evicts the least recently written
// entity, counts it as early when it had not expired, and a restore from the
// writes (the changelog) reproduces the same contents.
func TestEarlyEvictionAndRestore(t *testing.T) {
	early := 0
	cfg := Config{Limits: lim, MaxEntities: 2, OnEarlyEvict: func() { early++ }}
	p, _ := NewPartition(cfg)
	type write struct {
		key string
		val []byte
	}
	var log []write
	for i, k := range []string{"a", "b", "a", "c", "d"} {
		t0 := int64(i+1) * minute
		e := p.Get(k, t0).Observe(t0, 1, "", t0, lim)
		p.Advance(t0)
		p.Stage(k, e)
		p.Commit()
		log = append(log, write{k, e.AppendBinary(nil)})
	}
	// b evicted by c, a evicted by d: both unexpired.
	if early != 2 {
		t.Fatalf("%d early evictions, want 2", early)
	}
	r, _ := NewPartition(cfg)
	for _, w := range log {
		if err := r.Restore(w.key, w.val); err != nil {
			t.Fatal(err)
		}
	}
	var got, want []string
	p.Each(func(k string, _ *Entity) { want = append(want, k) })
	r.Each(func(k string, _ *Entity) { got = append(got, k) })
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] || r.Watermark() != p.Watermark() {
		t.Fatalf("restored %v wm %d, want %v wm %d", got, r.Watermark(), want, p.Watermark())
	}
	if early != 2 {
		t.Fatal("restore counted early evictions")
	}
}
