package checkpoint

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/scorestream/scorestream/state"
)

var layout = (&state.Layout{
	Series: []state.SeriesSpec{
		{Key: "", Width: state.Width(time.Hour, 30), Span: int64(time.Hour / time.Millisecond)},
		{Key: "amount", Width: state.Width(time.Hour, 30), Span: int64(time.Hour / time.Millisecond), Stats: state.StatSum | state.StatMax},
	},
	Sets:        []state.SetSpec{{Key: "merchant", Span: int64(24 * time.Hour / time.Millisecond)}},
	MaxDistinct: 8,
	Buckets:     30,
}).Prepare()

var cfg = state.Config{Limits: state.Limits{TTL: time.Hour, Layout: layout}, MaxEntities: 20}

// busy returns a partition that evicted and expired entities and wrote some
// several times, committed transaction by transaction.
func busy(t testing.TB) *state.Partition {
	t.Helper()
	p, err := state.NewPartition(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ts := int64(1_700_000_000_000)
	for i := range 500 {
		ts += rng.Int64N(20_000)
		k := "card-" + strconv.Itoa(rng.IntN(40))
		p.Advance(ts)
		o := &state.Obs{T: ts, Nums: []float64{0, float64(i)}, Strs: []string{"m" + strconv.Itoa(i%5)}}
		p.Stage(k, p.Get(k, p.Watermark()).Observe(layout, o, p.Watermark()))
		if i%7 == 0 {
			p.Commit()
		}
	}
	p.Commit()
	return p
}

type entry struct{ k, v string }

func dump(p *state.Partition) []entry {
	var out []entry
	p.Range(func(k string, e *state.Entity) bool {
		out = append(out, entry{k, string(e.AppendBinary(nil))})
		return true
	})
	return out
}

var id = Identity{Topic: "changelog", TopicID: [16]byte{1, 2, 3}, Partition: 4}

// TestRoundTrip: a written checkpoint loads into the same LRU (entities, order,
// values) and watermark, with its offset.
func TestRoundTrip(t *testing.T) {
	want := busy(t)
	d, err := Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1_700_000_123_000)
	n, err := d.Write(id, 1234, want, now)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := d.Load(id, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Offset != 1234 || !cp.Written.Equal(now) || cp.Bytes != n || cp.Corrupt != 0 {
		t.Fatalf("loaded offset %d written %v bytes %d corrupt %d, want 1234 %v %d 0", cp.Offset, cp.Written, cp.Bytes, cp.Corrupt, now, n)
	}
	w, g := dump(want), dump(cp.State)
	if len(w) != cfg.MaxEntities || len(g) != len(w) {
		t.Fatalf("%d entities loaded, %d written (want a full LRU of %d)", len(g), len(w), cfg.MaxEntities)
	}
	for i := range w {
		if w[i] != g[i] {
			t.Fatalf("LRU position %d: loaded %q, wrote %q (or their values differ)", i, g[i].k, w[i].k)
		}
	}
	if cp.State.Watermark() != want.Watermark() {
		t.Fatalf("watermark %d loaded, %d written", cp.State.Watermark(), want.Watermark())
	}
	// A second write replaces the first and leaves no temporary file.
	if _, err := d.Write(id, 2000, want, now); err != nil {
		t.Fatal(err)
	}
	files, _ := os.ReadDir(d.path)
	if len(files) != 1 {
		t.Fatalf("%d files in the state dir after two writes, want 1", len(files))
	}
	if cp, err = d.Load(id, cfg); err != nil || cp.Offset != 2000 {
		t.Fatalf("after a rewrite: offset %v err %v, want 2000", cp, err)
	}
}

// TestRefused: every damaged or foreign checkpoint is refused with the error
// the caller branches on, never loaded.
func TestRefused(t *testing.T) {
	st := busy(t)
	good := Encode(id, 99, st, time.Now())
	flip := func(i int) []byte {
		b := append([]byte{}, good...)
		b[i] ^= 0x40
		return b
	}
	other := id
	other.TopicID[0] = 9
	cases := []struct {
		name string
		b    []byte
		id   Identity
		want error
	}{
		{"empty", nil, id, ErrCorrupt},
		{"not a checkpoint", []byte("hello world"), id, ErrCorrupt},
		{"newer version", append(append([]byte(magic), Version+1), good[5:]...), id, ErrCorrupt},
		{"truncated", good[:len(good)/2], id, ErrCorrupt},
		{"bit flip in an entity", flip(len(good) / 2), id, ErrCorrupt},
		{"bit flip in the checksum", flip(len(good) - 1), id, ErrCorrupt},
		{"another topic id (recreated topic)", good, other, ErrForeign},
		{"another topic", good, Identity{Topic: "changelog2", TopicID: id.TopicID, Partition: 4}, ErrForeign},
		{"another partition", good, Identity{Topic: "changelog", TopicID: id.TopicID, Partition: 5}, ErrForeign},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cp, err := Decode(c.id, c.b, cfg)
			if !errors.Is(err, c.want) {
				t.Fatalf("Decode: %v (checkpoint %v), want %v", err, cp, c.want)
			}
		})
	}
	// A broker without topic ids: the name and partition still must match.
	if _, err := Decode(Identity{Topic: "changelog", Partition: 4}, good, cfg); err != nil {
		t.Fatalf("no topic id known: %v, want the checkpoint", err)
	}
	d, _ := Open(t.TempDir())
	if _, err := d.Load(id, cfg); !errors.Is(err, ErrMissing) {
		t.Fatalf("no file: %v, want ErrMissing", err)
	}
}

// TestStale: the offset must lie within the changelog's committed records and
// the checkpoint must be younger than the tombstone retention.
func TestStale(t *testing.T) {
	now := time.Now()
	cp := &Checkpoint{Offset: 100, Written: now.Add(-time.Hour)}
	cases := []struct {
		name          string
		logStart, end int64
		maxAge        time.Duration
		stale         bool
	}{
		{"tail to read", 0, 150, 24 * time.Hour, false},
		{"at the end", 0, 100, 24 * time.Hour, false},
		{"start equals offset", 100, 150, 24 * time.Hour, false},
		{"beyond the end", 0, 99, 24 * time.Hour, true},
		{"before the log start", 101, 150, 24 * time.Hour, true},
		{"older than delete.retention.ms", 0, 150, time.Hour, true},
		{"no age limit", 0, 150, 0, false},
	}
	for _, c := range cases {
		if why := cp.Stale(c.logStart, c.end, c.maxAge, now); (why != "") != c.stale {
			t.Errorf("%s: Stale = %q, want stale %v", c.name, why, c.stale)
		}
	}
}

// BenchmarkWrite writes a checkpoint of a full 20-entity partition (fsync
// included). go test -run - -bench . -benchmem ./state/checkpoint/
func BenchmarkWrite(b *testing.B) {
	st := busy(b)
	d, _ := Open(b.TempDir())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Write(id, 1, st, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad reads a checkpoint of 100,000 entities (each with a few events)
// back into a partition: the restore time a checkpoint costs instead of the
// changelog. go test -run - -bench Load -benchmem ./state/checkpoint/
func BenchmarkLoad(b *testing.B) {
	const n = 100_000
	big := cfg
	big.MaxEntities = n
	p, err := state.NewPartition(big)
	if err != nil {
		b.Fatal(err)
	}
	ts := int64(1_700_000_000_000)
	for i := range 3 * n {
		ts += 10
		k := "card-" + strconv.Itoa(i%n)
		p.Advance(ts)
		o := &state.Obs{T: ts, Nums: []float64{0, float64(i % 97)}, Strs: []string{"m" + strconv.Itoa(i%7)}}
		p.Stage(k, p.Get(k, p.Watermark()).Observe(layout, o, p.Watermark()))
		if i%1000 == 0 {
			p.Commit()
		}
	}
	p.Commit()
	d, _ := Open(b.TempDir())
	size, err := d.Write(id, 1, p, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		cp, err := d.Load(id, big)
		if err != nil || cp.State.Len() != n {
			b.Fatalf("load: %v (%v entities)", err, cp)
		}
	}
	b.ReportMetric(float64(size)/n, "bytes/entity")
}
