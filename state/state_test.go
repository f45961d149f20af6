package state

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

const minute = int64(time.Minute / time.Millisecond)

// testLayout: events counted in 10m windows (20 s buckets), amount in 1h
// windows with every stat (2 min buckets), distinct merchants over 24h, the
// last amount.
func testLayout() *Layout {
	return (&Layout{
		Series: []SeriesSpec{
			{Key: "", Width: Width(10*time.Minute, 30), Span: 10 * minute, FromV1: V1Events},
			{Key: "amount", Width: Width(time.Hour, 30), Span: 60 * minute, Stats: StatSum | StatSumSq | StatMin | StatMax, FromV1: V1Amount},
		},
		Sets:        []SetSpec{{Key: "merchant", Span: 24 * 60 * minute, FromV1: V1Distinct}},
		Lasts:       []LastSpec{{Key: "amount", FromV1: V1Amount}},
		MaxDistinct: 4,
		Buckets:     30,
	}).Prepare()
}

var lay = testLayout()

var lim = Limits{TTL: 24 * time.Hour, Layout: lay}

func obs(t int64, amount float64, merchant string) *Obs {
	o := &Obs{T: t, Nums: []float64{0, amount}, Strs: []string{merchant}, Lasts: []Value{{T: t, Num: amount, Has: !math.IsNaN(amount)}}}
	return o
}

// TestWindows checks the documented window semantics against hand-computed
// values, at bucket resolution: buckets of 2 minutes for the 1h amount series.
func TestWindows(t *testing.T) {
	var e *Entity
	// events at minutes 0, 5, 9, 10 with amounts 1, 2, 4, 8; one with no amount
	for i, m := range []int64{0, 5, 9, 10} {
		e = e.Observe(lay, obs(m*minute, float64(int(1)<<i), "m"+strconv.Itoa(i%2)), m*minute)
	}
	e = e.Observe(lay, obs(10*minute+1, math.NaN(), ""), 10*minute+1)
	at := 10*minute + 1
	a1h := e.Window(1, at, 60*minute)
	cases := []struct {
		name      string
		got, want float64
	}{
		{"events in 10m: 20 s buckets (floor((t-w)/W), floor(t/W)] exclude minute 0", float64(e.Window(0, at, 10*minute).N), 4},
		{"amounts in 1h skip the missing one", float64(a1h.N), 4},
		{"sum 1h", a1h.Sum, 15},
		{"min 1h", a1h.Min, 1},
		{"max 1h", a1h.Max, 8},
		{"sum of squares 1h", a1h.SumSq, 85},
		{"amounts in 4m at minute 10: the far-edge bucket [6,8) is out, minute 9 in", float64(e.Window(1, 10*minute, 4*minute).N), 2},
		{"distinct in 24h", e.DistinctCount(0, at, 24*60*minute), 2},
		{"distinct in 30s: m1 at minute 10, not m0 at minute 9", e.DistinctCount(0, at, minute/2), 1},
		{"last amount skips the missing one", e.LastValue(0).Num, 8},
		{"since last", e.SinceLast(11 * minute), 60 - 0.001},
		{"an earlier time excludes later buckets", float64(e.Window(1, 6*minute, 60*minute).N), 2},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	var empty *Entity
	if empty.Window(0, at, minute).N != 0 || empty.DistinctCount(0, at, minute) != 0 || empty.LastValue(0).Has || !math.IsNaN(empty.SinceLast(at)) {
		t.Error("a new entity must have count 0, no last value and missing since-last")
	}
}

// TestBoundedBySpec: a busy entity's state stops growing once its windows are
// full: buckets beyond the longest window and distinct values beyond the cap
// and window are dropped on write.
func TestBoundedBySpec(t *testing.T) {
	var e *Entity
	var size []int
	for i := int64(0); i < 20000; i++ {
		ts := i * 1000 // one event a second for 5.5 hours
		e = e.Observe(lay, obs(ts, 1, "m"+strconv.FormatInt(i%50, 10)), ts)
		if i%5000 == 4999 {
			size = append(size, len(e.AppendBinary(nil)))
		}
	}
	if len(e.Series[0]) > 31 || len(e.Series[1]) > 31 || len(e.Sets[0]) != 4 {
		t.Fatalf("%d, %d buckets and %d distinct values: want at most 31, 31 and 4", len(e.Series[0]), len(e.Series[1]), len(e.Sets[0]))
	}
	for _, n := range size[1:] {
		// Numbers are stored in as few bytes as keep them exact, so sizes vary a
		// little with the values.
		if n > size[0]+size[0]/50 {
			t.Fatalf("encoded sizes %v: the state grows with the event count", size)
		}
	}
	// Past the windows everything is dropped on the next write.
	day := 24 * 60 * minute
	e = e.Observe(lay, obs(2*day, 1, "z"), 2*day)
	if len(e.Series[0]) != 1 || len(e.Series[1]) != 1 || len(e.Sets[0]) != 1 {
		t.Fatalf("old state kept: %d %d %d", len(e.Series[0]), len(e.Series[1]), len(e.Sets[0]))
	}
}

func TestEncodingRoundTrip(t *testing.T) {
	var e *Entity
	for i := int64(0); i < 60; i++ {
		e = e.Observe(lay, obs(i*minute/3, float64(i)*1.5-20, "m"+strconv.Itoa(int(i%3))), i*minute/3)
	}
	b := e.AppendBinary(nil)
	d, up, err := Decode(lay, b)
	if err != nil || up != (Upgrade{}) {
		t.Fatal(err, up)
	}
	if string(d.AppendBinary(nil)) != string(b) || d.Last != e.Last || d.WM != e.WM {
		t.Fatalf("round trip changed the state: %+v vs %+v", d, e)
	}
	at := e.Last + 1
	for _, w := range []int64{minute, 10 * minute, 60 * minute} {
		if d.Window(1, at, w) != e.Window(1, at, w) || d.Window(0, at, w) != e.Window(0, at, w) {
			t.Fatalf("window %d: decoded aggregates differ", w)
		}
	}
	for _, bad := range [][]byte{nil, {3}, b[:len(b)-1], append(append([]byte{}, b...), 0)} {
		if _, _, err := Decode(lay, bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Decode(%x) accepted a corrupt value: %v", bad, err)
		}
	}
}

// TestSpecChange: a value written under one layout, read under another that
// adds an aggregate and changes one window, keeps the unchanged aggregates and
// reports the others as started empty.
func TestSpecChange(t *testing.T) {
	var e *Entity
	for i := int64(0); i < 10; i++ {
		e = e.Observe(lay, obs(i*minute, 2, "m"), i*minute)
	}
	next := testLayout()
	next.Series[0].Width = Width(30*time.Minute, 30) // the events window became 30m
	next.Series[0].Span = 30 * minute
	next.Series = append(next.Series, SeriesSpec{Key: "device", Width: 1000, Span: minute})
	next.Prepare()
	d, up, err := Decode(next, e.AppendBinary(nil))
	if err != nil {
		t.Fatal(err)
	}
	if up.StartedEmpty != 2 || up.FromV1 {
		t.Fatalf("upgrade %+v, want 2 aggregates started empty", up)
	}
	at := 10 * minute
	if d.Window(1, at, 60*minute) != e.Window(1, at, 60*minute) || d.DistinctCount(0, at, 60*minute) != 1 || d.LastValue(0) != e.LastValue(0) {
		t.Fatal("unchanged aggregates were not kept")
	}
	if d.Window(0, at, 30*minute).N != 0 || len(d.Series[2]) != 0 {
		t.Fatal("a changed or new aggregate did not start empty")
	}
}

// TestUpgradeV1Fixture restores the committed changelog of the version-1
// encoding (state/testdata, written by that release's code) and checks the
// converted state against the features that release computed: exactly where
// the new resolution is exact (24h windows, distinct values, time since last),
// and within one far-edge bucket for the 10m and 1h windows.
func TestUpgradeV1Fixture(t *testing.T) {
	l := (&Layout{
		Series: []SeriesSpec{
			{Key: "", Width: Width(10*time.Minute, 30), Span: 10 * minute, FromV1: V1Events},
			{Key: "", Width: Width(time.Hour, 30), Span: 60 * minute, FromV1: V1Events},
			{Key: "amount", Width: Width(time.Hour, 30), Span: 60 * minute, Stats: StatSum, FromV1: V1Amount},
			{Key: "amount", Width: Width(24*time.Hour, 30), Span: 24 * 60 * minute, Stats: StatSum, FromV1: V1Amount},
			{Key: "other", Width: 1000, Span: minute},
		},
		Sets:        []SetSpec{{Key: "merchant.id", Span: 24 * 60 * minute, FromV1: V1Distinct}},
		MaxDistinct: 256,
	}).Prepare()
	p, err := NewPartition(Config{Limits: Limits{TTL: 24 * time.Hour, Layout: l}, MaxEntities: 100})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("testdata/changelog-v1.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	last := map[string][]byte{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, h, _ := strings.Cut(sc.Text(), " ")
		v, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Restore(k, v); err != nil {
			t.Fatal(err)
		}
		last[k] = v
	}
	if up := p.Upgrades(); up.FromV1 != 40 || up.StartedEmpty != 40 {
		t.Fatalf("upgrades %+v: want 40 converted, 40 with an aggregate (over \"other\") started empty", up)
	}
	want, err := os.ReadFile("testdata/changelog-v1.features.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(want)), "\n") {
		fs := strings.Fields(line)
		v1 := map[string]float64{}
		for _, kv := range fs[1:] {
			k, v, _ := strings.Cut(kv, "=")
			v1[k], _ = strconv.ParseFloat(v, 64)
		}
		at := int64(v1["at"])
		e := p.Get(fs[0], at)
		if e == nil {
			t.Fatalf("%s not restored", fs[0])
		}
		exact := map[string]float64{
			"since_last":   e.SinceLast(at),
			"distinct_24h": e.DistinctCount(0, at, 24*60*minute),
			"mean_24h":     e.Window(3, at, 24*60*minute).Sum / float64(e.Window(3, at, 24*60*minute).N),
		}
		for k, got := range exact {
			if got != v1[k] {
				t.Errorf("%s %s: %v after the upgrade, %v before", fs[0], k, got, v1[k])
			}
		}
		// The far-edge bucket: what v1 counted in (at-w, at] minus what lies in
		// (at-w, at-w+W] is a lower bound.
		evs := v1Events(t, last[fs[0]])
		for _, c := range []struct {
			name   string
			series int
			w      int64
			got    float64
			sum    bool
		}{
			{"count_10m", 0, 10 * minute, float64(e.Window(0, at, 10*minute).N), false},
			{"count_1h", 1, 60 * minute, float64(e.Window(1, at, 60*minute).N), false},
			{"sum_1h", 2, 60 * minute, e.Window(2, at, 60*minute).Sum, true},
		} {
			var edge float64
			for _, ev := range evs {
				if ev[0] > float64(at-c.w) && ev[0] <= float64(at-c.w+l.Series[c.series].Width) {
					edge += map[bool]float64{false: 1, true: ev[1]}[c.sum]
				}
			}
			if c.got > v1[c.name] || c.got < v1[c.name]-edge {
				t.Errorf("%s %s: %v after the upgrade, %v before (far-edge bucket holds %v)", fs[0], c.name, c.got, v1[c.name], edge)
			}
		}
	}
}

// v1Events decodes the event list of a version-1 value: (time, amount) pairs.
func v1Events(t *testing.T, b []byte) [][2]float64 {
	d := decoder{b: b[1:]}
	d.varint()
	d.varint()
	n := d.count(9)
	out := make([][2]float64, n)
	for i := range out {
		out[i] = [2]float64{float64(d.varint()), math.Float64frombits(d.u64())}
	}
	if d.err != nil {
		t.Fatal(d.err)
	}
	return out
}

func FuzzDecode(f *testing.F) {
	var e *Entity
	e = e.Observe(lay, obs(1, 2, "x"), 1)
	f.Add(e.AppendBinary(nil))
	f.Add([]byte{2, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{1, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		// A partition restores what Decode accepts, and refuses the rest.
		p, _ := NewPartition(Config{Limits: lim, MaxEntities: 4})
		rerr := p.Restore("k", b)
		d, _, err := Decode(lay, b)
		if (err == nil) != (rerr == nil) {
			t.Fatalf("Decode error %v, Restore error %v", err, rerr)
		}
		if err != nil {
			return
		}
		enc := d.AppendBinary(nil)
		if _, _, err := Decode(lay, enc); err != nil {
			t.Fatalf("re-encoding a decoded value: %v", err)
		}
		if g := p.Get("k", p.Watermark()); g != nil && !bytes.Equal(g.AppendBinary(nil), enc) {
			t.Fatalf("held entity encodes as %x, decoded value as %x", g.AppendBinary(nil), enc)
		}
		// An event on the restored entity, in place, gives a record that decodes.
		ts := max(d.Last, p.Watermark())
		p.Advance(ts)
		p.Observe("k", obs(ts, 1.5, "fuzz"))
		p.Changes(func(_ string, v []byte) {
			if v == nil {
				return
			}
			if _, _, err := Decode(lay, v); err != nil {
				t.Fatalf("record after an event: %v", err)
			}
		})
		p.Commit()
	})
}

func TestStagingCommitAbort(t *testing.T) {
	p, err := NewPartition(Config{Limits: lim, MaxEntities: 10})
	if err != nil {
		t.Fatal(err)
	}
	e := (*Entity)(nil).Observe(lay, obs(5, 1, ""), 5)
	want := string(e.AppendBinary(nil))
	p.Advance(5)
	p.Stage("k", e)
	if p.Get("k", 5) != e {
		t.Fatal("staged state not visible")
	}
	p.Abort()
	if p.Get("k", 5) != nil || p.Watermark() >= 5 {
		t.Fatal("aborted state or watermark still visible")
	}
	e = (*Entity)(nil).Observe(lay, obs(5, 1, ""), 5)
	p.Advance(5)
	p.Stage("k", e)
	p.Commit()
	if g := p.Get("k", 5); g == nil || string(g.AppendBinary(nil)) != want || p.Len() != 1 || p.Watermark() != 5 {
		t.Fatal("committed state not visible")
	}
}

// TestEarlyEvictionAndRestore: the LRU bound evicts the least recently written
// entity, counts it as early when it had not expired, and a restore from the
// changelog (Changes) reproduces the same contents.
func TestEarlyEvictionAndRestore(t *testing.T) {
	early := 0
	cfg := Config{Limits: lim, MaxEntities: 2, OnEarlyEvict: func() { early++ }}
	p, _ := NewPartition(cfg)
	var log []change
	for i, k := range []string{"a", "b", "a", "c", "d"} {
		t0 := int64(i+1) * minute
		write(p, k, t0)
		log = appendChanges(log, p)
		p.Commit()
	}
	// b evicted by c, a evicted by d: both unexpired.
	if early != 2 {
		t.Fatalf("%d early evictions, want 2", early)
	}
	r := restore(t, cfg, log)
	if got, want := dump(r), dump(p); got != want || r.Watermark() != p.Watermark() {
		t.Fatalf("restored %s wm %d, want %s wm %d", got, r.Watermark(), want, p.Watermark())
	}
	if early != 2 {
		t.Fatal("restore counted early evictions")
	}
}

type change struct {
	key string
	val []byte // nil: tombstone
}

func write(p *Partition, k string, t0 int64) {
	wm := max(p.Watermark(), t0)
	e := p.Get(k, wm).Observe(lay, obs(t0, 1, ""), wm)
	p.Advance(t0)
	p.Stage(k, e)
}

func appendChanges(log []change, p *Partition) []change {
	p.Changes(func(k string, v []byte) {
		log = append(log, change{key: k, val: v})
	})
	return log
}

func restore(t *testing.T, cfg Config, log []change) *Partition {
	t.Helper()
	r, err := NewPartition(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range log {
		if err := r.Restore(c.key, c.val); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// dump is the full LRU, expired entries included, least recent first.
func dump(p *Partition) string {
	var b []byte
	p.Range(func(k string, e *Entity) bool {
		b = append(b, k...)
		b = append(b, '=')
		b = e.AppendBinary(b)
		b = append(b, ';')
		return true
	})
	return string(b)
}

// TestProbeWrittenTwiceInOneTxn is the review's probe: with room for two
// entities, one transaction writes A, B, A, C. Live and restored state must both
// hold [A C] (A's second write is more recent than B's), as a pass committing
// every record on its own does, and the changelog has one record per entity.
func TestProbeWrittenTwiceInOneTxn(t *testing.T) {
	cfg := Config{Limits: lim, MaxEntities: 2}
	live, _ := NewPartition(cfg)
	ref, _ := NewPartition(cfg)
	for i, k := range []string{"A", "B", "A", "C"} {
		t0 := int64(i+1) * minute
		write(live, k, t0)
		write(ref, k, t0)
		ref.Commit()
	}
	log := appendChanges(nil, live)
	live.Commit()
	keys := func(p *Partition) (ks []string) {
		p.Range(func(k string, _ *Entity) bool { ks = append(ks, k); return true })
		return ks
	}
	if got := keys(live); len(got) != 2 || got[0] != "A" || got[1] != "C" {
		t.Fatalf("live LRU %v, want [A C]", got)
	}
	if len(log) != 2 || log[0].key != "A" || log[1].key != "C" {
		t.Fatalf("changelog %v, want one record each for A then C", log)
	}
	if r := restore(t, cfg, log); dump(r) != dump(live) {
		t.Fatalf("restored %v, live %v", keys(r), keys(live))
	}
	if dump(ref) != dump(live) {
		t.Fatalf("record-by-record pass %v, one transaction %v", keys(ref), keys(live))
	}
}

// TestTransactionsMatchRecordByRecord drives random keys and times (with
// out-of-order events, expiries and evictions) through transactions of random
// size that randomly abort and are then retried, and checks after every
// transaction that the live state, a restore of the changelog so far, and a pass
// committing every record on its own hold the same entities in the same order.
func TestTransactionsMatchRecordByRecord(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewSource(seed))
		short := Limits{TTL: 30 * time.Minute, Layout: lay}
		cfg := Config{Limits: short, MaxEntities: 1 + rng.Intn(6)}
		live, _ := NewPartition(cfg)
		live.maxCached = int(seed % 4) // 0: no decoded entity kept; 1-3: the ring wraps
		ref, _ := NewPartition(cfg)
		var log []change
		type ev struct {
			k  string
			t0 int64
		}
		clock := int64(0)
		next := func() ev {
			clock += int64(rng.Intn(5)) * minute
			t0 := clock - int64(rng.Intn(3))*minute // some out of order
			if rng.Intn(20) == 0 {
				t0 -= 40 * minute // older than the TTL
			}
			return ev{string(rune('a' + rng.Intn(10))), t0}
		}
		// ref stages copy-on-write entities, live updates them in place.
		amount := func(e ev) float64 { return float64(e.t0%7) + 0.25 }
		merchant := func(e ev) string { return e.k + strconv.FormatInt(e.t0/minute%3, 10) }
		stage := func(p *Partition, e ev) {
			wm := max(p.Watermark(), e.t0)
			n := p.Get(e.k, wm).Observe(lay, obs(e.t0, amount(e), merchant(e)), wm)
			p.Advance(e.t0)
			p.Stage(e.k, n)
		}
		inPlace := func(p *Partition, e ev) {
			p.Advance(e.t0)
			p.Observe(e.k, obs(e.t0, amount(e), merchant(e)))
		}
		for txn := 0; txn < 60; txn++ {
			batch := make([]ev, 1+rng.Intn(8))
			for i := range batch {
				batch[i] = next()
			}
			if rng.Intn(4) == 0 { // an aborted attempt first
				before := dump(live)
				for _, e := range batch {
					inPlace(live, e)
				}
				if rng.Intn(2) == 0 { // its records produced, then the transaction failed
					live.Changes(func(string, []byte) {})
				}
				live.Abort()
				if dump(live) != before {
					t.Fatalf("seed %d txn %d: abort did not restore the state", seed, txn)
				}
			}
			for _, e := range batch {
				inPlace(live, e)
				stage(ref, e)
				ref.Commit()
			}
			log = appendChanges(log, live)
			live.Commit()
			if len(live.cached) > live.maxCached {
				t.Fatalf("seed %d txn %d: %d decoded entities kept, at most %d", seed, txn, len(live.cached), live.maxCached)
			}
			if dump(live) != dump(ref) || live.Watermark() != ref.Watermark() {
				t.Fatalf("seed %d txn %d: transaction state differs from record by record", seed, txn)
			}
			if r := restore(t, cfg, log); dump(r) != dump(live) || r.Watermark() != live.Watermark() {
				t.Fatalf("seed %d txn %d: restored state differs from live:\n%q wm %d\n%q wm %d", seed, txn, dump(r), r.Watermark(), dump(live), live.Watermark())
			}
		}
	}
}

// TestInPlaceUndoSeveralWrites: one transaction writes the same entity several
// times in place (new and existing buckets, an out-of-order event, distinct
// values moved and added, a last value), writes others (a new one, one evicted),
// then aborts: every entity's held encoding is back bit for bit, in the same
// LRU order, and the next transaction starts from it as if the aborted one
// never ran.
func TestInPlaceUndoSeveralWrites(t *testing.T) {
	cfg := Config{Limits: lim, MaxEntities: 3}
	p, _ := NewPartition(cfg)
	ref, _ := NewPartition(cfg)
	for _, q := range []*Partition{p, ref} {
		for i, k := range []string{"a", "b", "c"} {
			q.Advance(int64(i+1) * minute)
			q.Observe(k, obs(int64(i+1)*minute, float64(i)+0.5, "m"+k))
		}
		q.Commit()
	}
	held := func(q *Partition) (out []change) {
		q.RangeEncoded(func(k string, v []byte) bool {
			out = append(out, change{k, slices.Clone(v)})
			return true
		})
		return out
	}
	before := held(p)
	for i, ts := range []int64{4, 5, 9, 7, 30, 31} { // minutes; 7 is out of order
		p.Advance(ts * minute)
		p.Observe("a", obs(ts*minute, float64(i)*1.25, "m"+strconv.Itoa(i%3)))
		if i == 2 {
			p.Advance(10 * minute)
			p.Observe("d", obs(10*minute, 3, "md")) // evicts b
		}
	}
	if p.Get("b", p.Watermark()) != nil || p.Get("d", p.Watermark()) == nil || p.Staged() < 3 {
		t.Fatal("the transaction did not write a and d and evict b")
	}
	p.Changes(func(string, []byte) {}) // the records of a transaction that then fails
	p.Abort()
	after := held(p)
	if !slices.EqualFunc(before, after, func(x, y change) bool { return x.key == y.key && bytes.Equal(x.val, y.val) }) {
		t.Fatalf("after Abort held %q, want %q", after, before)
	}
	if p.Watermark() != 3*minute || p.Staged() != 0 {
		t.Fatalf("after Abort watermark %d staged %d", p.Watermark(), p.Staged())
	}
	for _, q := range []*Partition{p, ref} {
		q.Advance(40 * minute)
		q.Observe("a", obs(40*minute, 2, "mz"))
		q.Commit()
	}
	if got, want := dump(p), dump(ref); got != want {
		t.Fatalf("after an aborted transaction %q, without it %q", got, want)
	}
}

// TestStageHeldRead: staging, under another key, the entity a read returned
// (the partition's read scratch) leaves both entities readable and equal.
func TestStageHeldRead(t *testing.T) {
	p, _ := NewPartition(Config{Limits: lim, MaxEntities: 4})
	p.Advance(minute)
	p.Observe("a", obs(minute, 2.5, "m"))
	p.Commit()
	want := string(p.Get("a", minute).AppendBinary(nil))
	p.Stage("b", p.Get("a", minute))
	p.Commit()
	for _, k := range []string{"a", "b", "a"} {
		if g := p.Get(k, minute); g == nil || string(g.AppendBinary(nil)) != want {
			t.Fatalf("%s after staging a's read as b: %v", k, g)
		}
	}
}

// TestRestoreCorrupt: a changelog value that does not decode is an error
// wrapping ErrCorrupt, and the entity it concerns starts empty (an earlier good
// record for it does not survive); other entities are kept.
func TestRestoreCorrupt(t *testing.T) {
	cfg := Config{Limits: lim, MaxEntities: 10}
	p, _ := NewPartition(cfg)
	good := (*Entity)(nil).Observe(lay, obs(minute, 1, "x"), minute).AppendBinary(nil)
	for _, k := range []string{"a", "b"} {
		if err := p.Restore(k, good); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range [][]byte{{}, {9, 1, 2}, good[:len(good)-1], append(append([]byte{}, good...), 0)} {
		if err := p.Restore("a", bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("value %x: err %v, want ErrCorrupt", bad, err)
		}
		if p.Get("a", minute) != nil || p.Get("b", minute) == nil {
			t.Fatalf("value %x: the corrupt entity must start empty and the others stay", bad)
		}
	}
}

// TestNumbersExact: every number the version-3 encoding stores in fewer than 8
// bytes decodes to the same float64 bits, and the compact modes are used.
func TestNumbersExact(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	vals := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 12.34, -999.99, 0.1 + 0.2, 1e300, -1e-300,
		math.Inf(1), math.Inf(-1), math.NaN(), 1 << 60, 123.4567, float64(float32(0.3))}
	for range 2000 {
		c := float64(r.Intn(1_000_000)) / 100
		vals = append(vals, c, c*c, r.NormFloat64()*1e4, float64(float32(r.Float64())))
	}
	modes := map[byte]int{}
	for _, v := range vals {
		m := numMode(v)
		modes[m]++
		b := appendNum(nil, m, v)
		d := decoder{b: b}
		got := d.num(m)
		if d.err != nil || len(d.b) != 0 || math.Float64bits(got) != math.Float64bits(v) {
			t.Fatalf("%v (mode %d, %d bytes) decoded as %v", v, m, len(b), got)
		}
	}
	for _, m := range []byte{modeF64, modeF32, modeCents, modeE4} {
		if modes[m] == 0 {
			t.Errorf("mode %d never used: %v", m, modes)
		}
	}
}

// TestObserveCopiesStrings: the distinct values and last strings an entity
// keeps do not share the memory of the observation's strings (a decoded
// record's body), and a value seen again keeps the entity's own copy.
func TestObserveCopiesStrings(t *testing.T) {
	l := (&Layout{
		Sets:  []SetSpec{{Key: "merchant", Span: 60 * minute}},
		Lasts: []LastSpec{{Key: "channel"}},
	}).Prepare()
	body := strings.Repeat("x", 1000) + "m1" + "pos"
	within := func(s string) bool {
		p, b := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(body)))
		return p >= b && p < b+uintptr(len(body))
	}
	o := &Obs{T: 1, Strs: []string{body[1000:1002]}, Lasts: []Value{{T: 1, Str: body[1002:], IsStr: true, Has: true}}}
	e := (*Entity)(nil).Observe(l, o, 1)
	if e.Sets[0][0].Value != "m1" || within(e.Sets[0][0].Value) || e.Lasts[0].Str != "pos" || within(e.Lasts[0].Str) {
		t.Fatalf("kept %q %q sharing the observation's memory", e.Sets[0][0].Value, e.Lasts[0].Str)
	}
	own := unsafe.StringData(e.Sets[0][0].Value)
	o.T = 2
	e2 := e.Observe(l, o, 2)
	if unsafe.StringData(e2.Sets[0][0].Value) != own || e2.Sets[0][0].T != 2 {
		t.Fatalf("a value seen again was copied anew")
	}
}

// TestVarintLen: varintLen is the length AppendVarint writes.
func TestVarintLen(t *testing.T) {
	for _, k := range []int64{0, 1, -1, 63, -64, 64, -65, 8191, 8192, 1 << 40, -1 << 40, math.MaxInt64, math.MinInt64} {
		if got, want := varintLen(k), len(binary.AppendVarint(nil, k)); got != want {
			t.Errorf("varintLen(%d) = %d, want %d", k, got, want)
		}
	}
}

// BenchmarkAppendBinary encodes an entity of the test layout after 200 events
// (amounts in cents, a few merchants) into a reused buffer, as Changes does.
//
//	go test ./state -run '^$' -bench AppendBinary -benchmem
func BenchmarkAppendBinary(b *testing.B) {
	var e *Entity
	for i := range int64(200) {
		ts := i * minute / 4
		e = e.Observe(lay, obs(ts, float64(i*37%10000)/100, "m"+strconv.Itoa(int(i%6))), ts)
	}
	buf := e.AppendBinary(nil)
	b.ReportAllocs()
	for b.Loop() {
		buf = e.AppendBinary(buf[:0])
	}
	b.ReportMetric(float64(len(buf)), "B/record")
}

// BenchmarkDecode decodes that entity into reused scratch, as a read of a held
// entity does.
//
//	go test ./state -run '^$' -bench Decode -benchmem
func BenchmarkDecode(b *testing.B) {
	var e *Entity
	for i := range int64(200) {
		ts := i * minute / 4
		e = e.Observe(lay, obs(ts, float64(i*37%10000)/100, "m"+strconv.Itoa(int(i%6))), ts)
	}
	buf := e.AppendBinary(nil)
	d := newEntity(lay)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.decode(lay, buf, true); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodedCacheFollowsWrites: a committed entity is kept decoded for the
// next read; a Restore or a Stage of the same key afterwards replaces it, so a
// read gives what was restored or staged, never the cached decoding.
func TestDecodedCacheFollowsWrites(t *testing.T) {
	t0 := int64(1_700_000_000_000)
	enc := func(e *Entity) string { return string(e.AppendBinary(nil)) }
	p, _ := NewPartition(Config{Limits: lim, MaxEntities: 10})
	p.Advance(t0)
	p.Observe("a", obs(t0, 5, "m1"))
	p.Changes(func(string, []byte) {})
	p.Commit()
	if _, ok := p.cached[p.items["a"]]; !ok {
		t.Fatal("a committed entity is not kept decoded")
	}
	// Another entity's state, restored under key a.
	q, _ := NewPartition(Config{Limits: lim, MaxEntities: 10})
	q.Advance(t0 + minute)
	q.Observe("b", obs(t0+minute, 9, "m2"))
	q.Observe("b", obs(t0+minute, 11, "m3"))
	q.Changes(func(string, []byte) {})
	q.Commit()
	other := enc(q.Get("b", q.Watermark()))
	if err := p.Restore("a", []byte(other)); err != nil {
		t.Fatal(err)
	}
	if got := enc(p.Get("a", p.Watermark())); got != other {
		t.Fatalf("after Restore, a reads %q, want the restored %q", got, other)
	}
	// A staged entity replaces a cached decoding too.
	p.Advance(t0 + 2*minute)
	p.Observe("a", obs(t0+2*minute, 1, "m4"))
	p.Changes(func(string, []byte) {})
	p.Commit()
	staged := newEntity(lay).Observe(lay, obs(t0+2*minute, 42, "m9"), p.Watermark())
	want := enc(staged)
	p.Stage("a", staged)
	p.Changes(func(string, []byte) {})
	p.Commit()
	if got := enc(p.Get("a", p.Watermark())); got != want {
		t.Fatalf("after Stage, a reads %q, want the staged %q", got, want)
	}
}
