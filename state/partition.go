package state

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"
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
//
// # Memory
//
// An entity is held as its changelog encoding (one byte slice, no pointers for
// the garbage collector to follow), decoded on a read into scratch the
// partition reuses. An entity written in the open transaction is held decoded
// and updated in place (Observe); Changes encodes it, and Commit drops the
// decoded form. Abort restores the encoding the entity had, bit for bit.
type Partition struct {
	cfg   Config
	items map[string]*node
	head  *node // least recently written
	tail  *node // most recently written
	wm    int64 // watermark, including the open transaction
	cwm   int64 // committed watermark

	// Decoded entities: read is the last entity Get decoded (of node readNode,
	// which the open transaction has not written); free are entities to reuse.
	read     *Entity
	readNode *node
	free     []*Entity // entities the partition allocated, to reuse (at most maxFree)
	buf      []byte    // encoding scratch

	// Decoded entities kept after Commit, so that the next read of a recently
	// written entity skips decoding its encoding: cached[n] is n's slot in
	// slots, whose entity decodes to exactly n.enc (it is the entity Commit
	// encoded it from). At most maxCached, replaced by CLOCK (second chance):
	// a slot read or written since the hand last passed it is kept once more.
	cached    map[*node]int32
	slots     []slot
	freeSlots []int32 // slots emptied by uncache
	hand      int
	maxCached int // defaultMaxCached; 0: none kept

	// The open transaction.
	undo    []undo
	touched map[string]bool // key -> held when the transaction began
	order   []string        // touched keys in first-touch order
	dirty   []*node         // nodes holding a decoded entity, each once
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
	key string
	// enc is the entity's encoding (bytes that never change, held as a string
	// to keep the node small): as committed, or as Changes last encoded it; ""
	// for an entity new in the open transaction until Changes.
	enc string
	// ent is the entity decoded, when (and only when) the open transaction
	// wrote it: those nodes are the LRU's most recent ones. Its stale field says
	// it changed since enc was made.
	ent        *Entity
	last       int64 // latest event time
	prev, next *node // prev is less recent
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
	// The node's fields before a move.
	enc  string
	ent  *Entity
	last int64
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
		cached: make(map[*node]int32), maxCached: defaultMaxCached, wm: minTime, cwm: minTime}, nil
}

const minTime = -1 << 62

// Watermark is the largest event time seen, including the open transaction's.
func (p *Partition) Watermark() int64 { return p.wm }

// Advance raises the watermark to t (undone by Abort).
func (p *Partition) Advance(t int64) { p.wm = max(p.wm, t) }

// Get returns the entity's current state or nil if it has none or it has expired
// at watermark wm. The result must not be modified, and is valid until the next
// call on the partition.
func (p *Partition) Get(key string, wm int64) *Entity {
	n, ok := p.items[key]
	if !ok || p.expired(n.last, wm) {
		return nil
	}
	return p.entity(n)
}

// entity is n's entity decoded: the one the open transaction wrote, or the read
// scratch.
func (p *Partition) entity(n *node) *Entity {
	if n.ent != nil {
		return n.ent
	}
	if e := p.cachedEntity(n); e != nil {
		return e
	}
	if p.readNode != n {
		if p.read == nil {
			p.read = p.alloc()
		}
		p.decodeHeld(p.read, n)
		p.readNode = n
	}
	return p.read
}

// decodeHeld decodes n's encoding into e.
func (p *Partition) decodeHeld(e *Entity, n *node) {
	if _, err := e.decode(p.cfg.Layout, bytesOf(n.enc), true); err != nil {
		// The partition wrote it, or Restore checked it.
		panic(fmt.Sprintf("state: entity %q held in a form that does not decode: %v", n.key, err))
	}
}

// alloc returns an empty entity the partition owns.
func (p *Partition) alloc() *Entity {
	if k := len(p.free); k > 0 {
		e := p.free[k-1]
		p.free = p.free[:k-1]
		return e
	}
	e := newEntity(p.cfg.Layout)
	e.owner = p
	return e
}

// maxFree bounds the entities kept for reuse (a transaction writing more
// entities than that allocates the rest anew).
const maxFree = 512

// slot is a kept decoded entity: e decodes to n.enc. ref says it was used
// since the CLOCK hand last passed. An empty slot has n nil.
type slot struct {
	n   *node
	e   *Entity
	ref bool
}

// defaultMaxCached bounds the decoded entities a partition keeps after Commit
// (a decoded demo entity is about 1-2 KB).
const defaultMaxCached = 1024

// cachedEntity returns n's kept decoded entity, marking it used, or nil.
func (p *Partition) cachedEntity(n *node) *Entity {
	i, ok := p.cached[n]
	if !ok {
		return nil
	}
	s := &p.slots[i]
	s.ref = true
	return s.e
}

// cache keeps e, which the partition owns and which decodes to n.enc, as n's
// decoded entity; when all maxCached slots are taken, it replaces the first
// one the CLOCK hand finds unused since it last passed.
func (p *Partition) cache(n *node, e *Entity) {
	if i, ok := p.cached[n]; ok {
		s := &p.slots[i]
		if s.e != e {
			p.release(s.e)
		}
		s.e, s.ref = e, true
		return
	}
	if p.maxCached <= 0 {
		p.release(e)
		return
	}
	var i int32
	switch {
	case len(p.freeSlots) > 0:
		i = p.freeSlots[len(p.freeSlots)-1]
		p.freeSlots = p.freeSlots[:len(p.freeSlots)-1]
	case len(p.slots) < p.maxCached:
		i = int32(len(p.slots))
		p.slots = append(p.slots, slot{})
	default: // every slot is taken (free ones are used first)
		for p.slots[p.hand].ref {
			p.slots[p.hand].ref = false
			p.hand = (p.hand + 1) % len(p.slots)
		}
		i = int32(p.hand)
		p.hand = (p.hand + 1) % len(p.slots)
		old := &p.slots[i]
		delete(p.cached, old.n)
		p.release(old.e)
	}
	p.slots[i] = slot{n: n, e: e, ref: true}
	p.cached[n] = i
}

// uncache drops n's kept decoded entity, if any.
func (p *Partition) uncache(n *node) { p.release(p.takeCached(n)) }

// takeCached removes n's kept decoded entity, if any, and returns it.
func (p *Partition) takeCached(n *node) *Entity {
	i, ok := p.cached[n]
	if !ok {
		return nil
	}
	e := p.slots[i].e
	p.slots[i] = slot{}
	delete(p.cached, n)
	p.freeSlots = append(p.freeSlots, i)
	return e
}

// release makes e, if the partition allocated it, reusable.
func (p *Partition) release(e *Entity) {
	if e != nil && e.owner == p && e != p.read && len(p.free) < maxFree {
		p.free = append(p.free, e)
	}
}

func (p *Partition) expired(last, wm int64) bool { return last <= wm-p.cfg.TTL.Milliseconds() }

// Stage writes key's new state e as the most recent entry, then evicts the least
// recent entries beyond MaxEntities and sweeps expired ones at the watermark.
// Call Advance with the event's time first. The partition keeps e: the caller
// must not change it afterwards.
//
// key is not retained: the partition keeps its own copy of a new entity's key,
// so a caller may pass a string that shares a record's memory or lives on its
// stack.
func (p *Partition) Stage(key string, e *Entity) {
	n, ok := p.items[key]
	if ok {
		p.uncache(n)
		p.move(n)
	} else {
		n = p.insert(strings.Clone(key))
	}
	p.set(n, e)
	p.evict()
}

// Observe adds the event o to key's state in place, as Stage(key,
// Get(key, Watermark()).Observe(layout, o, Watermark())) would, without a copy
// of the entity. Call Advance with the event's time first.
func (p *Partition) Observe(key string, o *Obs) {
	l := p.cfg.Layout
	n, ok := p.items[key]
	var e *Entity
	switch {
	case !ok:
		n = p.insert(strings.Clone(key))
	case p.expired(n.last, p.wm):
		p.uncache(n)
		p.move(n)
	default:
		e = n.ent
		if e == nil && p.readNode == n { // Get decoded it: take the scratch
			e, p.read, p.readNode = p.read, nil, nil
		}
		if e == nil { // take the kept decoding
			e = p.takeCached(n)
		}
		if e == nil {
			e = p.alloc()
			p.decodeHeld(e, n)
		}
		p.move(n)
	}
	if e == nil { // a new entity, or an expired one that reads as new
		e = p.alloc()
		e.reset(o.T)
	}
	e.observe(l, o, p.wm)
	p.set(n, e)
	p.evict()
}

// set makes e n's entity in the open transaction.
func (p *Partition) set(n *node, e *Entity) {
	if n.ent == nil {
		p.dirty = append(p.dirty, n)
	} else if n.ent != e {
		p.release(n.ent) // an earlier write of this transaction; its undo holds no data
	}
	if e == p.read { // the caller staged the read scratch itself: it is n's now
		p.read, p.readNode = nil, nil
	}
	e.stale = true
	n.ent, n.last = e, e.Last
	if p.readNode == n {
		p.readNode = nil
	}
}

// evict drops the least recent entries beyond MaxEntities, then expired ones.
func (p *Partition) evict() {
	for len(p.items) > p.cfg.MaxEntities {
		if !p.expired(p.head.last, p.wm) {
			p.early++
		}
		p.remove(p.head, true)
	}
	// The entry just written stays even if it has expired: it carries the
	// watermark into the changelog (Restore takes the largest it reads).
	for p.head != p.tail && p.expired(p.head.last, p.wm) {
		p.remove(p.head, true)
	}
}

func (p *Partition) touch(key string, held bool) {
	if _, ok := p.touched[key]; !ok {
		p.touched[key] = held
		p.order = append(p.order, key)
	}
}

// insert adds a new node for key (which it keeps) at the tail, in the open
// transaction.
func (p *Partition) insert(key string) *node {
	n := &node{key: key}
	p.items[key] = n
	p.link(n, p.tail)
	p.touch(key, false)
	p.undo = append(p.undo, undo{kind: undoInsert, n: n})
	return n
}

// move moves n to the tail in the open transaction, to be rewritten.
func (p *Partition) move(n *node) {
	p.touch(n.key, true)
	p.undo = append(p.undo, undo{kind: undoMove, n: n, after: n.prev, enc: n.enc, ent: n.ent, last: n.last})
	p.unlink(n)
	p.link(n, p.tail)
}

func (p *Partition) remove(n *node, log bool) {
	if log {
		p.touch(n.key, true)
		p.undo = append(p.undo, undo{kind: undoRemove, n: n, after: n.prev})
	}
	if p.readNode == n {
		p.readNode = nil
	}
	p.uncache(n)
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
// to the changelog: first a tombstone (value nil) for every entity held when the
// transaction began and no longer held, then the encoding (AppendBinary) of the
// final state of every entity the transaction wrote and still holds, least
// recently written first. The values are the partition's own and never change:
// fn may keep them but must not modify them. Call it before Commit.
func (p *Partition) Changes(fn func(key string, value []byte)) {
	for _, k := range p.order {
		if _, ok := p.items[k]; !ok && p.touched[k] {
			fn(k, nil)
		}
	}
	first := p.tail
	for first != nil && first.prev != nil && first.prev.ent != nil {
		first = first.prev
	}
	for n := first; n != nil && n.ent != nil; n = n.next {
		p.encode(n)
		fn(n.key, bytesOf(n.enc))
	}
}

// encode brings n.enc up to date with n.ent, in a new slice (the old one may be
// an undo's or a changelog record's).
func (p *Partition) encode(n *node) {
	if n.ent != nil && n.ent.stale {
		n.enc = p.exact(n.ent)
		n.ent.stale = false
	}
}

// exact is e's encoding in new memory of just its length.
func (p *Partition) exact(e *Entity) string {
	p.buf = e.AppendBinary(p.buf[:0])
	return string(p.buf)
}

// bytesOf is s's bytes, which must not be modified.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// Commit keeps the open transaction's writes. Call it only after the transaction
// that carried their changelog records committed.
func (p *Partition) Commit() {
	if p.cfg.OnEarlyEvict != nil {
		for range p.early {
			p.cfg.OnEarlyEvict()
		}
	}
	for _, n := range p.dirty {
		held := p.items[n.key] == n // not evicted or expired since
		if held {
			p.encode(n)
		}
		if held && n.ent.owner == p {
			p.cache(n, n.ent)
		} else {
			p.release(n.ent)
		}
		n.ent = nil
	}
	p.cwm = p.wm
	p.reset()
}

// Abort undoes the open transaction's writes, evictions and expiries.
func (p *Partition) Abort() {
	for _, n := range p.dirty {
		p.release(n.ent)
	}
	for i := len(p.undo) - 1; i >= 0; i-- {
		u := &p.undo[i]
		switch u.kind {
		case undoInsert:
			p.unlink(u.n)
			delete(p.items, u.n.key)
		case undoMove:
			p.unlink(u.n)
			u.n.enc, u.n.ent, u.n.last = u.enc, u.ent, u.last
			p.link(u.n, u.after)
		case undoRemove:
			p.items[u.n.key] = u.n
			p.link(u.n, u.after)
		}
	}
	p.readNode = nil
	p.wm = p.cwm
	p.reset()
}

func (p *Partition) reset() {
	clear(p.undo) // drop the node and entity references
	p.undo = p.undo[:0]
	clear(p.touched)
	p.order = p.order[:0]
	clear(p.dirty)
	p.dirty = p.dirty[:0]
	p.early = 0
}

// Restore applies one committed changelog record; value nil is a tombstone.
// Records must be restored in changelog offset order, outside a transaction. A
// value that does not decode leaves the entity empty (it reads as new) and is
// reported as an error wrapping ErrCorrupt; restoring may go on. value is not
// retained.
func (p *Partition) Restore(key string, value []byte) error {
	if value == nil {
		if n, ok := p.items[key]; ok {
			p.remove(n, false)
		}
		return nil
	}
	l := p.cfg.Layout
	var (
		e   *Entity
		up  Upgrade
		err error
	)
	if len(value) > 0 && value[0] == encodingV1 {
		e, up, err = decodeV1(l, value)
	} else {
		if p.read == nil {
			p.read = p.alloc()
		}
		p.readNode = nil
		e = p.read
		up, err = e.decode(l, value, true)
	}
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
	n, ok := p.items[key]
	if ok {
		if p.readNode == n {
			p.readNode = nil
		}
		p.uncache(n)
		p.unlink(n)
		p.link(n, p.tail)
	} else {
		n = &node{key: strings.Clone(key)}
		p.items[n.key] = n
		p.link(n, p.tail)
	}
	// The encoding, in a slice of its own (the value may share a fetched
	// batch's memory): the value itself when it is what AppendBinary gives.
	if value[0] == encodingV3 && up == (Upgrade{}) {
		n.enc = string(value)
	} else {
		n.enc = p.exact(e)
	}
	n.last = e.Last
	for len(p.items) > p.cfg.MaxEntities { // only when max_entities shrank
		p.remove(p.head, false)
	}
	p.wm = max(p.wm, e.WM)
	p.cwm = p.wm
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
// rebuilds the same LRU (a checkpoint can be taken this way). The entity passed
// to fn is valid only during the call.
func (p *Partition) Range(fn func(key string, e *Entity) bool) {
	for n := p.head; n != nil; n = n.next {
		if !fn(n.key, p.entity(n)) {
			return
		}
	}
}

// RangeEncoded is Range with each entity's encoding (AppendBinary), which fn
// must not modify.
func (p *Partition) RangeEncoded(fn func(key string, value []byte) bool) {
	for n := p.head; n != nil; n = n.next {
		p.encode(n)
		if !fn(n.key, bytesOf(n.enc)) {
			return
		}
	}
}

// Each calls fn for every unexpired entity, least recently written first. The
// entity passed to fn is valid only during the call.
func (p *Partition) Each(fn func(key string, e *Entity)) {
	for n := p.head; n != nil; n = n.next {
		if !p.expired(n.last, p.wm) {
			fn(n.key, p.entity(n))
		}
	}
}
