package state

import (
	"fmt"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Config bounds a partition's state.
type Config struct {
	Limits
	MaxEntities int
	// OnEarlyEvict is called when the LRU evicts an entity that has not expired.
	OnEarlyEvict func()
}

// Partition is the state of one input partition. It is owned by one goroutine
// (the transactional loop) and is not safe for concurrent use.
//
// Reads see staged writes first, then committed state. Commit applies the staged
// writes in write order; Abort drops them. Reads do not change LRU recency, so the
// LRU order is the order of committed writes.
type Partition struct {
	cfg       Config
	lru       *simplelru.LRU[string, *Entity]
	wm        int64 // committed watermark
	stagedWM  int64
	staged    map[string]*Entity
	order     []string // staged keys in first-write order
	restoring bool
}

// NewPartition returns empty state for one partition.
func NewPartition(cfg Config) (*Partition, error) {
	p := &Partition{cfg: cfg, staged: make(map[string]*Entity)}
	l, err := simplelru.NewLRU[string, *Entity](cfg.MaxEntities, p.evicted)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	p.lru = l
	p.wm, p.stagedWM = minTime, minTime
	return p, nil
}

const minTime = -1 << 62

func (p *Partition) evicted(_ string, e *Entity) {
	if p.restoring || p.cfg.OnEarlyEvict == nil {
		return
	}
	if e.Last > p.wm-p.cfg.TTL.Milliseconds() {
		p.cfg.OnEarlyEvict()
	}
}

// Watermark is the largest event time seen, including staged events.
func (p *Partition) Watermark() int64 { return max(p.wm, p.stagedWM) }

// Advance raises the staged watermark to t and returns the new watermark.
func (p *Partition) Advance(t int64) {
	p.stagedWM = max(p.stagedWM, t)
}

// Get returns the entity's current state (staged or committed) or nil if it has
// none or it has expired at watermark wm. The result must not be modified.
func (p *Partition) Get(key string, wm int64) *Entity {
	e, ok := p.staged[key]
	if !ok {
		e, ok = p.lru.Peek(key)
	}
	if !ok || e.Last <= wm-p.cfg.TTL.Milliseconds() {
		return nil
	}
	return e
}

// Stage records a new state for key, visible to Get until Commit or Abort.
func (p *Partition) Stage(key string, e *Entity) {
	if _, ok := p.staged[key]; !ok {
		p.order = append(p.order, key)
	}
	p.staged[key] = e
}

// Staged reports how many entities have staged writes.
func (p *Partition) Staged() int { return len(p.order) }

// Commit applies staged writes. Call it only after the transaction that carried
// their changelog records committed.
func (p *Partition) Commit() {
	p.wm = p.Watermark()
	for _, k := range p.order {
		p.lru.Add(k, p.staged[k])
	}
	p.reset()
}

// Abort drops staged writes.
func (p *Partition) Abort() {
	p.stagedWM = p.wm
	p.reset()
}

func (p *Partition) reset() {
	clear(p.staged)
	p.order = p.order[:0]
}

// Restore applies one committed changelog record; value nil is a tombstone.
// Records must be restored in changelog offset order.
func (p *Partition) Restore(key string, value []byte) error {
	if value == nil {
		p.lru.Remove(key)
		return nil
	}
	e, err := Decode(value)
	if err != nil {
		return fmt.Errorf("restore key %q: %w", key, err)
	}
	p.restoring = true
	p.lru.Add(key, e)
	p.restoring = false
	p.wm = max(p.wm, e.WM)
	p.stagedWM = p.wm
	return nil
}

// Len is the number of committed entities held (expired ones included until
// evicted or overwritten).
func (p *Partition) Len() int { return p.lru.Len() }

// Each calls fn for every committed, unexpired entity, least recent first.
func (p *Partition) Each(fn func(key string, e *Entity)) {
	horizon := p.wm - p.cfg.TTL.Milliseconds()
	for _, k := range p.lru.Keys() {
		if e, ok := p.lru.Peek(k); ok && e.Last > horizon {
			fn(k, e)
		}
	}
}
