package state

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"math"
	"math/rand"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// v2FixtureEntities replays the events behind testdata/changelog-v2.txt: 4 keys,
// 80 events 7-50 s apart, amounts in cents (some missing), 6 merchants, under
// testLayout. It returns the entities in the order their final records were
// written, and the records' keys; each, if not nil, is called with every
// event's key and new state (the record the changelog got).
func v2FixtureEntities(each func(k string, e *Entity)) ([]string, map[string]*Entity) {
	r := rand.New(rand.NewSource(42))
	base := int64(1767225600000) // 2026-01-01T00:00:00Z
	es := map[string]*Entity{}
	var order []string
	t, wm := base, base
	for i := range 80 {
		k := "card-" + strconv.Itoa(r.Intn(4))
		t += int64(7000 + r.Intn(43000))
		if i%11 == 5 {
			t -= 90000 // out of order
		}
		wm = max(wm, t)
		amount := float64(r.Intn(100000)) / 100
		if i%9 == 4 {
			amount = math.NaN()
		}
		m := "m" + strconv.Itoa(r.Intn(6))
		if i%13 == 7 {
			m = ""
		}
		es[k] = es[k].Observe(lay, obs(t, amount, m), wm)
		order = append(order, k)
		if each != nil {
			each(k, es[k])
		}
	}
	return order, es
}

// TestUpgradeV2Fixture: a changelog written by the version-2 encoding (the
// format before the compact one, committed as testdata/changelog-v2.txt)
// restores to exactly the state the events gave: every bucket, distinct value
// and last value.
func TestUpgradeV2Fixture(t *testing.T) { testFixture(t, "testdata/changelog-v2.txt", encodingV2) }

// TestUpgradeV3Fixture: the same events' changelog written by the version-3
// encoding (commit 9b0a1d9, testdata/changelog-v3.txt) restores exactly too.
func TestUpgradeV3Fixture(t *testing.T) { testFixture(t, "testdata/changelog-v3.txt", encodingV3) }

func testFixture(t *testing.T, path string, version byte) {
	_, want := v2FixtureEntities(nil)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]*Entity{}
	sc := bufio.NewScanner(f)
	lines := 0
	for sc.Scan() {
		k, h, _ := strings.Cut(sc.Text(), " ")
		v, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		if v[0] != version {
			t.Fatalf("fixture line %d: version %d, want %d", lines+1, v[0], version)
		}
		e, up, err := Decode(lay, v)
		if err != nil || up != (Upgrade{}) {
			t.Fatalf("fixture line %d: %v %+v", lines+1, err, up)
		}
		// The current version's encoder writes the same bytes (Restore keeps
		// such a value as it is).
		if version == encodingV3 && !bytes.Equal(e.AppendBinary(nil), v) {
			t.Fatalf("fixture line %d: re-encoded as %x", lines+1, e.AppendBinary(nil))
		}
		got[k] = e
		lines++
	}
	if lines != 80 || len(got) != len(want) {
		t.Fatalf("%d records for %d keys, want 80 for %d", lines, len(got), len(want))
	}
	for k, w := range want {
		g := got[k]
		if g == nil {
			t.Fatalf("%s not restored", k)
		}
		if g.Last != w.Last || g.WM != w.WM || !reflect.DeepEqual(g.Lasts, w.Lasts) {
			t.Fatalf("%s: restored %d %d %+v, want %d %d %+v", k, g.Last, g.WM, g.Lasts, w.Last, w.WM, w.Lasts)
		}
		for i := range w.Series {
			if !reflect.DeepEqual(g.Series[i], w.Series[i]) {
				t.Fatalf("%s series %d: restored %+v, want %+v", k, i, g.Series[i], w.Series[i])
			}
		}
		for i := range w.Sets {
			if !reflect.DeepEqual(g.Sets[i], w.Sets[i]) {
				t.Fatalf("%s set %d: restored %+v, want %+v", k, i, g.Sets[i], w.Sets[i])
			}
		}
	}
}
