package state

import (
	"errors"
	"fmt"
	"strings"
)

// Config bounds a partition's state.
type Config struct {
	Limits
	MaxEntities int
	// OnEarlyEvict is called, when a transaction commits, once for every entity it
	// evicted from the LRU before the entity had expired.
	OnEarlyEvict func()
}

// Partition is the state of one input partition. It is owned by one goroutine
// (the transactional loop) and is not safe for concurrent use.
//
// # Transactions
//
// Writes (Stage) apply at once to the partition's LRU — a later read in the same
// transaction sees them, and a write evicts exactly what it would evict had every
// earlier record been committed on its own — and are logged so that Abort undoes
// them exactly (values, LRU order, evictions, expiries, watermark). Commit forgets
// the log. So the state after a transaction does not depend on where transaction
// boundaries fall: a fault-free pass committing record by record and a live loop
// committing every hundred records hold the same entities in the same order.
//
// Reads do not change LRU recency: the LRU order is the order of writes, which is
// offset order.
//
// # Changelog
//
// Changes lists what the open transaction changed, one entry per entity: a
// tombstone for an entity that was held when the transaction began and is gone
// (evicted or expired), then the final state of every entity written, least
// recently written first. Restoring those entries in that order (Restore)
// reproduces the partition exactly, LRU order included, without any eviction.
//
// # Expiry
//
// An entity whose latest event is at or before watermark-TTL has expired: Get
// returns nil for it. After every write, expired entities at the least recent end
// of the LRU are removed (and tombstoned), stopping at the first unexpired one or
// the entry just written.
// The sweep runs per write, so it too is independent of transaction boundaries.
type Partition struct {
	cfg   Config
	items map[string]*node
	head  *node // least recently written
	tail  *node // most recently written
	wm    int64 // watermark, including the open transaction
	cwm   int64 // committed watermark
	epoch uint64

	// The open transaction.
	undo    []undo
	touched map[string]bool // key -> held when the transaction began
	order   []string        // touched keys in first-touch order
	early   int             // early evictions

	upgrades Upgrades
}

// Upgrades count the records Restore converted.
type Upgrades struct {
	FromV1       int // version-1 values converted
	StartedEmpty int // values lacking an aggregate of the layout (a spec change), which started empty
}

// Upgrades reports what Restore converted so far.
func (p *Partition) Upgrades() Upgrades { return p.upgrades }

type node struct {
	key        string
	e          *Entity
	epoch      uint64 // transaction that last wrote it
	prev, next *node  // prev is less recent
}

type undoKind uint8

const (
	undoInsert undoKind = iota // a new node went to the tail
	undoMove                   // an existing node was rewritten and moved to the tail
	undoRemove                 // a node was evicted or expired
)

type undo struct {
	kind  undoKind
	n     *node
	after *node // the node's less recent neighbour before the change; nil: it was the head
	e     *Entity
	epoch uint64
}

// NewPartition returns empty state for one partition.
func NewPartition(cfg Config) (*Partition, error) {
	if cfg.MaxEntities <= 0 {
		return nil, errors.New("state: max entities must be > 0")
	}
	if cfg.Layout == nil {
		cfg.Layout = (&Layout{}).Prepare()
	}
	return &Partition{cfg: cfg, items: make(map[string]*node), touched: make(map[string]bool),
		wm: minTime, cwm: minTime, epoch: 1}, nil
}

const minTime = -1 << 62

// Watermark is the largest event time seen, including the open transaction's.
func (p *Partition) Watermark() int64 { return p.wm }

// Advance raises the watermark to t (undone by Abort).
func (p *Partition) Advance(t int64) { p.wm = max(p.wm, t) }

// Get returns the entity's current state or nil if it has none or it has expired
// at watermark wm. The result must not be modified.
func (p *Partition) Get(key string, wm int64) *Entity {
	n, ok := p.items[key]
	if !ok || p.expired(n.e, wm) {
		return nil
	}
	return n.e
}

func (p *Partition) expired(e *Entity, wm int64) bool { return e.Last <= wm-p.cfg.TTL.Milliseconds() }

// Stage writes key's new state as the most recent entry, then evicts the least
// recent entries beyond MaxEntities and sweeps expired ones at the watermark.
// Call Advance with the event's time first.
//
// key is not retained: the partition keeps its own copy of a new entity's key,
// so a caller may pass a string that shares a record's memory or lives on its
// stack.
func (p *Partition) Stage(key string, e *Entity) {
	if n, ok := p.items[key]; ok {
		p.move(n, e, true)
	} else {
		p.insert(strings.Clone(key), e, true)
	}
	for len(p.items) > p.cfg.MaxEntities {
		if !p.expired(p.head.e, p.wm) {
			p.early++
		}
		p.remove(p.head, true)
	}
	// The entry just written stays even if it has expired: it carries the
	// watermark into the changelog (Restore takes the largest it reads).
	for p.head != p.tail && p.expired(p.head.e, p.wm) {
		p.remove(p.head, true)
	}
}

func (p *Partition) touch(key string, held bool) {
	if _, ok := p.touched[key]; !ok {
		p.touched[key] = held
		p.order = append(p.order, key)
	}
}

func (p *Partition) put(key string, e *Entity, log bool) {
	if n, ok := p.items[key]; ok {
		p.move(n, e, log)
	} else {
		p.insert(key, e, log)
	}
}

// insert adds a new node for key (which it keeps) at the tail.
func (p *Partition) insert(key string, e *Entity, log bool) {
	n := &node{key: key, e: e, epoch: p.epoch}
	p.items[key] = n
	p.link(n, p.tail)
	if log {
		p.touch(key, false)
		p.undo = append(p.undo, undo{kind: undoInsert, n: n})
	}
}

// move rewrites n and moves it to the tail.
func (p *Partition) move(n *node, e *Entity, log bool) {
	if log {
		p.touch(n.key, true)
		p.undo = append(p.undo, undo{kind: undoMove, n: n, after: n.prev, e: n.e, epoch: n.epoch})
	}
	p.unlink(n)
	n.e, n.epoch = e, p.epoch
	p.link(n, p.tail)
}

func (p *Partition) remove(n *node, log bool) {
	if log {
		p.touch(n.key, true)
		p.undo = append(p.undo, undo{kind: undoRemove, n: n, after: n.prev})
	}
	p.unlink(n)
	delete(p.items, n.key)
}

// link puts n right after (more recent than) after; after nil: at the head.
func (p *Partition) link(n, after *node) {
	n.prev = after
	if after == nil {
		n.next = p.head
		p.head = n
	} else {
		n.next = after.next
		after.next = n
	}
	if n.next == nil {
		p.tail = n
	} else {
		n.next.prev = n
	}
}

func (p *Partition) unlink(n *node) {
	if n.prev == nil {
		p.head = n.next
	} else {
		n.prev.next = n.next
	}
	if n.next == nil {
		p.tail = n.prev
	} else {
		n.next.prev = n.prev
	}
	n.prev, n.next = nil, nil
}

// Staged reports how many entities the open transaction changed.
func (p *Partition) Staged() int { return len(p.order) }

// Changes calls fn for what the open transaction changed, in the order to write it
// to the changelog: first a tombstone (e nil) for every entity held when the
// transaction began and no longer held, then the final state of every entity the
// transaction wrote and still holds, least recently written first. Call it before
// Commit.
func (p *Partition) Changes(fn func(key string, e *Entity)) {
	for _, k := range p.order {
		if _, ok := p.items[k]; !ok && p.touched[k] {
			fn(k, nil)
		}
	}
	first := p.tail
	for first != nil && first.prev != nil && first.prev.epoch == p.epoch {
		first = first.prev
	}
	for n := first; n != nil && n.epoch == p.epoch; n = n.next {
		fn(n.key, n.e)
	}
}

// Commit keeps the open transaction's writes. Call it only after the transaction
// that carried their changelog records committed.
func (p *Partition) Commit() {
	if p.cfg.OnEarlyEvict != nil {
		for range p.early {
			p.cfg.OnEarlyEvict()
		}
	}
	p.cwm = p.wm
	p.reset()
}

// Abort undoes the open transaction's writes, evictions and expiries.
func (p *Partition) Abort() {
	for i := len(p.undo) - 1; i >= 0; i-- {
		u := &p.undo[i]
		switch u.kind {
		case undoInsert:
			p.unlink(u.n)
			delete(p.items, u.n.key)
		case undoMove:
			p.unlink(u.n)
			u.n.e, u.n.epoch = u.e, u.epoch
			p.link(u.n, u.after)
		case undoRemove:
			p.items[u.n.key] = u.n
			p.link(u.n, u.after)
		}
	}
	p.wm = p.cwm
	p.reset()
}

func (p *Partition) reset() {
	clear(p.undo) // drop the node and entity references
	p.undo = p.undo[:0]
	clear(p.touched)
	p.order = p.order[:0]
	p.early = 0
	p.epoch++
}

// Restore applies one committed changelog record; value nil is a tombstone.
// Records must be restored in changelog offset order, outside a transaction. A
// value that does not decode leaves the entity empty (it reads as new) and is
// reported as an error wrapping ErrCorrupt; restoring may go on.
func (p *Partition) Restore(key string, value []byte) error {
	if value == nil {
		if n, ok := p.items[key]; ok {
			p.remove(n, false)
		}
		return nil
	}
	e, up, err := Decode(p.cfg.Layout, value)
	if up.FromV1 {
		p.upgrades.FromV1++
	}
	if up.StartedEmpty > 0 {
		p.upgrades.StartedEmpty++
	}
	if err != nil {
		if n, ok := p.items[key]; ok {
			p.remove(n, false)
		}
		return fmt.Errorf("restore key %q: %w", key, err)
	}
	p.put(key, e, false)
	for len(p.items) > p.cfg.MaxEntities { // only when max_entities shrank
		p.remove(p.head, false)
	}
	p.wm = max(p.wm, e.WM)
	p.cwm = p.wm
	p.epoch++ // a later transaction's Changes must not list restored entities
	return nil
}

// RestoreWatermark raises the watermark to at least wm outside a transaction:
// a checkpoint's watermark, which its entities need not carry (the entity that
// raised it may have been evicted since).
func (p *Partition) RestoreWatermark(wm int64) {
	p.wm = max(p.wm, wm)
	p.cwm = p.wm
}

// Len is the number of entities held (expired ones included until swept or
// evicted).
func (p *Partition) Len() int { return len(p.items) }

// Range calls fn for every entity held, expired ones included, least recently
// written first, until fn returns false. Restoring the entities in that order
// rebuilds the same LRU (a checkpoint can be taken this way).
func (p *Partition) Range(fn func(key string, e *Entity) bool) {
	for n := p.head; n != nil; n = n.next {
		if !fn(n.key, n.e) {
			return
		}
	}
}

// Each calls fn for every unexpired entity, least recently written first.
func (p *Partition) Each(fn func(key string, e *Entity)) {
	for n := p.head; n != nil; n = n.next {
		if !p.expired(n.e, p.wm) {
			fn(n.key, n.e)
		}
	}
}
