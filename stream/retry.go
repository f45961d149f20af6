package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// StartupTimeout bounds how long startup waits for the brokers and the registry.
const StartupTimeout = 60 * time.Second

// ErrUnavailable wraps a startup step that kept failing until StartupTimeout: the
// cluster or the registry could not be reached (a runtime failure, not bad config).
var ErrUnavailable = errors.New("unavailable")

// permanentError marks a startup failure that waiting will not fix (a refused
// schema, a changelog with the wrong partition count).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return permanentError{err} }

// retry calls fn until it succeeds, fails permanently, or timeout passes, backing
// off from 250ms to 5s and logging each failure: at startup a broker or registry
// that is still coming up (or a topic still being created) is worth waiting for.
func retry(ctx context.Context, log *slog.Logger, what string, fn func() error) error {
	deadline := time.Now().Add(StartupTimeout)
	backoff := 250 * time.Millisecond
	for {
		err := fn()
		var p permanentError
		if err == nil || errors.As(err, &p) {
			return err
		}
		if time.Now().Add(backoff).After(deadline) {
			return fmt.Errorf("%s: %w: gave up after %v: %w", what, ErrUnavailable, StartupTimeout, err)
		}
		if log != nil {
			log.Warn("startup: retrying", "what", what, "err", err, "retry_in", backoff)
		}
		if err := Sleep(ctx, backoff); err != nil {
			return err
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// Sleep waits for d or until ctx is done, and returns ctx's error then.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
