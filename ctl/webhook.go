package ctl

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// SignatureHeader carries the hex HMAC-SHA256 of a webhook body under the
// webhook secret: "sha256=<hex>".
const SignatureHeader = "X-Streamline-Signature"

// webhooks delivers recording events to an HTTP endpoint, signed and retried
// with exponential backoff, from one goroutine with a bounded queue (a dead
// endpoint never slows the server; overflow is logged and dropped).
type webhooks struct {
	url      string
	secret   []byte
	client   *http.Client
	log      *slog.Logger
	attempts int
	backoff  time.Duration

	queue  chan Event
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newWebhooks(url string, secret []byte, log *slog.Logger) *webhooks {
	if url == "" {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &webhooks{url: url, secret: secret, client: &http.Client{Timeout: 10 * time.Second}, log: log,
		attempts: 6, backoff: time.Second, queue: make(chan Event, 1024), cancel: cancel}
	w.wg.Add(1)
	go w.run(ctx)
	return w
}

// notify queues recording events; others are not sent.
func (w *webhooks) notify(ev Event) {
	if w == nil || !strings.HasPrefix(ev.Type, "recording_") {
		return
	}
	select {
	case w.queue <- ev:
	default:
		w.log.Error("webhook queue full: event dropped", "type", ev.Type, "room", ev.Room)
	}
}

func (w *webhooks) run(ctx context.Context) {
	defer w.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-w.queue:
			w.deliver(ctx, ev)
		}
	}
}

// Sign returns the signature header value of body.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func (w *webhooks) deliver(ctx context.Context, ev Event) {
	body, err := json.Marshal(ev)
	if err != nil {
		return
	}
	wait := w.backoff
	for attempt := 1; attempt <= w.attempts; attempt++ {
		err = w.post(ctx, body)
		if err == nil {
			return
		}
		w.log.Warn("webhook delivery failed", "type", ev.Type, "room", ev.Room, "attempt", attempt, "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait *= 2
	}
	w.log.Error("webhook given up", "type", ev.Type, "room", ev.Room, "attempts", w.attempts, "error", err)
}

func (w *webhooks) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if len(w.secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(w.secret, body))
	}
	res, err := w.client.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d", res.StatusCode)
	}
	return nil
}

func (w *webhooks) close() {
	if w == nil {
		return
	}
	w.cancel()
	w.wg.Wait()
}
