//go:build integration

// Package integration proves scorestream's exactly-once contract against a real
// Apache Kafka broker, driving the real binary as separate OS processes: crashes
// (SIGKILL), rolling restarts, broker restarts and failures, zombies (SIGSTOP),
// stalls past the transaction timeout, model hot reload under load, a schema
// registry outage, and interop with kcat and confluent-kafka.
//
// The broker is not started here: scripts/integration.sh starts it (or run
// scripts/kafka.sh start yourself) and then
//
//	go test -tags integration -timeout 60m ./integration/ -v
//
// Environment:
//
//	SCORESTREAM_IT_BROKERS   seed brokers (default 127.0.0.1:9092)
//	SCORESTREAM_IT_CLUSTER   seed brokers of the 3-node cluster; TestBrokerFailure
//	                         is skipped without it
//	SCORESTREAM_IT_BROKER_CONTROL=single  lets TestBrokerRestart kill and restart
//	                         the scripts/kafka.sh broker; skipped without it
//	SCORESTREAM_IT_SCALE     multiplies the event counts (default 1: CI size)
//	SCORESTREAM_IT_LOGS      directory for process logs (default: a temp dir, kept)
//	SCORESTREAM_IT_RESULTS   JSON file the measured figures are merged into
//	SCORESTREAM_IT_BIN       a prebuilt scorestream binary (default: built in TestMain)
//	SCORESTREAM_IT_LOG_LEVEL the instances' log.level (default info; debug adds
//	                         franz-go's request-by-request log)
//
// Every scenario uses its own topics, group and transactional ids, so the tests
// are independent on one broker. They wait for conditions (committed offsets,
// /readyz, group membership), never for fixed times; the chaos timing (kill every
// few seconds) is a workload parameter. Durations are reported, never asserted.
package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"gopkg.in/yaml.v3"

	"github.com/scorestream/scorestream/audit"
	"github.com/scorestream/scorestream/config"
	"github.com/scorestream/scorestream/state"
	"github.com/scorestream/scorestream/state/checkpoint"
	"github.com/scorestream/scorestream/stream"
	"github.com/scorestream/scorestream/stream/process"
)

// suite is what TestMain sets up once for all tests.
var suite struct {
	bin      string // the scorestream binary
	root     string // the repository root
	logDir   string
	brokers  string
	registry string // URL of the suite's `scorestream registry`
	scale    int
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if os.Getenv(hangProducerEnv) != "" { // a subprocess of TestHangingTransaction
		return hangProducer()
	}
	_, file, _, _ := runtime.Caller(0)
	suite.root = filepath.Dir(filepath.Dir(file))
	suite.brokers = envOr("SCORESTREAM_IT_BROKERS", "127.0.0.1:9092")
	suite.scale = 1
	if v := os.Getenv("SCORESTREAM_IT_SCALE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "integration: SCORESTREAM_IT_SCALE=%q: want a positive integer\n", v)
			return 2
		}
		suite.scale = n
	}
	suite.logDir = os.Getenv("SCORESTREAM_IT_LOGS")
	if suite.logDir == "" {
		d, err := os.MkdirTemp("", "scorestream-it-logs-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "integration:", err)
			return 1
		}
		suite.logDir = d
	}
	if err := os.MkdirAll(suite.logDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "integration: process logs in %s\n", suite.logDir)

	suite.bin = os.Getenv("SCORESTREAM_IT_BIN")
	if suite.bin == "" {
		dir, err := os.MkdirTemp("", "scorestream-it-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "integration:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		suite.bin = filepath.Join(dir, "scorestream")
		build := exec.Command("go", "build", "-o", suite.bin, "./cmd/scorestream")
		build.Dir = suite.root
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "integration: go build: %v\n%s", err, out)
			return 1
		}
	}

	// One registry for the suite; subjects are per topic, so tests don't collide.
	// SCORESTREAM_IT_REGISTRY points the suite at a real registry (integration.sh
	// starts Apicurio Registry); without it the suite serves `scorestream registry`.
	if url := os.Getenv("SCORESTREAM_IT_REGISTRY"); url != "" {
		suite.registry = url
		if err := waitHTTP(suite.registry+"/subjects", 60*time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "integration: registry:", err)
			return 1
		}
		return m.Run()
	}
	reg, url, err := startRegistry("registry")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer reg.stop()
	suite.registry = url
	return m.Run()
}

// registryProc is a `scorestream registry` process (srfake over HTTP).
type registryProc struct {
	cmd *exec.Cmd
	log *os.File
}

// startRegistry starts `scorestream registry` on a free port, logging to
// <logName>.log, and waits until it answers.
func startRegistry(logName string) (*registryProc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	logf, err := os.Create(filepath.Join(suite.logDir, logName+".log"))
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(suite.bin, "registry", "--listen", addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, "", fmt.Errorf("start registry: %w", err)
	}
	r := &registryProc{cmd: cmd, log: logf}
	url := "http://" + addr
	if err := waitHTTP(url+"/subjects", 15*time.Second); err != nil {
		r.stop()
		return nil, "", fmt.Errorf("registry: %w", err)
	}
	return r, url, nil
}

// stop ends the registry (resuming it first if it was stopped).
func (r *registryProc) stop() {
	_ = r.cmd.Process.Signal(syscall.SIGCONT)
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	_ = r.cmd.Wait()
	r.log.Close()
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitHTTP polls url until it answers 200 or the timeout passes.
func waitHTTP(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	cl := http.Client{Timeout: time.Second}
	var last error
	for time.Now().Before(deadline) {
		resp, err := cl.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	return fmt.Errorf("%s not ready after %s: %v", url, timeout, last)
}

// ---------------------------------------------------------------------------
// scenario: one test's topics, group, config and processes

type scenario struct {
	t          *testing.T
	name       string
	mayExit    bool // an instance may exit on its own (a fenced zombie)
	brokers    string
	input      string
	preds      string
	dlq        string
	changelog  string
	group      string
	partitions int32
	rf         int16
	cfgPatch   func(c map[string]any)
	// noCheckpoints turns state.dir off (the "before" figures); by default every
	// instance keeps checkpoints in a directory of its own that outlives its
	// restarts, like a StatefulSet pod's volume.
	noCheckpoints bool
	modelPath     string
	registry      string // schema registry URL; default the suite's

	adm *kadm.Client
	cl  *kgo.Client

	mu        sync.Mutex
	instances map[string]*instance
	logs      []string // every instance log file, for the aborted-transaction count
	unplanned []string // unexpected exits (the supervisor restarted them)
}

// newScenario checks the broker, names the topics and creates them.
func newScenario(t *testing.T, name, brokers string, rf int16) *scenario {
	t.Helper()
	sfx := fmt.Sprintf("%s-%d", name, time.Now().UnixNano()%1_000_000_000)
	s := &scenario{
		t: t, name: name, brokers: brokers,
		input: "it-" + sfx + "-payments", preds: "it-" + sfx + "-predictions",
		dlq: "it-" + sfx + "-dlq", changelog: "it-" + sfx + "-changelog",
		group: "it-" + sfx, partitions: 12, rf: rf, registry: suite.registry,
		instances: map[string]*instance{},
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	s.cl, s.adm = cl, kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := s.adm.ListBrokers(ctx); err != nil {
		t.Fatalf("no Kafka broker at %s (start one: scripts/kafka.sh start): %v", brokers, err)
	}
	// All topics up front: instances started together would race to create them.
	// The changelog gets the settings scorestream gives it (topics create).
	changelogCfg := map[string]*string{}
	for k, v := range stream.ChangelogConfigs() {
		changelogCfg[k] = kadm.StringPtr(v)
	}
	for _, tp := range []struct {
		name string
		cfg  map[string]*string
	}{{s.input, nil}, {s.preds, nil}, {s.dlq, nil}, {s.changelog, changelogCfg}} {
		resp, err := s.adm.CreateTopic(ctx, s.partitions, rf, tp.cfg, tp.name)
		if err != nil || resp.Err != nil {
			t.Fatalf("create topic %s: %v %v", tp.name, err, resp.Err)
		}
	}
	// CreateTopics returns before every broker's metadata has the topics; the
	// instances' startup check must see them.
	for {
		td, err := s.adm.ListTopics(ctx, s.input, s.preds, s.dlq, s.changelog)
		ready := err == nil && len(td) == 4
		for _, d := range td {
			ready = ready && d.Err == nil && len(d.Partitions) == int(s.partitions)
			for _, p := range d.Partitions {
				ready = ready && p.Err == nil && p.Leader >= 0
			}
		}
		if ready {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("topics not in the metadata after 15s: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	model, err := os.ReadFile(filepath.Join(suite.root, "demo", "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	s.modelPath = filepath.Join(t.TempDir(), "model.json")
	if err := os.WriteFile(s.modelPath, model, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stopAll)
	return s
}

// checkpointInterval is the scenarios' state.checkpoint_interval.
const checkpointInterval = "2s"

// config builds one instance's YAML config from demo/config.yaml.
func (s *scenario) config(metricsAddr, stateDir string) []byte {
	s.t.Helper()
	raw, err := os.ReadFile(filepath.Join(suite.root, "demo", "config.yaml"))
	if err != nil {
		s.t.Fatal(err)
	}
	var c map[string]any
	if err := yaml.Unmarshal(raw, &c); err != nil {
		s.t.Fatal(err)
	}
	c["kafka"] = map[string]any{"brokers": strings.Split(s.brokers, ",")}
	c["registry"] = map[string]any{"urls": []string{s.registry}, "retry_max": "1s"}
	st := c["stream"].(map[string]any)
	st["input_topics"] = []string{s.input}
	st["group"] = s.group
	st["transactional_id_prefix"] = s.group
	st["session_timeout"] = "6s"
	st["rebalance_timeout"] = "10s"
	st["transaction_timeout"] = "30s" // half the product default (60s), > rebalance_timeout; scenarios override it
	st["shutdown_timeout"] = "15s"
	c["output"] = map[string]any{
		"predictions_topic": s.preds, "dead_letter_topic": s.dlq,
		"changelog_topic": s.changelog, "create_topics": false,
	}
	c["model"].(map[string]any)["path"] = s.modelPath
	c["metrics"] = map[string]any{"listen": metricsAddr}
	c["log"] = map[string]any{"level": envOr("SCORESTREAM_IT_LOG_LEVEL", "info"), "format": "json"}
	if !s.noCheckpoints {
		stc := c["state"].(map[string]any)
		stc["dir"] = stateDir
		stc["checkpoint_interval"] = checkpointInterval
	}
	if s.cfgPatch != nil {
		s.cfgPatch(c)
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// instance is one `scorestream run` process, restarted by start under the same id.
type instance struct {
	s        *scenario
	id       string
	cfgPath  string
	metrics  string // http://addr
	stateDir string // state.dir, kept across restarts
	starts   int

	mu        sync.Mutex
	cmd       *exec.Cmd
	done      chan struct{} // closed when cmd has exited
	exitErr   error
	planned   bool // the harness stopped it (kill, term); unplanned exits are restarted
	startedAt time.Time
	backoff   time.Duration
	logPath   string
}

// start starts instance id (again, if it ran before) and waits for /readyz.
func (s *scenario) start(id string) *instance {
	s.t.Helper()
	s.mu.Lock()
	in := s.instances[id]
	if in == nil {
		port, err := freePort()
		if err != nil {
			s.mu.Unlock()
			s.t.Fatal(err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		dir := s.t.TempDir()
		in = &instance{s: s, id: id, metrics: "http://" + addr,
			cfgPath: filepath.Join(dir, "config-"+id+".yaml"), stateDir: filepath.Join(dir, "state-"+id)}
		if err := os.WriteFile(in.cfgPath, s.config(addr, in.stateDir), 0o644); err != nil {
			s.mu.Unlock()
			s.t.Fatal(err)
		}
		s.instances[id] = in
	}
	s.mu.Unlock()
	if err := in.launch(); err != nil {
		s.t.Fatal(err)
	}
	return in
}

func (in *instance) launch() error {
	in.mu.Lock()
	in.starts++
	in.logPath = filepath.Join(suite.logDir, fmt.Sprintf("%s-instance-%s-%02d.log", in.s.name, in.id, in.starts))
	f, err := os.Create(in.logPath)
	if err != nil {
		in.mu.Unlock()
		return err
	}
	cmd := exec.Command(suite.bin, "run", "-c", in.cfgPath)
	cmd.Env = append(os.Environ(), "SCORESTREAM_INSTANCE_ID="+in.id)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
	if err := cmd.Start(); err != nil {
		f.Close()
		in.mu.Unlock()
		return fmt.Errorf("start instance %s: %w", in.id, err)
	}
	done := make(chan struct{})
	in.cmd, in.done, in.planned, in.exitErr = cmd, done, false, nil
	in.startedAt = time.Now()
	in.s.mu.Lock()
	in.s.logs = append(in.s.logs, in.logPath)
	in.s.mu.Unlock()
	in.mu.Unlock()
	go func() {
		err := cmd.Wait()
		f.Close()
		in.mu.Lock()
		in.exitErr = err
		planned := in.planned
		in.mu.Unlock()
		close(done)
		if !planned {
			// Like Kubernetes' restartPolicy: note it and start it again.
			in.s.mu.Lock()
			in.s.unplanned = append(in.s.unplanned, fmt.Sprintf("instance %s (%s): %v", in.id, filepath.Base(in.logPath), err))
			in.s.mu.Unlock()
			// Back off like a crash-looping pod: 0.5s doubling to 8s while
			// runs are short (e.g. the broker is still down), reset after a
			// run of a minute.
			in.mu.Lock()
			if time.Since(in.startedAt) > time.Minute {
				in.backoff = 0
			}
			in.backoff = min(max(2*in.backoff, 500*time.Millisecond), 8*time.Second)
			wait := in.backoff
			in.mu.Unlock()
			in.s.t.Logf("instance %s exited unexpectedly (%v), restarting in %s; log %s", in.id, err, wait, in.logPath)
			time.Sleep(wait) // restart policy, not synchronisation
			in.mu.Lock()
			stopped := in.planned // the test stopped it meanwhile: stay down
			in.mu.Unlock()
			if stopped {
				return
			}
			if err := in.launch(); err != nil {
				in.s.t.Errorf("restart instance %s: %v", in.id, err)
			}
		}
	}()
	return waitHTTP(in.metrics+"/readyz", 60*time.Second)
}

// signal sends sig to the running process; for SIGKILL and SIGTERM it marks the
// exit as planned and waits for it, returning the process's exit error.
func (in *instance) signal(sig syscall.Signal) error {
	in.mu.Lock()
	cmd, done := in.cmd, in.done
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
		in.planned = true
	}
	in.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil {
		return err
	}
	if sig != syscall.SIGKILL && sig != syscall.SIGTERM {
		return nil
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("instance %s did not exit within 60s of %v", in.id, sig)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.exitErr
}

// exited reports whether the current process has exited (and how).
func (in *instance) exited() (bool, error) {
	in.mu.Lock()
	done := in.done
	in.mu.Unlock()
	select {
	case <-done:
		in.mu.Lock()
		defer in.mu.Unlock()
		return true, in.exitErr
	default:
		return false, nil
	}
}

// all returns the scenario's instances.
func (s *scenario) all() []*instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Values(s.instances))
}

// stopAll SIGKILLs whatever still runs (t.Cleanup).
func (s *scenario) stopAll() {
	ins := s.all()
	for _, in := range ins {
		in.mu.Lock()
		in.planned = true
		cmd, done := in.cmd, in.done
		in.mu.Unlock()
		if cmd == nil {
			continue
		}
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		<-done
	}
}

// stopGracefully SIGTERMs every instance and checks they exit 0.
func (s *scenario) stopGracefully() {
	s.t.Helper()
	ins := s.all()
	for _, in := range ins {
		if err := in.signal(syscall.SIGTERM); err != nil {
			s.t.Errorf("instance %s: SIGTERM exit: %v (log %s)", in.id, err, in.logPath)
		}
	}
}

// ---------------------------------------------------------------------------
// the generator

type genRun struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan struct{}
	err  error
	sum  genSummary
}

type genSummary struct {
	Events         int64   `json:"events"`
	Failed         int64   `json:"failed"`
	MalformedTotal int64   `json:"malformed_total"`
	Seconds        float64 `json:"seconds"`
	Error          string  `json:"error"`
}

// gen starts `scorestream gen` producing n events at rate per second.
func (s *scenario) gen(n int, rate float64, seed int) *genRun {
	s.t.Helper()
	f, err := os.Create(filepath.Join(suite.logDir, fmt.Sprintf("%s-gen-%d.log", s.name, seed)))
	if err != nil {
		s.t.Fatal(err)
	}
	g := &genRun{done: make(chan struct{})}
	g.cmd = exec.Command(suite.bin, "gen", "--brokers", s.brokers, "--registry", s.registry,
		"--topic", s.input, "--events", strconv.Itoa(n), "--rate", strconv.FormatFloat(rate, 'f', -1, 64),
		"--malformed", "0.005", "--seed", strconv.Itoa(seed), "--summary", "json", "--delivery-timeout", "5m")
	g.cmd.Stdout, g.cmd.Stderr = &g.out, f
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := g.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { _ = g.cmd.Process.Kill(); <-g.done })
	go func() {
		g.err = g.cmd.Wait()
		f.Close()
		close(g.done)
	}()
	return g
}

// wait waits for gen to finish and checks it produced every event.
func (g *genRun) wait(t *testing.T, n int) genSummary {
	t.Helper()
	<-g.done
	lines := strings.Split(strings.TrimSpace(g.out.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &g.sum); err != nil {
		t.Fatalf("gen summary %q: %v (exit %v)", g.out.String(), err, g.err)
	}
	if g.err != nil || g.sum.Events != int64(n) || g.sum.Failed != 0 {
		t.Fatalf("gen: exit %v, %d of %d events acknowledged, %d failed: %s", g.err, g.sum.Events, n, g.sum.Failed, g.sum.Error)
	}
	return g.sum
}

// finished reports whether gen has exited.
func (g *genRun) finished() bool {
	select {
	case <-g.done:
		return true
	default:
		return false
	}
}

// ---------------------------------------------------------------------------
// conditions

// offsets returns the input's end offsets and the group's committed offsets.
func (s *scenario) offsets(ctx context.Context) (ends, committed map[int32]int64, err error) {
	le, err := s.adm.ListEndOffsets(ctx, s.input)
	if err != nil {
		return nil, nil, err
	}
	ends = map[int32]int64{}
	le.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			ends[o.Partition] = o.Offset
		}
	})
	committed, err = s.committed(ctx)
	return ends, committed, err
}

func (s *scenario) committed(ctx context.Context) (map[int32]int64, error) {
	fo, err := s.adm.FetchOffsets(ctx, s.group)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	fo.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.Topic == s.input {
			out[o.Partition] = o.At
		}
	})
	return out, nil
}

// waitCaughtUp polls until the group's committed offsets reach the input's end
// on every partition, and returns how long that took.
func (s *scenario) waitCaughtUp(timeout time.Duration) time.Duration {
	s.t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ends, committed, err := s.offsets(ctx)
		cancel()
		if err != nil {
			last = err.Error()
		} else {
			behind := int64(0)
			for p, e := range ends {
				behind += max(0, e-committed[p])
			}
			if len(ends) == int(s.partitions) && behind == 0 {
				return time.Since(start)
			}
			last = fmt.Sprintf("%d records behind", behind)
		}
		time.Sleep(250 * time.Millisecond) // poll interval
	}
	s.t.Fatalf("group %s not caught up after %s: %s", s.group, timeout, last)
	return 0
}

// waitAdvanced polls until every partition's committed offset is past base (a
// partition with no committed offset in base must get one) or at the input's
// end, and returns the time since from.
func (s *scenario) waitAdvanced(base map[int32]int64, from time.Time, timeout time.Duration) (time.Duration, error) {
	deadline := from.Add(timeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ends, c, err := s.offsets(ctx)
		cancel()
		if err == nil {
			ok := true
			for p := int32(0); p < s.partitions; p++ {
				b, had := base[p]
				now, has := c[p]
				if has && now >= ends[p] {
					continue // nothing left to process on p
				}
				if !has || (had && now <= b) {
					ok = false
					break
				}
			}
			if ok {
				return time.Since(from), nil
			}
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	return 0, fmt.Errorf("committed offsets did not advance on every partition within %s", timeout)
}

// ---------------------------------------------------------------------------
// verdicts

// audit runs `scorestream audit` on the scenario's topics.
func (s *scenario) audit() audit.Report {
	s.t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(suite.bin, "audit", "--brokers", s.brokers, "--input", s.input,
		"--predictions", s.preds, "--dead-letters", s.dlq, "--summary", "json")
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var rep audit.Report
	if jerr := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); jerr != nil {
		s.t.Fatalf("audit: exit %v, no JSON summary: %v\nstdout: %s\nstderr: %s", err, jerr, out.String(), errb.String())
	}
	return rep
}

// requireClean fails the test unless the audit is clean and complete.
func (s *scenario) requireClean(rep audit.Report, events int64) {
	s.t.Helper()
	s.t.Logf("audit: events %d predictions %d dead_letters %d duplicates %d missing %d orphans %d malformed %d clean %v",
		rep.Inputs, rep.Predictions, rep.DeadLetters, rep.Duplicates, rep.Missing, rep.Orphans, rep.Malformed, rep.Clean)
	if !rep.Clean || rep.Duplicates != 0 || rep.Missing != 0 || rep.Orphans != 0 || rep.Malformed != 0 {
		b, _ := json.MarshalIndent(rep, "", "  ")
		s.t.Errorf("audit NOT clean:\n%s\ninstance logs in %s", b, suite.logDir)
	}
	if rep.Predictions+rep.DeadLetters != rep.Inputs {
		s.t.Errorf("predictions %d + dead letters %d != events %d", rep.Predictions, rep.DeadLetters, rep.Inputs)
	}
	if rep.Inputs != events {
		s.t.Errorf("audit saw %d events, gen acknowledged %d", rep.Inputs, events)
	}
}

// checkState compares the per-entity state in the changelog with the state
// computed in one fault-free pass over the input, in offset order per partition
// (stream.Replay against stream.Restore, as stream/eos_test.go does).
func (s *scenario) checkState(cfgPath string) int {
	t := s.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := stream.Prepare(ctx, cfg, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	stCfg := state.Config{Limits: shared.Spec.Limits(), MaxEntities: cfg.State.MaxEntities}
	conn := []kgo.Opt{kgo.SeedBrokers(strings.Split(s.brokers, ",")...)}
	ps := make([]int32, s.partitions)
	for i := range ps {
		ps[i] = int32(i)
	}
	proc := process.New(process.Config{PredictionsTopic: "p", DeadLetterTopic: "d", ChangelogTopic: "c"},
		shared.Decoder, shared.Spec, shared.Models)
	want, err := stream.Replay(ctx, conn, s.cl, s.input, ps, proc, stCfg)
	if err != nil {
		t.Fatalf("fault-free pass over the input: %v", err)
	}
	got, _, err := stream.Restore(ctx, conn, s.cl, s.changelog, ps, stCfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	entities, diffs := stream.DiffState(want, got)
	for i, d := range diffs {
		if i == 5 {
			break
		}
		t.Error(d)
	}
	if len(diffs) > 0 {
		t.Errorf("%d differences from a fault-free pass", len(diffs))
	}
	if entities == 0 {
		t.Fatal("no entity state at all")
	}
	t.Logf("state: %d entities in the changelog equal a fault-free pass", entities)
	if !s.noCheckpoints {
		s.checkCheckpoints(ctx, conn, ps, stCfg, want)
	}
	return entities
}

// checkCheckpoints restores, after every instance stopped, from every
// checkpoint file in every instance's state.dir — each is used (none refused),
// and it plus the changelog tail after it must equal the fault-free pass — and
// checks that every partition has one. Checkpoints of partitions an instance
// lost long ago test long tails; those its last owner wrote on shutdown, none.
func (s *scenario) checkCheckpoints(ctx context.Context, conn []kgo.Opt, ps []int32, stCfg state.Config, want map[int32]*state.Partition) {
	t := s.t
	t.Helper()
	covered := map[int32]bool{}
	files, current, tail := 0, 0, 0
	for _, in := range s.all() {
		dir, err := checkpoint.Open(in.stateDir)
		if err != nil {
			t.Fatal(err)
		}
		var have []int32
		for _, p := range ps {
			if _, err := os.Stat(dir.Path(checkpoint.Identity{Topic: s.changelog, Partition: p})); err == nil {
				have = append(have, p)
			}
		}
		if len(have) == 0 {
			continue
		}
		rs, err := stream.RestoreFromCheckpoints(ctx, conn, s.cl, s.changelog, have, stCfg, dir)
		if err != nil {
			t.Fatal(err)
		}
		w, got := map[int32]*state.Partition{}, map[int32]*state.Partition{}
		for p, r := range rs {
			files++
			if r.From == nil {
				t.Errorf("instance %s partition %d: checkpoint refused: %s", in.id, p, r.Refused)
				continue
			}
			covered[p] = true
			if r.Records == 0 {
				current++
			}
			tail += r.Records
			w[p], got[p] = want[p], r.State
		}
		_, diffs := stream.DiffState(w, got)
		for i, d := range diffs {
			if i == 5 {
				break
			}
			t.Errorf("instance %s checkpoint + changelog tail: %s", in.id, d)
		}
	}
	for _, p := range ps {
		if !covered[p] {
			t.Errorf("partition %d: no checkpoint in any instance's state.dir", p)
		}
	}
	t.Logf("state: %d checkpoints (%d current, the others read %d tail records in all), each with its changelog tail equal to a fault-free pass",
		files, current, tail)
}

// txnCounts counts committed and aborted transactions over every instance log:
// the "stopped" line of a graceful exit carries totals; a killed process's
// aborts are counted from its "transaction aborted" lines.
func (s *scenario) txnCounts() (aborted int, fenced int) {
	s.eachLogLine(func(line []byte) {
		if bytes.Contains(line, []byte("transaction aborted")) {
			aborted++
		}
		if bytes.Contains(line, []byte("stopped with an error")) {
			fenced++
		}
	})
	return aborted, fenced
}

// eachLogLine calls fn with every line of every instance log written so far
// (a log that cannot be opened is passed over). The line is only valid during
// the call.
func (s *scenario) eachLogLine(fn func(line []byte)) {
	s.mu.Lock()
	logs := slices.Clone(s.logs)
	s.mu.Unlock()
	for _, p := range logs {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			fn(sc.Bytes())
		}
		f.Close()
	}
}

// metric scrapes one counter value from an instance's /metrics.
func (in *instance) metric(name, labels string) (float64, error) {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(in.metrics + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+"{") && strings.Contains(line, labels) {
			f := strings.Fields(line)
			return strconv.ParseFloat(f[len(f)-1], 64)
		}
	}
	return 0, nil // not yet incremented
}

// ---------------------------------------------------------------------------
// results

type durations []time.Duration

func (d durations) median() time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// quantile is the q-quantile (nearest rank), 0 for none.
func (d durations) quantile(q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func (d durations) max() time.Duration {
	if len(d) == 0 {
		return 0
	}
	return slices.Max(d)
}

// result is one scenario's figures, merged into $SCORESTREAM_IT_RESULTS.
type result map[string]any

var resultsMu sync.Mutex

func (s *scenario) report(r result, rep audit.Report) {
	s.t.Helper()
	aborted, errExits := s.txnCounts()
	s.mu.Lock()
	if len(s.unplanned) > 0 && !s.mayExit {
		// The pipeline must recover by itself (a new session in-process), not
		// through the supervisor's restarts.
		s.t.Errorf("%d instance(s) exited on their own: %v", len(s.unplanned), s.unplanned[:min(3, len(s.unplanned))])
	}
	s.mu.Unlock()
	r["scenario"] = s.name
	r["passed"] = !s.t.Failed()
	r["events"] = rep.Inputs
	r["predictions"] = rep.Predictions
	r["dead_letters"] = rep.DeadLetters
	r["duplicates"] = rep.Duplicates
	r["missing"] = rep.Missing
	r["orphans"] = rep.Orphans
	r["clean"] = rep.Clean
	r["aborted_txns_logged"] = aborted
	r["error_exits"] = errExits
	s.mu.Lock()
	r["unplanned_exits"] = len(s.unplanned)
	if len(s.unplanned) > 0 {
		r["unplanned_exit_list"] = slices.Clone(s.unplanned[:min(10, len(s.unplanned))])
	}
	s.mu.Unlock()
	b, _ := json.Marshal(r)
	s.t.Logf("RESULT %s", b)
	path := os.Getenv("SCORESTREAM_IT_RESULTS")
	if path == "" {
		return
	}
	resultsMu.Lock()
	defer resultsMu.Unlock()
	all := map[string]result{}
	if old, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(old, &all)
	}
	all[s.name] = r
	b, _ = json.MarshalIndent(all, "", "  ")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		s.t.Errorf("results: %v", err)
	}
}

func ms(d time.Duration) float64 { return float64(d.Round(time.Millisecond)) / 1e6 }

func randDuration(r *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Int64N(int64(hi-lo)))
}
