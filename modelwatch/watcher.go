package modelwatch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/stream/features"
	"github.com/scorestream/scorestream/stream/process"
)

// Config for a Watcher.
type Config struct {
	Model    config.Model     // champion (+ challenger), from the pipeline config
	Features []config.Feature // the config's features, to compare defaults with manifests; nil skips
	Spec     *features.Spec   // the compiled feature spec models are bound to
	Interval time.Duration    // poll interval for Run; default 1s
	// Reloads counts reload attempts that changed something, by result ("ok",
	// "refused"); nil disables.
	Reloads *prometheus.CounterVec
	// Info is set to 1 for the serving models, labels model, version, hash, role;
	// nil disables.
	Info *prometheus.GaugeVec
}

// Reload results, the label values of Config.Reloads.
const (
	ResultOK      = "ok"
	ResultRefused = "refused"
)

type generation struct {
	n      uint64
	models *process.Models
	fp     string // content fingerprint of the files loaded
	users  int    // subscriptions serving it; guarded by Watcher.mu
}

// Watcher holds the serving models and replaces them when their files change.
// It is safe for concurrent use.
type Watcher struct {
	cfg   Config
	files []string
	cur   atomic.Pointer[generation]

	mu   sync.Mutex // serialises Reload; guards seen and generation.users
	seen []fileStat // file stats at the last reload attempt
}

// New loads the initial models; an error here is a startup error.
func New(cfg Config) (*Watcher, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	w := &Watcher{cfg: cfg, files: files(cfg.Model)}
	w.seen = statAll(w.files)
	ms, fp, err := load(cfg.Model, cfg.Features, cfg.Spec)
	if err != nil {
		return nil, err
	}
	w.cur.Store(&generation{models: ms, fp: fp})
	if cfg.Reloads != nil {
		cfg.Reloads.WithLabelValues(ResultOK)
		cfg.Reloads.WithLabelValues(ResultRefused)
	}
	w.setInfo(ms)
	return w, nil
}

// Models are the models serving now.
func (w *Watcher) Models() *process.Models { return w.cur.Load().models }

// Generation counts successful reloads; 0 for the initial models.
func (w *Watcher) Generation() uint64 { return w.cur.Load().n }

// Subscribe returns the models serving now and a function for one loop's
// Config.NextModels: it returns the new models the first time it is called after
// a reload, and nil otherwise. Each loop needs its own subscription; a
// subscription is not safe for concurrent use (its loop calls it).
//
// Models holding native resources (ONNX sessions: io.Closer) are closed once no
// subscription serves them any more and a newer generation is current.
func (w *Watcher) Subscribe() (*process.Models, func() *process.Models) {
	w.mu.Lock()
	have := w.cur.Load()
	have.users++
	w.mu.Unlock()
	return have.models, func() *process.Models {
		if w.cur.Load() == have {
			return nil
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		g := w.cur.Load()
		g.users++
		have.users--
		if have.users == 0 {
			closeModels(have.models)
		}
		have = g
		return g.models
	}
}

// closeModels releases models that hold native resources (io.Closer).
func closeModels(ms *process.Models) {
	if ms == nil {
		return
	}
	for _, s := range []*process.Scorer{ms.Champion, ms.Challenger} {
		if s == nil {
			continue
		}
		if c, ok := s.Model.(io.Closer); ok {
			_ = c.Close()
		}
	}
}

// Reload loads the model files now. It returns true if new models were
// installed; false with a nil error if the files' content is what is serving;
// and an error naming the file if the candidate was refused (the current models
// keep serving).
func (w *Watcher) Reload() (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = statAll(w.files)
	ms, fp, err := load(w.cfg.Model, w.cfg.Features, w.cfg.Spec)
	cur := w.cur.Load()
	if err != nil { // load closed what it had opened
		w.count(ResultRefused)
		return false, fmt.Errorf("model reload refused: %w", err)
	}
	if fp == cur.fp {
		closeModels(ms)
		return false, nil
	}
	w.cur.Store(&generation{n: cur.n + 1, models: ms, fp: fp})
	if cur.users == 0 && cur.n > 0 { // superseded before any loop served it
		closeModels(cur.models)
	}
	w.count(ResultOK)
	w.setInfo(ms)
	return true, nil
}

// changed reports whether any watched file's size or mtime changed since the
// last reload attempt.
func (w *Watcher) changed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !slices.Equal(statAll(w.files), w.seen)
}

// Run polls the files every Interval and reloads when one changed or a signal
// arrives on hup (SIGHUP; nil for none), logging the outcome, until ctx is done.
func (w *Watcher) Run(ctx context.Context, log *slog.Logger, hup <-chan os.Signal) error {
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	log.Info("watching model files", "files", w.files, "every", w.cfg.Interval)
	for {
		var why string
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			why = "signal"
		case <-t.C:
			if !w.changed() {
				continue
			}
			why = "file changed"
		}
		ok, err := w.Reload()
		switch {
		case err != nil:
			log.Warn("model reload refused; the current model keeps serving", "trigger", why,
				"file", w.cfg.Model.Path, "err", err)
		case ok:
			ms := w.Models()
			attrs := []any{"trigger", why, "generation", w.Generation(), "champion", ms.Champion.Label()}
			if ms.Challenger != nil {
				attrs = append(attrs, "challenger", ms.Challenger.Label())
			}
			log.Info("model reloaded; loops switch at their next transaction boundary", attrs...)
		default:
			log.Info("model files unchanged", "trigger", why)
		}
	}
}

func (w *Watcher) count(result string) {
	if w.cfg.Reloads != nil {
		w.cfg.Reloads.WithLabelValues(result).Inc()
	}
}

func (w *Watcher) setInfo(ms *process.Models) {
	g := w.cfg.Info
	if g == nil {
		return
	}
	g.Reset()
	g.WithLabelValues(ms.Champion.Name, ms.Champion.Version, ms.Champion.Hash, "champion").Set(1)
	if c := ms.Challenger; c != nil {
		g.WithLabelValues(c.Name, c.Version, c.Hash, "challenger").Set(1)
	}
}
