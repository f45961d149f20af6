//go:build prometheus

// The real-Prometheus drift test: deploy/test.sh runs it (go test -tags
// prometheus ./deploy/), with the prometheus server of the Debian package that
// scripts/deps.sh installs.
//
//	go test -tags prometheus -count=1 -run TestRealPrometheusDrift -v ./deploy/

package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scorestream/scorestream/demo"
)

// TestRealPrometheusDrift runs `scorestream demo --drift-at` (the generator
// multiplies amounts by 4 after N events), loads the rules `scorestream rules`
// generates from the demo's manifest into a real Prometheus server scraping the
// demo every second, and watches through the HTTP API: the score and amount PSI
// rise after the shift, ScorestreamFeatureDrift goes pending/firing for
// feature="amount", and it stays quiet for the inputs the shift does not touch
// (raw event fields other than amount, taken from the demo's feature spec).
// State features (counts, sums over windows of simulated time) are not among
// the quiet ones: they warm up as the demo's stream goes on, and sums of amounts
// move with the shift.
func TestRealPrometheusDrift(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("the prometheus server is not installed (scripts/deps.sh installs the Debian package): %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "scorestream")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/scorestream/scorestream/cmd/scorestream").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const driftAt, rate = 8000, 400 // 20 s before the shift
	metricsAddr, promAddr := freePort(t), freePort(t)
	manifest := filepath.Join(dir, "manifest.yaml")
	demoOut := start(t, bin, "demo", "--events", "0", "--rate", strconv.Itoa(rate), "--drift-at", strconv.Itoa(driftAt),
		"--metrics-listen", metricsAddr, "--manifest-out", manifest, "--log-level", "warn")
	waitFor(t, 60*time.Second, "the demo's manifest", func() (bool, string) {
		_, err := os.Stat(manifest)
		return err == nil, demoOut.String()
	})
	rules := filepath.Join(dir, "rules.yml")
	if out, err := exec.Command(bin, "rules", "--manifest", manifest, "--windows", "30s", "--for", "5s",
		"--min-records", "200", "-o", rules).CombinedOutput(); err != nil {
		t.Fatalf("scorestream rules: %v\n%s", err, out)
	}
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: scorestream
    static_configs: [{targets: [%q]}]
`, rules, metricsAddr)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	promOut := start(t, promBin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	api := "http://" + promAddr

	// The inputs the shift does not touch: raw event fields other than amount.
	c, err := demo.Config([]string{"127.0.0.1:1"}, "http://127.0.0.1:1", dir)
	if err != nil {
		t.Fatal(err)
	}
	var quiet []string
	for _, f := range c.Features {
		if f.State == "" && f.Field != "" && f.Field != "amount" {
			quiet = append(quiet, regexp.QuoteMeta(f.Name))
		}
	}
	if len(quiet) == 0 {
		t.Fatal("the demo's spec has no raw input besides amount to stay quiet")
	}
	quietSel := fmt.Sprintf(`ALERTS{alertname="ScorestreamFeatureDrift", feature=~"%s"}`, strings.Join(quiet, "|"))
	t.Logf("quiet inputs: %v", quiet)

	checkQuiet := func() {
		if r := query(t, api, quietSel); len(r) > 0 {
			t.Fatalf("drift alert for an input the shift does not touch: %v", r)
		}
	}
	// Before the shift: the window's PSI is recorded and small.
	var prePSI, preAmount float64
	waitFor(t, 90*time.Second, "a score PSI before the shift", func() (bool, string) {
		r := query(t, api, `scorestream:drift_score_psi:30s`)
		a := query(t, api, `scorestream:drift_feature_psi:30s{feature="amount"}`)
		return len(r) == 1 && len(a) == 1, promOut.String() + demoOut.String()
	})
	prePSI = query(t, api, `scorestream:drift_score_psi:30s`)[0].value
	preAmount = query(t, api, `scorestream:drift_feature_psi:30s{feature="amount"}`)[0].value
	if produced := demoProduced(demoOut.String()); produced >= driftAt {
		t.Fatalf("%d events produced by the first reading: it is not before the shift at %d", produced, driftAt)
	}
	t.Logf("before the shift: score PSI %.4f, amount PSI %.4f", prePSI, preAmount)
	if preAmount >= 0.1 {
		t.Fatalf("amount PSI %.3f before the shift, want < 0.1", preAmount)
	}
	checkQuiet()

	// After the shift: the amount alert goes pending or firing, named.
	var state string
	waitFor(t, 3*time.Minute, `ScorestreamFeatureDrift{feature="amount"} pending or firing`, func() (bool, string) {
		checkQuiet()
		r := query(t, api, `ALERTS{alertname="ScorestreamFeatureDrift", feature="amount"}`)
		for _, s := range r {
			state = s.labels["alertstate"]
		}
		return len(r) > 0, ""
	})
	t.Logf("amount alert %s", state)
	// Firing, after --for 5s, still naming amount and nothing quiet.
	waitFor(t, time.Minute, "the amount alert firing", func() (bool, string) {
		checkQuiet()
		return len(query(t, api, `ALERTS{alertname="ScorestreamFeatureDrift", feature="amount", alertstate="firing"}`)) > 0, ""
	})
	// Once the 30 s window holds only shifted events, amount's PSI is large.
	var score, amount []sample
	waitFor(t, time.Minute, "amount PSI above 0.25 with the window past the shift", func() (bool, string) {
		checkQuiet()
		score = query(t, api, `scorestream:drift_score_psi:30s`)
		amount = query(t, api, `scorestream:drift_feature_psi:30s{feature="amount"}`)
		return len(score) == 1 && len(amount) == 1 && amount[0].value > 0.25, fmt.Sprintf("score %v, amount %v", score, amount)
	})
	t.Logf("after the shift: score PSI %.4f, amount PSI %.4f", score[0].value, amount[0].value)
	if !(score[0].value > prePSI) {
		t.Errorf("score PSI %.4f after the shift, %.4f before: want it to rise", score[0].value, prePSI)
	}
	for _, q := range quiet {
		r := query(t, api, fmt.Sprintf(`scorestream:drift_feature_psi:30s{feature=%q}`, q))
		if len(r) != 1 || r[0].value >= 0.1 {
			t.Errorf("PSI of %s: %v, want one value under 0.1", q, r)
		}
	}
}

type sample struct {
	labels map[string]string
	value  float64
}

func query(t *testing.T, api, q string) []sample {
	t.Helper()
	resp, err := http.Get(api + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil // not up yet: the callers poll
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusServiceUnavailable {
		return nil // starting up (replaying its WAL): the callers poll
	}
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	if body.Status != "success" {
		t.Fatalf("query %s: %s", q, body.Error)
	}
	var out []sample
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("query %s: value %v", q, r.Value)
		}
		out = append(out, sample{labels: r.Metric, value: v})
	}
	return out
}

// waitFor polls cond every 500ms until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v\n%s", what, d, tail(detail, 3000))
		}
		<-tick.C
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

var producedRE = regexp.MustCompile(`produced\s+(\d+)`)

func demoProduced(out string) int {
	m := producedRE.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	ch   chan string
	done chan struct{}
	buf  strings.Builder
}

func (b *syncBuffer) String() string {
	for {
		select {
		case s := <-b.ch:
			b.buf.WriteString(s)
		default:
			return b.buf.String()
		}
	}
}

// start runs a process for the test's lifetime: interrupted, then killed after
// 20 s, and waited for, when the test ends.
func start(t *testing.T, name string, args ...string) *syncBuffer {
	t.Helper()
	cmd := exec.Command(name, args...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	out := &syncBuffer{ch: make(chan string, 1<<16), done: make(chan struct{})}
	go func() { // owned by this test: ends when the pipe closes below
		defer close(out.done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case out.ch <- sc.Text() + "\n":
			default: // a reader that never reads must not block the process
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		select {
		case <-done:
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-done
		}
		pw.Close()
		<-out.done
	})
	return out
}

// freePort is a free loopback address, preferring 19490-19499 (the range this
// project's local runs use for Prometheus-facing ports), else any.
func freePort(t *testing.T) string {
	t.Helper()
	for p := 19490; p <= 19499; p++ {
		addr := "127.0.0.1:" + strconv.Itoa(p)
		if usedPorts[addr] {
			continue
		}
		if l, err := net.Listen("tcp", addr); err == nil {
			l.Close()
			usedPorts[addr] = true
			return addr
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

var usedPorts = map[string]bool{}
