package state

import (
	"errors"
	"math"
	"math/rand"
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
	e := p.Get(k, wm).Observe(t0, 1, "", wm, lim)
	p.Advance(t0)
	p.Stage(k, e)
}

func appendChanges(log []change, p *Partition) []change {
	p.Changes(func(k string, e *Entity) {
		c := change{key: k}
		if e != nil {
			c.val = e.AppendBinary(nil)
		}
		log = append(log, c)
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
		short := Limits{TTL: 30 * time.Minute, MaxEvents: 8}
		cfg := Config{Limits: short, MaxEntities: 1 + rng.Intn(6)}
		live, _ := NewPartition(cfg)
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
		stage := func(p *Partition, e ev) {
			wm := max(p.Watermark(), e.t0)
			n := p.Get(e.k, wm).Observe(e.t0, 1, e.k, wm, short)
			p.Advance(e.t0)
			p.Stage(e.k, n)
		}
		for txn := 0; txn < 60; txn++ {
			batch := make([]ev, 1+rng.Intn(8))
			for i := range batch {
				batch[i] = next()
			}
			if rng.Intn(4) == 0 { // an aborted attempt first
				before := dump(live)
				for _, e := range batch {
					stage(live, e)
				}
				live.Abort()
				if dump(live) != before {
					t.Fatalf("seed %d txn %d: abort did not restore the state", seed, txn)
				}
			}
			for _, e := range batch {
				stage(live, e)
				stage(ref, e)
				ref.Commit()
			}
			log = appendChanges(log, live)
			live.Commit()
			if dump(live) != dump(ref) || live.Watermark() != ref.Watermark() {
				t.Fatalf("seed %d txn %d: transaction state differs from record by record", seed, txn)
			}
			if r := restore(t, cfg, log); dump(r) != dump(live) || r.Watermark() != live.Watermark() {
				t.Fatalf("seed %d txn %d: restored state differs from live:\n%q wm %d\n%q wm %d", seed, txn, dump(r), r.Watermark(), dump(live), live.Watermark())
			}
		}
	}
}

// TestRestoreCorrupt: a changelog value that does not decode is an error
// wrapping ErrCorrupt, and the entity it concerns starts empty (an earlier good
// record for it does not survive); other entities are kept.
func TestRestoreCorrupt(t *testing.T) {
	cfg := Config{Limits: lim, MaxEntities: 10}
	p, _ := NewPartition(cfg)
	good := (*Entity)(nil).Observe(minute, 1, "x", minute, lim).AppendBinary(nil)
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
