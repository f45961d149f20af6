package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
	"gopkg.in/yaml.v3"
)

// checkConfig writes demo/config.yaml (and its model) to a temp dir with the
// given brokers and registry, patched by patch, and returns the config's path.
func checkConfig(t *testing.T, brokers []string, registry string, patch func(c map[string]any)) string {
	t.Helper()
	raw, err := os.ReadFile("../../demo/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	c["kafka"] = map[string]any{"brokers": brokers}
	c["registry"] = map[string]any{"urls": []string{registry}}
	c["output"].(map[string]any)["create_topics"] = true // --check must not create them anyway
	if patch != nil {
		patch(c)
	}
	dir := t.TempDir()
	model, err := os.ReadFile("../../demo/model.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.json"), model, 0o644); err != nil {
		t.Fatal(err)
	}
	// model.path stays "model.json": relative to the config file, beside it.
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkCluster is kfake with the demo input (4 partitions), the given
// changelog partitions (0: none), compacted if compact, and with outputs the
// predictions and dead-letter topics (4 partitions).
func checkCluster(t *testing.T, changelogParts int32, compact, outputs bool) (*kfake.Cluster, func() *kadm.Client) {
	t.Helper()
	// AllowAutoTopicCreation: a metadata request asking for auto-creation would
	// create the missing topics, and the tests would see them.
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "payments"), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	newAdm := func() *kadm.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return kadm.NewClient(cl)
	}
	if changelogParts > 0 {
		var cfg map[string]*string
		if compact {
			cfg = map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
		}
		if _, err := newAdm().CreateTopic(t.Context(), changelogParts, 1, cfg, "scorestream-state-changelog"); err != nil {
			t.Fatal(err)
		}
	}
	if outputs {
		if _, err := newAdm().CreateTopics(t.Context(), 4, 1, nil, "predictions", "payments-dlq"); err != nil {
			t.Fatal(err)
		}
	}
	return c, newAdm
}

func topicNames(t *testing.T, adm *kadm.Client) []string {
	t.Helper()
	td, err := adm.ListTopics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return td.Names() // sorted
}

func subjects(t *testing.T, reg *srfake.Registry) []string {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	s, err := cl.Subjects(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(s)
	return s
}

func runCheckCmd(t *testing.T, path string) (code int, out string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code = runCmd(context.Background(), []string{"-c", path, "--check", "--timeout", "3s"}, &stdout, &stderr)
	t.Logf("run --check took %v, exit %d:\n%s%s", time.Since(start).Round(time.Millisecond), code, stdout.String(), stderr.String())
	return code, stdout.String() + stderr.String()
}

// fails returns the FAIL lines' check names.
func fails(out string) []string {
	var names []string
	for line := range strings.Lines(out) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "FAIL  "); ok {
			name, _, _ := strings.Cut(rest, ":")
			names = append(names, name)
		}
	}
	return names
}

// TestRunCheckThreeProblems is the acceptance case: an unreachable registry and
// two missing topics are all reported in one run, exit 1, and the broker is
// unchanged although output.create_topics is true.
func TestRunCheckThreeProblems(t *testing.T) {
	c, newAdm := checkCluster(t, 4, true, false)
	before := topicNames(t, newAdm())
	path := checkConfig(t, c.ListenAddrs(), "http://"+genClosedAddr(t), nil)
	code, out := runCheckCmd(t, path)
	if code != exitFailure {
		t.Fatalf("exit %d, want %d", code, exitFailure)
	}
	want := []string{"output.predictions_topic", "output.dead_letter_topic", "registry.urls"}
	if got := fails(out); !slices.Equal(got, want) {
		t.Fatalf("FAIL lines for %v, want %v", got, want)
	}
	for _, s := range []string{`topic "predictions" does not exist: it needs 4 partitions`, "3 problems found", "  ok    output.changelog_topic"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q", s)
		}
	}
	if after := topicNames(t, newAdm()); !slices.Equal(before, after) {
		t.Fatalf("topics before %v, after %v: --check changed the broker", before, after)
	}
}

// TestRunCheckClean: with everything in place --check passes, registers no
// schema (the registry's subjects are unchanged) and creates nothing.
func TestRunCheckClean(t *testing.T) {
	c, newAdm := checkCluster(t, 4, true, true)
	reg := srfake.New()
	t.Cleanup(reg.Close)
	beforeT, beforeS := topicNames(t, newAdm()), subjects(t, reg)
	code, out := runCheckCmd(t, checkConfig(t, c.ListenAddrs(), reg.URL(), nil))
	if code != exitOK || !strings.Contains(out, "checks passed") {
		t.Fatalf("exit %d, want 0 with all checks passed", code)
	}
	for _, s := range []string{
		"subject predictions-value is new",
		// kfake lists no internal topics: a new cluster, whose coordinators
		// --check must not wake (that would create __consumer_offsets).
		"stream.group: not checked: no group has been used on this cluster yet",
		"stream.transactional_id_prefix: not checked",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q", s)
		}
	}
	if after := subjects(t, reg); !slices.Equal(beforeS, after) {
		t.Fatalf("subjects before %v, after %v: --check registered a schema", beforeS, after)
	}
	if after := topicNames(t, newAdm()); !slices.Equal(beforeT, after) {
		t.Fatalf("topics before %v, after %v", beforeT, after)
	}
}

// TestRunCheckEveryKind: a model that does not fit the features, a changelog
// neither compacted nor co-partitioned, and a prediction subject whose latest
// version refuses the schema are each reported, with the rest.
func TestRunCheckEveryKind(t *testing.T) {
	c, _ := checkCluster(t, 3, false, true)
	reg := srfake.New()
	t.Cleanup(reg.Close)
	if _, _, err := reg.RegisterSchema("predictions-value", sr.Schema{Schema: `"string"`}); err != nil {
		t.Fatal(err)
	}
	reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, "/compatibility/") {
			return false
		}
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		fmt.Fprint(w, `{"is_compatible": false, "messages": ["reader type RECORD not compatible with writer type STRING"]}`)
		return true
	})
	path := checkConfig(t, c.ListenAddrs(), reg.URL(), func(c map[string]any) {
		fs := c["features"].([]any)
		fs[len(fs)-1].(map[string]any)["name"] = "secs_since_previous" // the model wants secs_since_last
	})
	code, out := runCheckCmd(t, path)
	if code != exitFailure {
		t.Fatalf("exit %d, want %d", code, exitFailure)
	}
	want := []string{"model", "output.changelog_topic", "output.predictions_topic"}
	if got := fails(out); !slices.Equal(got, want) {
		t.Fatalf("FAIL lines for %v, want %v", got, want)
	}
	for _, s := range []string{"co-partitioned", `cleanup.policy="delete", want "compact"`, "incompatible", "not compatible with writer type STRING"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q", s)
		}
	}
}

// TestRunCheckBrokersUnreachable: no broker is one problem that says so (the
// topics cannot be checked then); the registry is still checked.
func TestRunCheckBrokersUnreachable(t *testing.T) {
	reg := srfake.New()
	t.Cleanup(reg.Close)
	code, out := runCheckCmd(t, checkConfig(t, []string{genClosedAddr(t)}, reg.URL(), nil))
	if code != exitFailure {
		t.Fatalf("exit %d, want %d", code, exitFailure)
	}
	if got := fails(out); !slices.Equal(got, []string{"kafka.brokers"}) {
		t.Fatalf("FAIL lines for %v, want [kafka.brokers]", got)
	}
	if !strings.Contains(out, "ok    registry.urls") {
		t.Errorf("the registry was not checked")
	}
}

// TestRunCheckACLs: where the brokers report this principal's authorized
// operations, a topic it may not write, and a transactional id it may not use,
// are problems.
func TestRunCheckACLs(t *testing.T) {
	allow := func(rt kmsg.ACLResourceType, name string, ops ...kmsg.ACLOperation) []kfake.ACL {
		var out []kfake.ACL
		for _, op := range ops {
			out = append(out, kfake.ACL{Resource: rt, Name: name, Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: op, Allow: true})
		}
		return out
	}
	var acls []kfake.ACL
	acls = append(acls, allow(kmsg.ACLResourceTypeTopic, "payments", kmsg.ACLOperationDescribe, kmsg.ACLOperationRead)...)
	acls = append(acls, allow(kmsg.ACLResourceTypeTopic, "predictions", kmsg.ACLOperationDescribe, kmsg.ACLOperationWrite)...)
	acls = append(acls, allow(kmsg.ACLResourceTypeTopic, "payments-dlq", kmsg.ACLOperationDescribe)...) // no write
	acls = append(acls, allow(kmsg.ACLResourceTypeTopic, "scorestream-state-changelog",
		kmsg.ACLOperationDescribe, kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDescribeConfigs)...)
	acls = append(acls, allow(kmsg.ACLResourceTypeGroup, "scorestream-demo", kmsg.ACLOperationDescribe, kmsg.ACLOperationRead)...)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.EnableACLs(),
		kfake.Superuser("PLAIN", "admin", "admin"), kfake.User("PLAIN", "alice", "alice-pw", acls...),
		kfake.SeedTopics(4, "payments", "predictions", "payments-dlq"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	admCl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.SASL(plain.Auth{User: "admin", Pass: "admin"}.AsMechanism()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admCl.Close)
	if _, err := kadm.NewClient(admCl).CreateTopic(t.Context(), 4, 1,
		map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, "scorestream-state-changelog"); err != nil {
		t.Fatal(err)
	}
	reg := srfake.New()
	t.Cleanup(reg.Close)
	t.Setenv("SCORESTREAM_CHECK_TEST_PASSWORD", "alice-pw")
	path := checkConfig(t, c.ListenAddrs(), reg.URL(), func(c map[string]any) {
		c["kafka"].(map[string]any)["sasl"] = map[string]any{"mechanism": "PLAIN", "username": "alice",
			"password_env": "SCORESTREAM_CHECK_TEST_PASSWORD"}
	})
	code, out := runCheckCmd(t, path)
	if code != exitFailure {
		t.Fatalf("exit %d, want %d", code, exitFailure)
	}
	want := []string{"output.dead_letter_topic", "stream.transactional_id_prefix"}
	if got := fails(out); !slices.Equal(got, want) {
		t.Fatalf("FAIL lines for %v, want %v", got, want)
	}
	if !strings.Contains(out, `topic "payments-dlq": this principal may not write it (ACLs)`) {
		t.Errorf("output does not name the missing write")
	}
}

// silentPeer accepts TCP connections and never answers: a blackholed broker or
// registry, which only a timeout ends.
func silentPeer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never read or written
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestRunCheckSilentPeers: brokers and a registry that accept connections but
// never answer are both reported, each naming the --timeout it waited; without
// that bound this test would hang (go test's own timeout fails it).
func TestRunCheckSilentPeers(t *testing.T) {
	path := checkConfig(t, []string{silentPeer(t)}, "http://"+silentPeer(t), nil)
	var stdout, stderr bytes.Buffer
	code := runCmd(context.Background(), []string{"-c", path, "--check", "--timeout", "1s"}, &stdout, &stderr)
	out := stdout.String() + stderr.String()
	if code != exitFailure {
		t.Fatalf("exit %d, want %d:\n%s", code, exitFailure, out)
	}
	if got := fails(out); !slices.Equal(got, []string{"kafka.brokers", "registry.urls"}) {
		t.Fatalf("FAIL lines for %v, want [kafka.brokers registry.urls]:\n%s", got, out)
	}
	for _, s := range []string{"answered within 1s", "did not answer within 1s"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
}
