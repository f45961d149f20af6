package config

import (
	"bufio"
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// isolateEnv makes the test independent of the caller's environment: no
// overrides, and the password variables the testdata names.
func isolateEnv(t *testing.T) {
	t.Helper()
	t.Setenv(EnvBrokers, "")
	t.Setenv(EnvRegistryURLs, "")
	t.Setenv(EnvInstanceID, "")
	t.Setenv(EnvMetricsListen, "")
	t.Setenv("SCORESTREAM_TEST_PASSWORD", "s3cret")
	t.Setenv("SCORESTREAM_TEST_REGISTRY_PASSWORD", "r3gistry")
	t.Setenv("SCORESTREAM_TEST_UNSET", "")
}

func TestGoodFiles(t *testing.T) {
	isolateEnv(t)
	files, err := filepath.Glob("testdata/*.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found %d good files, want at least 3", len(files))
	}
	for _, f := range append(files, "example.yaml") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := Load(f)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate after Load: %v", err)
			}
		})
	}
}

// wants returns the "# want: " lines at the top of a bad file.
func wants(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		w, ok := strings.CutPrefix(sc.Text(), "# want: ")
		if !ok {
			break
		}
		out = append(out, w)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBadFiles(t *testing.T) {
	isolateEnv(t)
	files, err := filepath.Glob("testdata/*.bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 15 {
		t.Fatalf("found %d bad files, want at least 15", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want := wants(t, f)
			if len(want) == 0 {
				t.Fatalf("%s has no '# want: ' line", f)
			}
			c, err := Load(f)
			if err == nil {
				t.Fatalf("Load succeeded (%+v), want errors %q", c, want)
			}
			if c != nil {
				t.Errorf("Load returned a Config with its error")
			}
			msg := err.Error()
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not contain %q; got:\n%s", w, msg)
				}
			}
			// Each file holds exactly the listed faults: one problem per line.
			if n := strings.Count(msg, "\n") + 1; n != len(want) {
				t.Errorf("got %d problems, want %d:\n%s", n, len(want), msg)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	isolateEnv(t)
	c, err := Load("testdata/minimal.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatalf("hostname: %v", err)
	}
	// The documented defaults.
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"kafka.client_id", c.Kafka.ClientID, "scorestream"},
		{"registry.timeout", c.Registry.Timeout, 5 * time.Second},
		{"registry.cache_size", c.Registry.CacheSize, 1000},
		{"registry.retry_max", c.Registry.RetryMax, 10 * time.Second},
		{"stream.transactional_id_prefix", c.Stream.TransactionalIDPrefix, "scorestream"},
		{"stream.instance_id", c.Stream.InstanceID, host},
		{"stream.commit_interval", c.Stream.CommitInterval, 100 * time.Millisecond},
		{"stream.max_records_per_txn", c.Stream.MaxRecordsPerTxn, 10000},
		{"stream.transaction_timeout", c.Stream.TransactionTimeout, 60 * time.Second},
		{"stream.session_timeout", c.Stream.SessionTimeout, 45 * time.Second},
		{"stream.rebalance_timeout", c.Stream.RebalanceTimeout, 30 * time.Second},
		{"stream.event_id_field", c.Stream.EventIDField, "event_id"},
		{"stream.event_time_field", c.Stream.EventTimeField, ""},
		{"stream.shutdown_timeout", c.Stream.ShutdownTimeout, 30 * time.Second},
		{"stream.liveness_timeout", c.Stream.LivenessTimeout, 5 * time.Minute},
		{"state.max_entities", c.State.MaxEntities, 100000},
		{"state.ttl", c.State.TTL, 24 * time.Hour},
		{"state.max_events", c.State.MaxEvents, 256},
		{"metrics.listen", c.Metrics.Listen, ":9464"},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "json"},
		{"model.format", c.Model.Format, ""},
		{"model.challenger", c.Model.Challenger == nil, true},
		{"kafka.tls.enabled", c.Kafka.TLS.Enabled, false},
		{"kafka.sasl.mechanism", c.Kafka.SASL.Mechanism, ""},
		{"TransactionalID()", c.TransactionalID(), "scorestream-" + host},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestFullFile(t *testing.T) {
	isolateEnv(t)
	c, err := Load("testdata/full.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"kafka.brokers[1]", c.Kafka.Brokers[1], "broker-2.internal:9093"},
		{"kafka.sasl.password", c.Kafka.SASL.Password, "s3cret"},
		{"registry.password", c.Registry.Password, "r3gistry"},
		{"registry.timeout", c.Registry.Timeout, 2 * time.Second},
		{"stream.commit_interval", c.Stream.CommitInterval, 250 * time.Millisecond},
		{"stream.transaction_timeout", c.Stream.TransactionTimeout, 15 * time.Minute},
		{"stream.liveness_timeout (unset: twice the transaction timeout)", c.Stream.LivenessTimeout, 30 * time.Minute},
		{"stream.max_records_per_txn", c.Stream.MaxRecordsPerTxn, 500},
		{"state.ttl", c.State.TTL, time.Hour},
		{"features[4].window", c.Features[4].Window, 30 * time.Minute},
		{"features[0].default", *c.Features[0].Default, 0.0},
		{"features[6].default", *c.Features[6].Default, -1.0},
		{"features[1].default", c.Features[1].Default == nil, true},
		{"model.thresholds[0].min_score", c.Model.Thresholds[0].MinScore, math.Inf(-1)},
		{"model.challenger.format", c.Model.Challenger.Format, "logistic"},
		{"model.challenger.version", c.Model.Challenger.Version, "8"},
		{"output.feature_logging", c.Output.FeatureLogging, true},
		{"metrics.listen", c.Metrics.Listen, "127.0.0.1:9000"},
		{"TransactionalID()", c.TransactionalID(), "fraud-scorer-pod-7"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestAnchors(t *testing.T) {
	isolateEnv(t)
	c, err := Load("testdata/anchors.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Features) != 2 {
		t.Fatalf("features = %+v, want 2", c.Features)
	}
	f := c.Features[1]
	if f.Name != "sum_2h" || f.State != "sum" || f.Window != 2*time.Hour {
		t.Errorf("merged feature = %+v, want sum_2h state sum window 2h", f)
	}
	if c.Metrics.Listen != "" {
		t.Errorf("metrics.listen = %q, want explicit \"\" to override the default", c.Metrics.Listen)
	}
}

// An unknown key inside aliased content is not seen by the path walker; the
// strict decode must still refuse it.
func TestUnknownKeyThroughAlias(t *testing.T) {
	isolateEnv(t)
	data, err := os.ReadFile("testdata/minimal.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(data), "  - name: amount\n    field: amount\n",
		"  - &f {name: amount, field: amount}\n", 1)
	doc = strings.Replace(doc, "  path: model.json\n", "  path: model.json\n  challenger: *f\n", 1)
	_, err = Parse([]byte(doc))
	if err == nil || !strings.Contains(err.Error(), "field field not found in type config.Model") {
		t.Fatalf("Parse = %v, want the unknown key \"field\" in model.challenger refused", err)
	}
}

func TestExample(t *testing.T) {
	isolateEnv(t)
	c, err := Load("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range c.Features {
		names = append(names, f.Name)
	}
	wantNames := "amount log_amount hour channel_idx device_age_days count_10m count_1h sum_1h sum_24h mean_24h merchants_24h secs_since_last max_amount_1h countries_7d amt_over_mean_24h"
	if got := strings.Join(names, " "); got != wantNames {
		t.Errorf("features = %s\nwant       %s", got, wantNames)
	}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"input", strings.Join(c.Stream.InputTopics, ","), "payments"},
		{"predictions", c.Output.PredictionsTopic, "predictions"},
		{"dlq", c.Output.DeadLetterTopic, "payments-dlq"},
		{"changelog", c.Output.ChangelogTopic, "scorestream-state-changelog"},
		{"registry", strings.Join(c.Registry.URLs, ","), "http://127.0.0.1:8081"},
		{"brokers", strings.Join(c.Kafka.Brokers, ","), "127.0.0.1:9092"},
		{"amount_field", c.State.AmountField, "amount"},
		{"distinct_field", c.State.DistinctField, "merchant.id"},
		{"event_time_field", c.Stream.EventTimeField, "event_time"},
		{"model.path", c.Model.Path, "../examples/fraud/model.json"}, // relative to config/
		{"model.format", c.Model.Format, "xgboost"},
		{"model.name", c.Model.Name, "fraud"},
		{"model.version", c.Model.Version, "1"},
		{"thresholds", len(c.Model.Thresholds), 2},
		{"review", c.Model.Thresholds[0], Threshold{Decision: "review", MinScore: 0.5}},
		{"block", c.Model.Thresholds[1], Threshold{Decision: "block", MinScore: 0.9}},
		{"channel categories", strings.Join(c.Features[3].Categories, ","), "pos,contactless,ecom,moto"}, // the generator's channels
		{"hour transform", c.Features[2].Transform, "hour_of_day"},
		{"count_10m window", c.Features[5].Window, 10 * time.Minute},
		{"secs_since_last", c.Features[11].State, "time_since_last"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

// TestExampleModelExists: example.yaml's model path, relative to the file,
// names the fraud example's model.
func TestExampleModelExists(t *testing.T) {
	isolateEnv(t)
	c, err := Load("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.Model.Path); err != nil {
		t.Fatalf("model.path %s: %v", c.Model.Path, err)
	}
}

// TestRelativePaths: Load resolves every relative file path against the config
// file's directory, whatever the working directory; absolute paths stay, and
// Parse (no file) leaves relative paths to the working directory.
func TestRelativePaths(t *testing.T) {
	isolateEnv(t)
	dir := t.TempDir()
	for _, f := range []string{"ca.pem", "client.pem", "client.key"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile("testdata/minimal.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	doc = strings.Replace(doc, "  path: model.json\n", "  path: models/m.json\n  manifest: m.yaml\n"+
		"  challenger: {path: /abs/next.json, manifest: next.yaml}\n", 1)
	doc = strings.Replace(doc, "registry:\n  urls: [\"http://127.0.0.1:8081\"]",
		"registry:\n  urls: [\"https://127.0.0.1:8081\"]\n  tls: {enabled: true, ca_file: ca.pem}", 1)
	doc = strings.Replace(doc, "kafka:\n", "kafka:\n  tls: {enabled: true, ca_file: ca.pem, cert_file: client.pem, key_file: client.key}\n", 1)
	doc = strings.Replace(doc, "  changelog_topic: scorestream-state-changelog\n",
		"  changelog_topic: scorestream-state-changelog\n  shadow_topic: predictions-shadow\n", 1)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v\n%s", err, doc)
	}
	for _, tc := range []struct{ field, got, want string }{
		{"model.path", c.Model.Path, filepath.Join(dir, "models/m.json")},
		{"model.manifest", c.Model.Manifest, filepath.Join(dir, "m.yaml")},
		{"model.challenger.path", c.Model.Challenger.Path, "/abs/next.json"},
		{"model.challenger.manifest", c.Model.Challenger.Manifest, filepath.Join(dir, "next.yaml")},
		{"kafka.tls.ca_file", c.Kafka.TLS.CAFile, filepath.Join(dir, "ca.pem")},
		{"kafka.tls.cert_file", c.Kafka.TLS.CertFile, filepath.Join(dir, "client.pem")},
		{"kafka.tls.key_file", c.Kafka.TLS.KeyFile, filepath.Join(dir, "client.key")},
		{"registry.tls.ca_file", c.Registry.TLS.CAFile, filepath.Join(dir, "ca.pem")},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.field, tc.got, tc.want)
		}
	}
	// The TLS files exist only beside the config: Parse, relative to the working
	// directory, does not find them.
	if _, err := Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), "kafka.tls.ca_file: stat ca.pem") {
		t.Fatalf("Parse = %v, want ca.pem looked up in the working directory", err)
	}
}

func TestEnvOverrides(t *testing.T) {
	isolateEnv(t)
	t.Setenv(EnvBrokers, " kafka-0:9092, kafka-1:9092 ,,")
	t.Setenv(EnvRegistryURLs, "https://a.example:8081,https://b.example:8081")
	t.Setenv(EnvInstanceID, "scorer-3")
	t.Setenv(EnvMetricsListen, "127.0.0.1:9471")
	c, err := Load("testdata/minimal.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Kafka.Brokers, " "); got != "kafka-0:9092 kafka-1:9092" {
		t.Errorf("brokers = %q", got)
	}
	if got := strings.Join(c.Registry.URLs, " "); got != "https://a.example:8081 https://b.example:8081" {
		t.Errorf("registry urls = %q", got)
	}
	if got := c.TransactionalID(); got != "scorestream-scorer-3" {
		t.Errorf("TransactionalID = %q", got)
	}
	if c.Metrics.Listen != "127.0.0.1:9471" {
		t.Errorf("metrics.listen = %q", c.Metrics.Listen)
	}
	t.Setenv(EnvMetricsListen, "no-port")
	if _, err := Load("testdata/minimal.good.yaml"); err == nil || !strings.Contains(err.Error(), "metrics.listen") {
		t.Errorf("a bad %s: %v, want an error naming metrics.listen", EnvMetricsListen, err)
	}
}

// The environment can supply what the file leaves out, and a bad value from the
// environment is reported like a bad value from the file.
func TestEnvFillsAndFails(t *testing.T) {
	isolateEnv(t)
	data, err := os.ReadFile("testdata/no_brokers.bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvBrokers, "10.0.0.1:9092")
	c, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse with %s set: %v", EnvBrokers, err)
	}
	if len(c.Kafka.Brokers) != 1 || c.Kafka.Brokers[0] != "10.0.0.1:9092" {
		t.Errorf("brokers = %q", c.Kafka.Brokers)
	}
	t.Setenv(EnvBrokers, "10.0.0.1")
	if _, err := Parse(data); err == nil || !strings.Contains(err.Error(), `kafka.brokers[0]: "10.0.0.1" is not host:port`) {
		t.Errorf("Parse with a bad %s = %v", EnvBrokers, err)
	}
}

func TestPasswordFromEnv(t *testing.T) {
	isolateEnv(t)
	base, err := os.ReadFile("testdata/missing_env_password.bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		set   bool
		value string
		ok    bool
	}{
		{"unset", false, "", false},
		{"empty", true, "", false},
		{"set", true, "pa:ss word", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SCORESTREAM_TEST_UNSET", tc.value)
			if !tc.set {
				os.Unsetenv("SCORESTREAM_TEST_UNSET") // t.Setenv restores it
			}
			c, err := Parse(base)
			if !tc.ok {
				if err == nil || !strings.Contains(err.Error(), `kafka.sasl.password_env: environment variable "SCORESTREAM_TEST_UNSET" is unset or empty`) {
					t.Fatalf("Parse = %v, want the unset variable named", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Kafka.SASL.Password != tc.value {
				t.Errorf("password = %q, want %q", c.Kafka.SASL.Password, tc.value)
			}
		})
	}
}

// validConfig is a valid Config built in code, independent of the testdata.
func validConfig() *Config {
	c := Default()
	c.Stream.InstanceID = "i-1"
	c.Kafka.Brokers = []string{"127.0.0.1:9092"}
	c.Registry.URLs = []string{"http://127.0.0.1:8081"}
	c.Stream.InputTopics = []string{"payments"}
	c.Stream.Group = "fraud"
	c.Output = Output{PredictionsTopic: "predictions", DeadLetterTopic: "dlq", ChangelogTopic: "changelog"}
	c.State.AmountField = "amount"
	c.State.DistinctField = "merchant.id"
	c.Features = []Feature{
		{Name: "amount", Field: "amount"},
		{Name: "count_1h", State: "count", Window: time.Hour},
		{Name: "sum_1h", State: "sum", Window: time.Hour},
		{Name: "since", State: "time_since_last"},
	}
	c.Model = Model{Path: "m.json", Thresholds: []Threshold{{"review", 0.5}, {"block", 0.9}}}
	return c
}

func TestValidate(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("validConfig: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(c *Config)
		want   []string // nil: valid
	}{
		{"transaction timeout at the broker max", func(c *Config) {
			c.Stream.TransactionTimeout = 15 * time.Minute
			c.Stream.LivenessTimeout = 30 * time.Minute
		}, nil},
		{"liveness disabled", func(c *Config) { c.Stream.LivenessTimeout = 0 }, nil},
		{"negative model class", func(c *Config) { k := -1; c.Model.Class = &k }, []string{"model.class: -1 must be >= 0"}},
		{"liveness within the registry backoff", func(c *Config) {
			c.Stream.LivenessTimeout = 2 * time.Minute
			c.Registry.RetryMax = 3 * time.Minute
		}, []string{"stream.liveness_timeout: 2m0s must be > registry.retry_max 3m0s"}},
		{"window equal to ttl", func(c *Config) { c.Features[1].Window = c.State.TTL }, nil},
		{"max_distinct on a distinct feature", func(c *Config) {
			c.Features = append(c.Features, Feature{Name: "m", State: "distinct", Field: "merchant", Window: time.Hour, MaxDistinct: 16})
		}, nil},
		{"max_distinct on a count", func(c *Config) { c.Features[1].MaxDistinct = 16 }, []string{"features[1].max_distinct: only with state distinct"}},
		{"negative max_distinct", func(c *Config) {
			c.Features = append(c.Features, Feature{Name: "m", State: "distinct", Field: "merchant", Window: time.Hour, MaxDistinct: -1})
		}, []string{"max_distinct: must be >= 0"}},
		{"max_distinct above max_events", func(c *Config) {
			c.Features = append(c.Features, Feature{Name: "m", State: "distinct", Field: "merchant", Window: time.Hour, MaxDistinct: c.State.MaxEvents + 1})
		}, []string{"max_distinct: 257 exceeds state.max_events 256"}},
		{"metrics disabled", func(c *Config) { c.Metrics.Listen = "" }, nil},
		{"ipv6 broker", func(c *Config) { c.Kafka.Brokers = []string{"[::1]:9092"} }, nil},
		{"no thresholds", func(c *Config) { c.Model.Thresholds = nil }, nil},
		{"sasl with password set in code", func(c *Config) {
			c.Kafka.SASL = SASL{Mechanism: "PLAIN", Username: "u", Password: "p"}
		}, nil},
		{"challenger with shadow", func(c *Config) {
			c.Model.Challenger = &Model{Path: "c.json"}
			c.Output.ShadowTopic = "shadow"
		}, nil},
		{"everything wrong in stream", func(c *Config) { c.Stream = Stream{} }, []string{
			"stream.input_topics: required",
			"stream.group: required",
			"stream.transactional_id_prefix: required",
			"stream.instance_id: required",
			"stream.commit_interval: must be > 0",
			"stream.max_records_per_txn: must be > 0",
			"stream.transaction_timeout: must be > 0",
			"stream.session_timeout: must be > 0",
			"stream.rebalance_timeout: must be > 0",
			"stream.shutdown_timeout: must be > 0",
		}},
		{"transaction timeout equal to commit interval", func(c *Config) {
			c.Stream.CommitInterval = time.Second
			c.Stream.TransactionTimeout = time.Second
		}, []string{"stream.transaction_timeout: 1s must be > stream.commit_interval 1s"}},
		{"duplicate input", func(c *Config) { c.Stream.InputTopics = []string{"a", "b", "a"} },
			[]string{`stream.input_topics[2]: duplicate "a" (also stream.input_topics[0])`}},
		{"dot topics", func(c *Config) { c.Stream.InputTopics = []string{".", ".."} },
			[]string{`stream.input_topics[0]: "." is not a legal topic name`, `stream.input_topics[1]: ".." is not a legal topic name`}},
		{"topic of 249 is fine", func(c *Config) { c.Stream.InputTopics = []string{strings.Repeat("t", 249)} }, nil},
		{"broker port", func(c *Config) { c.Kafka.Brokers = []string{"h:0", "h:65536", ":9092", "h:x"} }, []string{
			`kafka.brokers[0]: "h:0": port must be 1-65535`,
			`kafka.brokers[1]: "h:65536": port must be 1-65535`,
			`kafka.brokers[2]: ":9092": host required`,
			`kafka.brokers[3]: "h:x": port must be 1-65535`,
		}},
		{"registry urls", func(c *Config) {
			c.Registry.URLs = []string{"127.0.0.1:8081", "http://", "https://u:pw@r:8081"}
		}, []string{
			`registry.urls[0]: "127.0.0.1:8081": want an http:// or https:// URL`,
			`registry.urls[1]: "http://": no host`,
			`registry.urls[2]: "https://u:xxxxx@r:8081": put credentials in registry.username`,
		}},
		{"registry auth without password", func(c *Config) { c.Registry.Username = "u" },
			[]string{"registry.password_env: required"}},
		{"registry limits", func(c *Config) { c.Registry.Timeout, c.Registry.CacheSize, c.Registry.RetryMax = 0, 0, -1 }, []string{
			"registry.timeout: must be > 0", "registry.cache_size: must be > 0", "registry.retry_max: must be > 0",
		}},
		{"sasl without mechanism", func(c *Config) { c.Kafka.SASL.Username = "u" },
			[]string{"kafka.sasl.mechanism: required when username or password_env is set"}},
		{"sasl lower case", func(c *Config) { c.Kafka.SASL = SASL{Mechanism: "plain", Username: "u", Password: "p"} },
			[]string{`kafka.sasl.mechanism: unknown "plain" (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)`}},
		{"sasl without password", func(c *Config) { c.Kafka.SASL = SASL{Mechanism: "PLAIN", Username: "u"} },
			[]string{"kafka.sasl.password_env: required"}},
		{"key without cert", func(c *Config) {
			c.Kafka.TLS = TLS{Enabled: true, KeyFile: "config_test.go"}
		}, []string{"kafka.tls.cert_file: required when key_file is set"}},
		{"tls file is a directory", func(c *Config) { c.Kafka.TLS = TLS{Enabled: true, CAFile: "testdata"} },
			[]string{"kafka.tls.ca_file: testdata is a directory"}},
		{"shadow equals predictions", func(c *Config) {
			c.Model.Challenger = &Model{Path: "c.json"}
			c.Output.ShadowTopic = "predictions"
		}, []string{`output.shadow_topic: "predictions" is also output.predictions_topic`}},
		{"nested challenger", func(c *Config) {
			c.Model.Challenger = &Model{Path: "c.json", Format: "tf", Challenger: &Model{}}
			c.Output.ShadowTopic = "shadow"
		}, []string{
			`model.challenger.format: unknown "tf"`,
			"model.challenger.challenger: a challenger cannot have a challenger",
		}},
		{"window on a field feature", func(c *Config) { c.Features[0].Window = time.Minute },
			[]string{"features[0].window: only for state features"}},
		{"negative window", func(c *Config) { c.Features[1].Window = -time.Minute },
			[]string{`features[1].window: required for state feature "count" (must be > 0)`}},
		{"bool and category on state", func(c *Config) {
			c.Features[1].Transform = "bool"
			c.Features[2].Transform = "category"
			c.Features[2].Categories = []string{"x"}
		}, []string{
			"features[1].transform: bool applies to field features only",
			"features[2].transform: category applies to field features only",
		}},
		{"day_of_week on state", func(c *Config) { c.Features[3].Transform = "day_of_week" },
			[]string{"features[3].transform: day_of_week applies to field features only"}},
		{"log1p on state is fine", func(c *Config) { c.Features[2].Transform = "log1p" }, nil},
		{"malformed field paths", func(c *Config) {
			c.Features[0].Field = "merchant..id"
			c.State.DistinctField = ".id"
			c.Stream.EventTimeField = "time "
		}, []string{
			`features[0].field: "merchant..id": malformed field path`,
			`state.distinct_field: ".id": malformed field path`,
			`stream.event_time_field: "time ": malformed field path`,
		}},
		{"infinite default", func(c *Config) { inf := math.Inf(1); c.Features[0].Default = &inf },
			[]string{"features[0].default: must be finite"}},
		{"nan default means missing", func(c *Config) { nan := math.NaN(); c.Features[0].Default = &nan }, nil},
		{"threshold order", func(c *Config) {
			c.Model.Thresholds = []Threshold{{"a", 0.9}, {"b", 0.5}, {"", 0.95}}
		}, []string{
			"model.thresholds[1].min_score: 0.5 must be > the previous min_score 0.9 (ascending)",
			"model.thresholds[2].decision: required",
		}},
		{"nan threshold", func(c *Config) {
			c.Model.Thresholds = []Threshold{{"a", math.NaN()}, {"b", 0.5}}
		}, []string{"model.thresholds[0].min_score: must be a number, not NaN"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(c)
			err := c.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q; got:\n%v", w, err)
				}
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != len(tc.want) {
				t.Errorf("got %d problems, want %d:\n%v", n, len(tc.want), err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Errorf("errors.As(*FieldError) = %v, want a field name", fe)
			}
		})
	}
}

// FuzzParse: Parse never panics; what it accepts validates and survives a
// marshal/parse round trip unchanged.
//
//	go test ./config -run '^$' -fuzz FuzzParse -fuzztime 30s
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range append(files, "example.yaml") {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("kafka: &a [*a]\n"))
	f.Add([]byte("features: [{<<: {name: x}}]\n"))
	env := func(name string) (string, bool) {
		if strings.HasPrefix(name, "SCORESTREAM_") && !strings.Contains(name, "PASSWORD") {
			return "", false // no overrides
		}
		return "fuzz-secret", true
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parse(data, env)
		if err != nil {
			if c != nil {
				t.Fatal("Config returned with an error")
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted config does not validate: %v", err)
		}
		_ = c.TransactionalID()
		_, _ = c.RegistryOpts()
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		c2, err := parse(out, env)
		if err != nil {
			t.Fatalf("re-parse of the marshalled config: %v\n%s", err, out)
		}
		out2, err := yaml.Marshal(c2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the config:\n%s\n---\n%s", out, out2)
		}
	})
}
