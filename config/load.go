package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Environment variables read by Load and Parse. Each overrides the YAML value when
// set to a non-empty string.
const (
	EnvBrokers      = "SCORESTREAM_BROKERS"       // comma-separated host:port list; overrides kafka.brokers
	EnvRegistryURLs = "SCORESTREAM_REGISTRY_URLS" // comma-separated URLs; overrides registry.urls
	EnvInstanceID   = "SCORESTREAM_INSTANCE_ID"   // overrides stream.instance_id
	// EnvMetricsListen overrides metrics.listen (host:port or :port), so that
	// instances sharing a host and a config file each get their own port.
	EnvMetricsListen = "SCORESTREAM_METRICS_LISTEN"
)

// Default returns a Config holding every default and nothing else. It does not
// validate: input topics, output topics, features and the model are left empty.
// Tests and callers building a Config in code start from here.
func Default() *Config {
	host, _ := os.Hostname() // on failure instance_id stays "" and Validate says so
	return &Config{
		Kafka: Kafka{ClientID: "scorestream"},
		Registry: Registry{
			Timeout:   5 * time.Second,
			CacheSize: 1000,
			RetryMax:  10 * time.Second,
		},
		Stream: Stream{
			TransactionalIDPrefix: "scorestream",
			InstanceID:            host,
			CommitInterval:        100 * time.Millisecond,
			MaxRecordsPerTxn:      10000,
			TransactionTimeout:    60 * time.Second,
			SessionTimeout:        45 * time.Second,
			StaticMembership:      true,
			RebalanceTimeout:      30 * time.Second,
			EventIDField:          "event_id",
			ShutdownTimeout:       30 * time.Second,
			LivenessTimeout:       DefaultLivenessTimeout,
		},
		State: State{
			MaxEntities:        100000,
			TTL:                24 * time.Hour,
			MaxEvents:          256,
			WindowBuckets:      30,
			CheckpointInterval: 10 * time.Second,
		},
		Metrics: Metrics{Listen: ":9464"},
		Log:     Log{Level: "info", Format: "json"},
		Monitor: Monitor{
			EventIDField:       "event_id",
			LabelField:         "label",
			LabelHorizon:       720 * time.Hour,
			MaxEntries:         1000000,
			ScoreBins:          20,
			Windows:            []time.Duration{24 * time.Hour, 168 * time.Hour},
			PrecisionTolerance: 0.1,
		},
	}
}

// DefaultLivenessTimeout is stream.liveness_timeout when the document does not
// set it, unless twice stream.transaction_timeout is longer.
const DefaultLivenessTimeout = 5 * time.Minute

// livenessUnset marks stream.liveness_timeout as absent from the document
// while it is decoded (a document cannot write a negative duration that passes
// validation).
const livenessUnset = -1

// Load reads the YAML file at path and returns its validated Config; see Parse.
// Relative file paths in it (model.path, model.manifest, the TLS files; see
// Config.ResolvePaths) are taken relative to the file's directory, so a config
// and its model can move together and the config works from any directory.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := parseIn(data, os.LookupEnv, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes one YAML document strictly and returns the validated Config.
//
// The order is: defaults, then the document (a key absent from the document keeps
// its default; an unknown key is an error naming its path and line), then the
// environment (EnvBrokers, EnvRegistryURLs, EnvInstanceID, EnvMetricsListen, and the passwords named
// by kafka.sasl.password_env and registry.password_env), then Validate. Durations
// are strings with a unit: "100ms", "24h".
//
// On failure the Config is nil and the error lists every problem found at that
// stage, each as "<yaml.path>: <problem>".
func Parse(data []byte) (*Config, error) {
	return parse(data, os.LookupEnv)
}

// parse is Parse with the environment passed in, so fuzzing needs no process env.
func parse(data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	return parseIn(data, lookupEnv, "")
}

// parseIn is parse with relative file paths resolved against dir ("": left as
// they are, relative to the working directory).
func parseIn(data []byte, lookupEnv func(string) (string, bool), dir string) (*Config, error) {
	c := Default()
	c.Stream.LivenessTimeout = livenessUnset
	if err := decodeStrict(data, c); err != nil {
		return nil, err
	}
	if c.Stream.LivenessTimeout == livenessUnset {
		// The default must outlast a transaction, whatever its timeout.
		c.Stream.LivenessTimeout = max(DefaultLivenessTimeout, 2*c.Stream.TransactionTimeout)
	}
	c.applyEnv(lookupEnv)
	c.ResolvePaths(dir)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeStrict decodes exactly one YAML document into c, rejecting unknown keys.
//
// yaml.v3's KnownFields already rejects unknown keys, but names the Go type
// ("field mechansim not found in type config.SASL"). A first pass over the node
// tree reports them by YAML path instead, with a spelling suggestion; the strict
// decode that follows remains the safety net (it also sees into aliases, which the
// first pass skips).
func decodeStrict(data []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty document")
		}
		return err
	}
	if len(doc.Content) == 0 {
		return errors.New("empty document")
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return err
	default:
		return fmt.Errorf("line %d: more than one YAML document; want exactly one", next.Line)
	}

	w := walker{lines: make(map[int]string)}
	w.walk(doc.Content[0], reflect.TypeOf(c).Elem(), "")
	if len(w.errs) > 0 {
		return errors.Join(w.errs...)
	}

	dec = yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return w.typeErrors(te)
		}
		return err
	}
	return nil
}

// walker checks a YAML node tree against the Config type: unknown keys, and the
// YAML path of each line (to name fields in yaml.v3's type errors).
type walker struct {
	errs  []error
	lines map[int]string // line -> YAML path of the first value on that line
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	// A block mapping starts on its first key's line: prefer the deeper path there,
	// but keep the first of flow-style siblings.
	if prev, ok := w.lines[n.Line]; path != "" && (!ok || strings.HasPrefix(path, prev+".") || strings.HasPrefix(path, prev+"[")) {
		w.lines[n.Line] = path
	}
	if n.Kind == yaml.AliasNode {
		return // the strict decode checks aliased content; following aliases here risks cycles
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode || t == reflect.TypeOf(time.Time{}) {
			return // a type mismatch: the decoder reports it
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				continue
			}
			p := joinPath(path, k.Value)
			f, ok := fields[k.Value]
			if !ok {
				w.errs = append(w.errs, &FieldError{Field: p, Problem: unknownKey(k, fields)})
				continue
			}
			w.walk(v, f, p)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, item := range n.Content {
			w.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

func unknownKey(k *yaml.Node, fields map[string]reflect.Type) string {
	msg := fmt.Sprintf("unknown key at line %d", k.Line)
	if strings.HasPrefix(k.Value, "password") {
		if _, ok := fields["password_env"]; ok {
			return msg + ` (put the password in an environment variable and name it in "password_env")`
		}
	}
	best, bestD := "", 3 // suggest only close matches
	for name := range fields {
		if d := editDistance(k.Value, name); d < bestD || (d == bestD && name < best) {
			best, bestD = name, d
		}
	}
	if best != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", best)
	}
	return msg
}

// typeErrors rewrites yaml.v3's "line N: cannot unmarshal ..." messages to lead
// with the YAML path of that line.
func (w *walker) typeErrors(te *yaml.TypeError) error {
	errs := make([]error, 0, len(te.Errors))
	for _, msg := range te.Errors {
		num, rest, ok := strings.Cut(strings.TrimPrefix(msg, "line "), ": ")
		line, err := strconv.Atoi(num)
		path, known := w.lines[line]
		if !ok || err != nil || !known {
			errs = append(errs, errors.New(msg))
			continue
		}
		errs = append(errs, &FieldError{Field: path, Problem: fmt.Sprintf("%s (line %d)", rest, line)})
	}
	return errors.Join(errs...)
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	fields := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
	return fields
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// applyEnv applies the environment overrides and resolves the passwords. A
// password_env naming an unset or empty variable leaves the password empty, and
// Validate reports it.
func (c *Config) applyEnv(lookupEnv func(string) (string, bool)) {
	if v, ok := lookupEnv(EnvBrokers); ok && strings.TrimSpace(v) != "" {
		c.Kafka.Brokers = SplitList(v)
	}
	if v, ok := lookupEnv(EnvRegistryURLs); ok && strings.TrimSpace(v) != "" {
		c.Registry.URLs = SplitList(v)
	}
	if v, ok := lookupEnv(EnvInstanceID); ok && v != "" {
		c.Stream.InstanceID = v
	}
	if v, ok := lookupEnv(EnvMetricsListen); ok && v != "" {
		c.Metrics.Listen = v
	}
	if name := c.Kafka.SASL.PasswordEnv; name != "" {
		c.Kafka.SASL.Password, _ = lookupEnv(name)
	}
	if name := c.Registry.PasswordEnv; name != "" {
		c.Registry.Password, _ = lookupEnv(name)
	}
}

// ResolvePaths makes every relative file path in c relative to dir instead of
// the working directory: model.path and model.manifest (and the challenger's),
// state.dir, and the ca_file, cert_file and key_file of kafka.tls and
// registry.tls. Absolute
// and empty paths are left as they are, and so is everything with dir "".
// (A manifest's own model path is relative to the manifest: model.Manifest.)
func (c *Config) ResolvePaths(dir string) {
	if dir == "" {
		return
	}
	paths := []*string{
		&c.Kafka.TLS.CAFile, &c.Kafka.TLS.CertFile, &c.Kafka.TLS.KeyFile,
		&c.Registry.TLS.CAFile, &c.Registry.TLS.CertFile, &c.Registry.TLS.KeyFile,
		&c.Model.Path, &c.Model.Manifest, &c.State.Dir,
	}
	if ch := c.Model.Challenger; ch != nil {
		paths = append(paths, &ch.Path, &ch.Manifest)
	}
	for _, p := range paths {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

// SplitList splits a comma-separated list, trimming blanks and dropping empty
// items (the form of SCORESTREAM_BROKERS and list flags).
func SplitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
