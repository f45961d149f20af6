// Package gen generates a deterministic stream of synthetic card payments with
// planted fraud and, on request, deliberately malformed records.
//
// The same Config (and Seed) always yields the same events and the same bytes:
// all randomness comes from math/rand/v2 PCG sources seeded from Config.Seed and
// time is simulated event time, never the wall clock. That makes a generated
// stream a fixture: a test, a benchmark and the live demo can all replay it.
//
// The world: Cards cards, each with a home country, a typical amount
// (lognormal), a usual set of 3-8 merchants in its home country, a channel
// preference and, for most cards, a device of a certain age. Payments arrive as a
// Poisson process of EventsPerSecond in event time, interleaving cards. Now and
// then a card is compromised and a fraud episode follows, its events marked
// Fraud=true with the name of the Pattern:
//
//   - burst: 5-20 transactions within at most five minutes and at ten times
//     the card's usual rate or more, card not present, mostly from a new
//     device, at one to three merchants.
//   - unusual_amount: one to three transactions of 10-50 times the card's
//     typical amount.
//   - new_merchants: a run of 4-12 transactions at merchants the card has never
//     used, in a foreign country seven times out of ten.
//
// Episode timing scales with the card's own rate, which is
// EventsPerSecond/Cards on average (one transaction every 20 s per card at the
// defaults: simulated time is compressed).
//
// Legitimate traffic has some of the same traits (cardholders travel, try a new
// shop, pay online), so the patterns can be learned but are not trivially
// separable.
package gen

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// Fraud pattern names, as found in Event.Pattern.
const (
	PatternBurst         = "burst"
	PatternUnusualAmount = "unusual_amount"
	PatternNewMerchants  = "new_merchants"
)

// Patterns returns the fraud pattern names.
func Patterns() []string {
	return []string{PatternBurst, PatternUnusualAmount, PatternNewMerchants}
}

// Config configures a Generator. The zero value of each field means its
// default.
type Config struct {
	// Seed selects the stream. Same Seed, same Config: same events, same bytes.
	Seed int64
	// Cards is the number of cards (default 1000).
	Cards int
	// FraudRate is the share of cards that turn fraudulent during a run in
	// which each card makes about ten transactions (the default 10,000 events
	// over 1,000 cards), and the share of fraud events in a long stream
	// (a short one has somewhat less: episodes take time to play out).
	// Default 0.02; a negative value disables fraud; at most 0.5.
	FraudRate float64
	// MalformedRate is the share of records NextRecord deliberately malforms
	// (default 0; at most 1). The malformed draws use their own random source,
	// so changing MalformedRate does not change the events.
	MalformedRate float64
	// Start is the event time of the beginning of the stream
	// (default 2026-01-01T00:00:00Z).
	Start time.Time
	// EventsPerSecond is the mean rate of events in simulated event time
	// (default 50). It is not a wall-clock rate.
	EventsPerSecond float64
	// SchemaID is the registry id framed into every well-formed record.
	SchemaID int
	// StreamSeed, when nonzero, draws the events from this seed while the world
	// (cards, merchants) still comes from Seed: another sample of the same
	// population, as a validation set is of the traffic a model serves.
	StreamSeed int64
	// DriftAt, when > 0, shifts the stream's distribution after that many
	// events: every later event's amount is multiplied by DriftFactor (default
	// 4). It stands for an upstream change (a unit, a new source) that the
	// drift monitoring must catch; the events' other fields are unchanged.
	DriftAt     int
	DriftFactor float64
	// SchemaVersion selects the writer schema NextRecord encodes with:
	// 1 for Schema (default), 2 for SchemaV2. SchemaID must be the id of that
	// schema.
	SchemaVersion int
}

// Defaults of Config.
const (
	DefaultCards           = 1000
	DefaultFraudRate       = 0.02
	DefaultEventsPerSecond = 50
)

// DefaultStart is the default Config.Start.
func DefaultStart() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

func (c *Config) setDefaults() error {
	if c.Cards == 0 {
		c.Cards = DefaultCards
	}
	if c.FraudRate == 0 {
		c.FraudRate = DefaultFraudRate
	}
	if c.FraudRate < 0 {
		c.FraudRate = 0
	}
	if c.Start.IsZero() {
		c.Start = DefaultStart()
	}
	if c.EventsPerSecond == 0 {
		c.EventsPerSecond = DefaultEventsPerSecond
	}
	if c.SchemaVersion == 0 {
		c.SchemaVersion = 1
	}
	if c.DriftFactor == 0 {
		c.DriftFactor = 4
	}
	if c.DriftAt < 0 || math.IsNaN(c.DriftFactor) || math.IsInf(c.DriftFactor, 0) || c.DriftFactor <= 0 {
		return fmt.Errorf("drift: at must be >= 0 and factor a positive number, got %d and %v", c.DriftAt, c.DriftFactor)
	}
	var errs []error
	if c.Cards < 1 {
		errs = append(errs, fmt.Errorf("cards: must be > 0, got %d", c.Cards))
	}
	if math.IsNaN(c.FraudRate) || c.FraudRate > 0.5 {
		errs = append(errs, fmt.Errorf("fraud rate: must be at most 0.5, got %v", c.FraudRate))
	}
	if math.IsNaN(c.MalformedRate) || c.MalformedRate < 0 || c.MalformedRate > 1 {
		errs = append(errs, fmt.Errorf("malformed rate: must be in [0, 1], got %v", c.MalformedRate))
	}
	if math.IsNaN(c.EventsPerSecond) || math.IsInf(c.EventsPerSecond, 0) || c.EventsPerSecond < 0 {
		errs = append(errs, fmt.Errorf("events per second: must be > 0, got %v", c.EventsPerSecond))
	}
	if c.SchemaID < 0 || c.SchemaID > math.MaxInt32 {
		errs = append(errs, fmt.Errorf("schema id: must be in [0, %d], got %d", math.MaxInt32, c.SchemaID))
	}
	if c.SchemaVersion != 1 && c.SchemaVersion != 2 {
		errs = append(errs, fmt.Errorf("schema version: must be 1 or 2, got %d", c.SchemaVersion))
	}
	return errors.Join(errs...)
}

// Event is one generated payment. Fraud and Pattern are the ground truth; they
// are not part of the Avro record.
type Event struct {
	EventID          string
	CardID           string
	EventTime        time.Time // UTC, whole milliseconds
	Amount           float64   // in Currency, rounded to cents
	Currency         string
	MerchantID       string
	MerchantCategory string
	MerchantCountry  string
	Channel          *string // nil: not known
	DeviceAgeDays    *int32  // nil: no device bound to the card
	Fraud            bool
	Pattern          string // fraud pattern name; "" when not fraud
}

// Native returns the event in goavro's native form for Schema: unions as
// map[string]any{"string": v} (or nil), event_time as a time.Time.
func (e Event) Native() map[string]any {
	return map[string]any{
		"event_id":   e.EventID,
		"card_id":    e.CardID,
		"event_time": e.EventTime,
		"amount":     e.Amount,
		"currency":   e.Currency,
		"merchant": map[string]any{
			"id":       e.MerchantID,
			"category": e.MerchantCategory,
			"country":  e.MerchantCountry,
		},
		"channel":         e.nativeChannel(),
		"device_age_days": e.nativeDeviceAge(),
	}
}

// NativeV2 returns the event in goavro's native form for SchemaV2.
func (e Event) NativeV2() map[string]any {
	flags := e.RiskFlags()
	items := make([]any, len(flags))
	for i, f := range flags {
		items[i] = f
	}
	return map[string]any{
		"card_id":  e.CardID,
		"event_id": e.EventID,
		"merchant": map[string]any{
			"id":       e.MerchantID,
			"category": e.MerchantCategory,
			"country":  e.MerchantCountry,
		},
		"amount":          e.Amount,
		"event_time":      e.EventTime,
		"risk_flags":      items,
		"device_age_days": e.nativeDeviceAge(),
		"channel":         e.nativeChannel(),
	}
}

func (e Event) nativeChannel() any {
	if e.Channel == nil {
		return nil
	}
	return map[string]any{"string": *e.Channel}
}

func (e Event) nativeDeviceAge() any {
	if e.DeviceAgeDays == nil {
		return nil
	}
	return map[string]any{"int": *e.DeviceAgeDays}
}

// Risk flags of SchemaV2's risk_flags field.
const (
	RiskNewDevice      = "new_device"       // device bound less than 7 days ago
	RiskHighAmount     = "high_amount"      // amount of 1000 or more
	RiskNight          = "night"            // 00:00-05:59 UTC
	RiskCardNotPresent = "card_not_present" // channel ecom or moto
)

// RiskFlags returns the risk_flags SchemaV2 carries for the event: the flags
// an upstream system would derive from the event alone, in a fixed order.
func (e Event) RiskFlags() []string {
	var buf [4]string
	return slices.Clone(e.appendRiskFlags(buf[:0]))
}

func (e Event) appendRiskFlags(dst []string) []string {
	if e.DeviceAgeDays != nil && *e.DeviceAgeDays < 7 {
		dst = append(dst, RiskNewDevice)
	}
	if e.Amount >= 1000 {
		dst = append(dst, RiskHighAmount)
	}
	if e.EventTime.Hour() < 6 {
		dst = append(dst, RiskNight)
	}
	if e.Channel != nil && (*e.Channel == channelEcom || *e.Channel == channelMOTO) {
		dst = append(dst, RiskCardNotPresent)
	}
	return dst
}

// The world's fixed tables.

type countryInfo struct{ code, currency string }

// countries: the first six are home countries (weights in homeWeights).
var countries = [...]countryInfo{
	{"US", "USD"}, {"GB", "GBP"}, {"DE", "EUR"}, {"FR", "EUR"}, {"NL", "EUR"}, {"ES", "EUR"},
	{"IT", "EUR"}, {"SE", "SEK"}, {"PL", "PLN"}, {"JP", "JPY"}, {"CA", "CAD"}, {"AU", "AUD"},
	{"BR", "BRL"}, {"IN", "INR"}, {"MX", "MXN"}, {"TR", "TRY"},
}

var homeWeights = [...]float64{0.34, 0.18, 0.16, 0.14, 0.09, 0.09}

var categories = [...]string{
	"grocery", "restaurant", "fuel", "pharmacy", "fashion", "transport",
	"entertainment", "electronics", "travel", "digital_goods", "jewelry", "gambling",
}

// categoryWeights: everyday spending dominates.
var categoryWeights = [...]float64{0.22, 0.18, 0.10, 0.07, 0.08, 0.08, 0.06, 0.05, 0.05, 0.06, 0.02, 0.03}

const (
	channelPOS         = "pos"
	channelContactless = "contactless"
	channelEcom        = "ecom"
	channelMOTO        = "moto"
)

var channels = [...]string{channelPOS, channelContactless, channelEcom, channelMOTO}

var channelWeights = [...]float64{0.35, 0.35, 0.25, 0.05}

const merchantsPerCountry = 400

type merchant struct {
	id, category string
	country      int
}

type card struct {
	id         string
	home       int
	typical    float64
	usual      []*merchant
	explored   []*merchant // off-usual merchants the card has used, at most maxExplored
	channel    int         // index into channels; -1: channel not known
	hasDevice  bool
	deviceBase int32       // device age in days at Start
	fraudSeen  []*merchant // merchants of the card's fraud episodes so far
	busyUntil  int64       // ns offset: end of the current fraud episode plus a cooldown
	gap        float64     // mean ns between the card's background transactions
}

const maxExplored = 48

// pending is a scheduled fraud event.
type pending struct {
	at  int64 // ns since Start
	seq uint64
	ev  Event
}

type pendingHeap []pending

func (h pendingHeap) Len() int { return len(h) }
func (h pendingHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h pendingHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pendingHeap) Push(x any)   { *h = append(*h, x.(pending)) }
func (h *pendingHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// meanEpisodeEvents is the expected number of events of one fraud episode:
// 0.40*12.5 (burst) + 0.25*2 (unusual_amount) + 0.35*8 (new_merchants).
const meanEpisodeEvents = 0.40*12.5 + 0.25*2 + 0.35*8

// Generator produces the stream. It is not safe for concurrent use.
type Generator struct {
	cfg       Config
	rng       *rand.Rand // events
	mrng      *rand.Rand // malformed draws
	startMS   int64
	merchants [len(countries)][]merchant
	cards     []card
	cumWeight []float64 // cumulative card activity, for picking a card
	next      int64     // ns offset of the next background event
	meanGapNS float64
	onsetProb float64
	pending   pendingHeap
	seq       uint64
	emitted   int // events returned by Next
}

// New builds the world for cfg and returns a Generator positioned at the
// first event.
func New(cfg Config) (*Generator, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, fmt.Errorf("gen: %w", err)
	}
	seed := uint64(cfg.Seed)
	g := &Generator{
		cfg:     cfg,
		rng:     rand.New(rand.NewPCG(seed, 0x5c0e5eed)),
		mrng:    rand.New(rand.NewPCG(seed, 0xbadbad)),
		startMS: cfg.Start.UnixMilli(),
	}
	f := cfg.FraudRate
	// A share f of fraud events needs onsetProb*mean/(1+onsetProb*mean) = f,
	// corrected for the background events of cards already in an episode or
	// its cooldown, which cannot start one (measured: about a tenth).
	g.onsetProb = 1.1 * f / (meanEpisodeEvents * (1 - f))
	// Background events are (1-f) of all events.
	g.meanGapNS = 1e9 / (cfg.EventsPerSecond * (1 - f))

	for c := range countries {
		ms := make([]merchant, merchantsPerCountry)
		for i := range ms {
			ms[i] = merchant{
				id:       "m-" + countries[c].code + "-" + pad(i, 4),
				category: categories[pickWeighted(g.rng, categoryWeights[:])],
				country:  c,
			}
		}
		g.merchants[c] = ms
	}

	g.cards = make([]card, cfg.Cards)
	g.cumWeight = make([]float64, cfg.Cards)
	sum := 0.0
	for i := range g.cards {
		c := &g.cards[i]
		c.id = "card-" + pad(i, 6)
		c.home = pickWeighted(g.rng, homeWeights[:])
		c.typical = math.Exp(3.4 + 0.8*g.rng.NormFloat64())
		n := 3 + g.rng.IntN(6)
		c.usual = make([]*merchant, 0, n)
		for len(c.usual) < n {
			m := &g.merchants[c.home][g.rng.IntN(merchantsPerCountry)]
			if !slices.Contains(c.usual, m) {
				c.usual = append(c.usual, m)
			}
		}
		c.channel = pickWeighted(g.rng, channelWeights[:])
		if g.rng.Float64() < 0.08 {
			c.channel = -1
		}
		c.hasDevice = g.rng.Float64() < 0.75
		c.deviceBase = int32(7 + g.rng.IntN(1500))
		w := math.Exp(0.7 * g.rng.NormFloat64()) // activity: some cards are busier
		c.gap = w
		sum += w
		g.cumWeight[i] = sum
	}
	for i := range g.cards {
		// Mean time between the card's own background transactions.
		g.cards[i].gap = g.meanGapNS * sum / g.cards[i].gap
	}
	if cfg.StreamSeed != 0 {
		g.rng = rand.New(rand.NewPCG(uint64(cfg.StreamSeed), 0x5c0e5eed))
	}
	g.next = g.gap()
	return g, nil
}

// Config returns the configuration in effect, defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// Next returns the next event in event-time order.
func (g *Generator) Next() Event {
	e := g.next1()
	if g.emitted++; g.cfg.DriftAt > 0 && g.emitted > g.cfg.DriftAt {
		e.Amount = math.Round(e.Amount*g.cfg.DriftFactor*100) / 100
	}
	return e
}

func (g *Generator) next1() Event {
	if len(g.pending) > 0 && g.pending[0].at <= g.next {
		return heap.Pop(&g.pending).(pending).ev
	}
	at := g.next
	g.next += g.gap()
	return g.normal(at)
}

func (g *Generator) gap() int64 {
	return 1 + int64(g.rng.ExpFloat64()*g.meanGapNS)
}

func (g *Generator) normal(at int64) Event {
	ci, _ := slices.BinarySearch(g.cumWeight, g.rng.Float64()*g.cumWeight[len(g.cumWeight)-1])
	ci = min(ci, len(g.cards)-1)
	c := &g.cards[ci]

	var m *merchant
	switch r := g.rng.Float64(); {
	case r < 0.88:
		// Usual merchants, the first ones more often.
		m = c.usual[min(int(g.rng.ExpFloat64()*float64(len(c.usual))/2.5), len(c.usual)-1)]
	case r < 0.97 && len(c.explored) > 0 && g.rng.IntN(2) == 0:
		m = c.explored[g.rng.IntN(len(c.explored))]
	case r < 0.97:
		m = g.explore(c, &g.merchants[c.home][g.rng.IntN(merchantsPerCountry)])
	default:
		// Travel: a merchant abroad.
		m = g.explore(c, &g.merchants[g.foreign(c.home)][g.rng.IntN(merchantsPerCountry)])
	}

	ch := c.channel
	if ch >= 0 && g.rng.Float64() < 0.15 {
		ch = pickWeighted(g.rng, channelWeights[:])
	}
	amount := c.typical * math.Exp(0.5*g.rng.NormFloat64())
	ev := g.event(c, at, m, amount, ch, c.hasDevice, c.deviceAge(at))

	if g.onsetProb > 0 && at >= c.busyUntil && g.rng.Float64() < g.onsetProb {
		g.episode(c, at)
	}
	return ev
}

// explore returns m, a merchant the card may not have used, and remembers it;
// a card that has explored maxExplored merchants returns to one of them
// instead, so that the card's history stays bounded and exact.
func (g *Generator) explore(c *card, m *merchant) *merchant {
	if c.seen(m) {
		return m
	}
	if len(c.explored) >= maxExplored {
		return c.explored[g.rng.IntN(len(c.explored))]
	}
	c.explored = append(c.explored, m)
	return m
}

func (g *Generator) foreign(home int) int {
	f := g.rng.IntN(len(countries) - 1)
	if f >= home {
		f++
	}
	return f
}

// seen reports whether the card has used m.
func (c *card) seen(m *merchant) bool {
	return slices.Contains(c.usual, m) || slices.Contains(c.explored, m) || slices.Contains(c.fraudSeen, m)
}

func (c *card) deviceAge(at int64) int32 {
	return c.deviceBase + int32(at/int64(24*time.Hour))
}

// episode schedules a fraud episode on card c, starting 0-10 minutes after at.
func (g *Generator) episode(c *card, at int64) {
	// Episode timing scales with the card's own rate (c.gap) so that the
	// patterns stand out at any Cards/EventsPerSecond ratio: a burst runs at
	// ten times the card's usual rate or more, within five minutes.
	onset := at + int64(g.rng.Float64()*c.gap)
	newDevice := func() (bool, int32) {
		if g.rng.Float64() < 0.8 {
			return true, int32(g.rng.IntN(3))
		}
		return false, 0
	}
	var last int64
	push := func(t int64, m *merchant, amount float64, ch int, pattern string, hasDev bool, age int32) {
		ev := g.event(c, t, m, amount, ch, hasDev, age)
		ev.Fraud = true
		ev.Pattern = pattern
		g.seq++
		heap.Push(&g.pending, pending{at: t, seq: g.seq, ev: ev})
		last = max(last, t)
		if !c.seen(m) {
			c.fraudSeen = append(c.fraudSeen, m)
		}
	}
	ecom := slices.Index(channels[:], channelEcom)

	switch r := g.rng.Float64(); {
	case r < 0.40: // burst
		n := 5 + g.rng.IntN(16)
		span := int64(min(float64(n)*c.gap*(0.05+0.05*g.rng.Float64()), float64(burstMaxSpan)))
		ms := make([]*merchant, 1+g.rng.IntN(3))
		for i := range ms {
			country := c.home
			if g.rng.IntN(2) == 0 {
				country = g.foreign(c.home)
			}
			ms[i] = &g.merchants[country][g.rng.IntN(merchantsPerCountry)]
		}
		hasDev, age := newDevice()
		offsets := make([]int64, n)
		for i := range offsets {
			offsets[i] = g.rng.Int64N(span)
		}
		slices.Sort(offsets)
		for _, off := range offsets {
			amount := c.typical * math.Exp(0.7*g.rng.NormFloat64())
			push(onset+off, ms[g.rng.IntN(len(ms))], amount, ecom, PatternBurst, hasDev, age)
		}
	case r < 0.65: // unusual_amount
		n := 1 + g.rng.IntN(3)
		hasDev, age := c.hasDevice, c.deviceAge(onset)
		if g.rng.IntN(2) == 0 {
			hasDev, age = newDevice()
		}
		ch := c.channel
		if ch < 0 || g.rng.IntN(2) == 0 {
			ch = ecom
		}
		t := onset
		for range n {
			m := c.usual[g.rng.IntN(len(c.usual))]
			if g.rng.IntN(2) == 0 {
				m = &g.merchants[c.home][g.rng.IntN(merchantsPerCountry)]
			}
			amount := c.typical * (10 + 40*g.rng.Float64())
			push(t, m, amount, ch, PatternUnusualAmount, hasDev, age)
			t += int64(c.gap * (0.5 + 2.5*g.rng.Float64()))
		}
	default: // new_merchants
		n := 4 + g.rng.IntN(9)
		country := c.home
		if g.rng.Float64() < 0.7 {
			country = g.foreign(c.home)
		}
		hasDev, age := false, int32(0)
		ch := slices.Index(channels[:], channelPOS)
		if g.rng.IntN(2) == 0 {
			hasDev, age = newDevice()
			ch = ecom
		}
		used := make([]*merchant, 0, n)
		t := onset
		for range n {
			var m *merchant
			for {
				m = &g.merchants[country][g.rng.IntN(merchantsPerCountry)]
				if !c.seen(m) && !slices.Contains(used, m) {
					break
				}
			}
			used = append(used, m)
			amount := c.typical * math.Exp(0.3+0.6*g.rng.NormFloat64())
			push(t, m, amount, ch, PatternNewMerchants, hasDev, age)
			t += int64(c.gap * (0.2 + 0.5*g.rng.ExpFloat64()))
		}
	}
	// A compromised card is not compromised again for a while, so that
	// episodes stay apart.
	c.busyUntil = last + int64(episodeCooldown)
}

const (
	burstMaxSpan    = 5 * time.Minute
	episodeCooldown = 2 * burstMaxSpan
)

func (g *Generator) event(c *card, at int64, m *merchant, amount float64, ch int, hasDev bool, age int32) Event {
	ev := Event{
		EventID:          g.uuid(),
		CardID:           c.id,
		EventTime:        time.UnixMilli(g.startMS + at/int64(time.Millisecond)).UTC(),
		Amount:           max(math.Round(amount*100)/100, 0.5),
		Currency:         countries[m.country].currency,
		MerchantID:       m.id,
		MerchantCategory: m.category,
		MerchantCountry:  countries[m.country].code,
	}
	if ch >= 0 {
		s := channels[ch]
		ev.Channel = &s
	}
	if hasDev {
		ev.DeviceAgeDays = &age
	}
	return ev
}

// uuid returns a random (version 4 layout) UUID from the event source.
func (g *Generator) uuid() string {
	const hexdigits = "0123456789abcdef"
	hi, lo := g.rng.Uint64(), g.rng.Uint64()
	hi = hi&^(0xf<<12) | 0x4<<12 // version 4
	lo = lo&^(0x3<<62) | 0x2<<62 // variant 10
	var b [36]byte
	j := 0
	for i := range 32 {
		if i == 8 || i == 12 || i == 16 || i == 20 {
			b[j] = '-'
			j++
		}
		var nib uint64
		if i < 16 {
			nib = hi >> (60 - 4*i) & 0xf
		} else {
			nib = lo >> (60 - 4*(i-16)) & 0xf
		}
		b[j] = hexdigits[nib]
		j++
	}
	return string(b[:])
}

// pickWeighted returns an index drawn with the given weights (summing to ~1).
func pickWeighted(r *rand.Rand, w []float64) int {
	x := r.Float64()
	for i, wi := range w {
		if x < wi {
			return i
		}
		x -= wi
	}
	return len(w) - 1
}

// pad formats i with at least width digits.
func pad(i, width int) string {
	s := strconv.Itoa(i)
	for len(s) < width {
		s = "0" + s
	}
	return s
}
