package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// FieldError is one configuration problem: the YAML path of the field and what is
// wrong with it. Validate joins them with errors.Join; errors.As finds the first.
type FieldError struct {
	Field   string // YAML path, e.g. "features[3].window"
	Problem string // e.g. `required for state feature "sum"`
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Names accepted by the enumerated fields.
var (
	saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}
	transforms     = []string{"", "log1p", "hour_of_day", "day_of_week", "category", "bool"}
	maxWindow      = 30 * 24 * time.Hour
	stateKinds     = []string{"count", "sum", "mean", "min", "max", "stddev", "distinct", "last", "time_since_last"}
	modelFormats   = []string{"", "logistic", "xgboost", "lightgbm", "onnx"}
	logLevels      = []string{"debug", "info", "warn", "error"}
	logFormats     = []string{"json", "text"}
)

// MaxTransactionTimeout is the broker default transaction.max.timeout.ms; a
// producer asking for more is refused by InitProducerID.
const MaxTransactionTimeout = 15 * time.Minute

// maxTopicLen is Kafka's limit on a topic name's length.
const maxTopicLen = 249

// problems collects FieldErrors.
type problems []error

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

// Validate reports every problem in c, joined; nil when c is usable. It checks
// values and their consistency and that TLS files exist; it does not read the
// model file or contact Kafka or the registry. Passwords named by password_env
// must already be resolved (Load and Parse do that).
func (c *Config) Validate() error {
	var p problems
	c.validateKafka(&p)
	c.validateRegistry(&p)
	c.validateStream(&p)
	c.validateOutput(&p)
	c.validateState(&p)
	c.validateFeatures(&p)
	validateModel(&p, &c.Model, "model", true)
	if c.Metrics.Listen != "" {
		if msg := hostPortProblem(c.Metrics.Listen, true); msg != "" {
			p.add("metrics.listen", "%s (want host:port, :port, or \"\" to disable)", msg)
		}
	}
	checkEnum(&p, "log.level", c.Log.Level, logLevels)
	checkEnum(&p, "log.format", c.Log.Format, logFormats)
	c.validateMonitor(&p)
	return errors.Join(p...)
}

func (c *Config) validateKafka(p *problems) {
	k := &c.Kafka
	if len(k.Brokers) == 0 {
		p.add("kafka.brokers", "required (or set %s)", EnvBrokers)
	}
	for i, b := range k.Brokers {
		if msg := hostPortProblem(b, false); msg != "" {
			p.add(fmt.Sprintf("kafka.brokers[%d]", i), "%s", msg)
		}
	}

	checkTLS(p, "kafka.tls", &k.TLS)

	s := &k.SASL
	if s.Mechanism == "" {
		if s.Username != "" || s.PasswordEnv != "" {
			p.add("kafka.sasl.mechanism", "required when username or password_env is set (want %s)", orList(saslMechanisms))
		}
		return
	}
	checkEnum(p, "kafka.sasl.mechanism", s.Mechanism, saslMechanisms)
	if s.Username == "" {
		p.add("kafka.sasl.username", "required when mechanism is set")
	}
	checkPassword(p, "kafka.sasl.password_env", s.PasswordEnv, s.Password, true)
}

// checkTLS checks a TLS block: no settings while disabled, files exist, and a
// client certificate comes with its key.
func checkTLS(p *problems, field string, t *TLS) {
	if !t.Enabled {
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"ca_file", t.CAFile != ""}, {"cert_file", t.CertFile != ""}, {"key_file", t.KeyFile != ""},
			{"server_name", t.ServerName != ""}, {"insecure_skip_verify", t.InsecureSkipVerify},
		} {
			if f.set {
				p.add(field+"."+f.name, "set but %s.enabled is false", field)
			}
		}
	}
	checkFile(p, field+".ca_file", t.CAFile)
	checkFile(p, field+".cert_file", t.CertFile)
	checkFile(p, field+".key_file", t.KeyFile)
	if t.CertFile != "" && t.KeyFile == "" {
		p.add(field+".key_file", "required when cert_file is set")
	}
	if t.KeyFile != "" && t.CertFile == "" {
		p.add(field+".cert_file", "required when key_file is set")
	}
}

func (c *Config) validateRegistry(p *problems) {
	r := &c.Registry
	if len(r.URLs) == 0 {
		p.add("registry.urls", "required (or set %s)", EnvRegistryURLs)
	}
	for i, raw := range r.URLs {
		field := fmt.Sprintf("registry.urls[%d]", i)
		u, err := url.Parse(raw)
		switch {
		case err != nil || u.Scheme != "http" && u.Scheme != "https":
			p.add(field, "%q: want an http:// or https:// URL", raw)
		case u.Host == "":
			p.add(field, "%q: no host", raw)
		case u.User != nil:
			p.add(field, "%q: put credentials in registry.username and registry.password_env, not the URL", u.Redacted())
		case r.TLS.Enabled && u.Scheme != "https":
			p.add(field, "%q: registry.tls.enabled needs an https:// URL", raw)
		}
	}
	if r.Username != "" || r.PasswordEnv != "" {
		if r.Username == "" {
			p.add("registry.username", "required when password_env is set")
		}
		checkPassword(p, "registry.password_env", r.PasswordEnv, r.Password, r.Username != "")
	}
	positiveDuration(p, "registry.timeout", r.Timeout)
	if r.CacheSize <= 0 {
		p.add("registry.cache_size", "must be > 0")
	}
	positiveDuration(p, "registry.retry_max", r.RetryMax)
	checkTLS(p, "registry.tls", &r.TLS)
}

func (c *Config) validateStream(p *problems) {
	s := &c.Stream
	if len(s.InputTopics) == 0 {
		p.add("stream.input_topics", "required")
	}
	seen := make(map[string]int)
	for i, topic := range s.InputTopics {
		field := fmt.Sprintf("stream.input_topics[%d]", i)
		if msg := topicProblem(topic); msg != "" {
			p.add(field, "%s", msg)
		} else if j, dup := seen[topic]; dup {
			p.add(field, "duplicate %q (also stream.input_topics[%d])", topic, j)
		} else {
			seen[topic] = i
		}
	}
	if s.Group == "" {
		p.add("stream.group", "required")
	}
	if s.TransactionalIDPrefix == "" {
		p.add("stream.transactional_id_prefix", "required")
	}
	if s.InstanceID == "" {
		p.add("stream.instance_id", "required (hostname unavailable; set it or %s)", EnvInstanceID)
	}
	positiveDuration(p, "stream.commit_interval", s.CommitInterval)
	if s.MaxRecordsPerTxn <= 0 {
		p.add("stream.max_records_per_txn", "must be > 0")
	}
	if s.Workers < 0 {
		p.add("stream.workers", "must be >= 0 (0: GOMAXPROCS)")
	}
	switch {
	case s.TransactionTimeout <= 0:
		p.add("stream.transaction_timeout", "must be > 0")
	case s.TransactionTimeout <= s.CommitInterval:
		p.add("stream.transaction_timeout", "%v must be > stream.commit_interval %v", s.TransactionTimeout, s.CommitInterval)
	case s.TransactionTimeout > MaxTransactionTimeout:
		p.add("stream.transaction_timeout", "%v exceeds %v (the broker default transaction.max.timeout.ms)", s.TransactionTimeout, MaxTransactionTimeout)
	case s.RebalanceTimeout > 0 && s.TransactionTimeout <= s.RebalanceTimeout:
		// Ending a transaction waits for a heartbeat, which waits out a rebalance in
		// progress; a transaction the broker times out meanwhile fences the producer.
		p.add("stream.transaction_timeout", "%v must be > stream.rebalance_timeout %v (ending a transaction can wait out a rebalance)", s.TransactionTimeout, s.RebalanceTimeout)
	}
	positiveDuration(p, "stream.session_timeout", s.SessionTimeout)
	positiveDuration(p, "stream.rebalance_timeout", s.RebalanceTimeout)
	positiveDuration(p, "stream.shutdown_timeout", s.ShutdownTimeout)
	switch {
	case s.LivenessTimeout < 0:
		p.add("stream.liveness_timeout", "must be >= 0 (0s disables the liveness check)")
	case s.LivenessTimeout > 0 && s.LivenessTimeout <= s.TransactionTimeout:
		p.add("stream.liveness_timeout", "%v must be > stream.transaction_timeout %v (ending a transaction may take that long), or 0s to disable", s.LivenessTimeout, s.TransactionTimeout)
	case s.LivenessTimeout > 0 && s.LivenessTimeout <= c.Registry.RetryMax:
		p.add("stream.liveness_timeout", "%v must be > registry.retry_max %v (a loop holding input waits that long), or 0s to disable", s.LivenessTimeout, c.Registry.RetryMax)
	}
	if s.EventIDField != "" {
		checkFieldPath(p, "stream.event_id_field", s.EventIDField)
	}
	if s.EventTimeField != "" {
		checkFieldPath(p, "stream.event_time_field", s.EventTimeField)
	}
}

func (c *Config) validateOutput(p *problems) {
	o := &c.Output
	inputs := make(map[string]bool, len(c.Stream.InputTopics))
	for _, t := range c.Stream.InputTopics {
		inputs[t] = true
	}
	outputs := make(map[string]string) // topic -> field that claimed it
	check := func(field, topic string, required bool) {
		switch {
		case topic == "":
			if required {
				p.add(field, "required")
			}
			return
		case topicProblem(topic) != "":
			p.add(field, "%s", topicProblem(topic))
		case inputs[topic]:
			p.add(field, "%q is also an input topic", topic)
		case outputs[topic] != "":
			p.add(field, "%q is also %s", topic, outputs[topic])
		default:
			outputs[topic] = field
		}
	}
	check("output.predictions_topic", o.PredictionsTopic, true)
	check("output.dead_letter_topic", o.DeadLetterTopic, true)
	check("output.changelog_topic", o.ChangelogTopic, true)
	if c.Model.Challenger != nil {
		check("output.shadow_topic", o.ShadowTopic, true)
	} else if o.ShadowTopic != "" {
		p.add("output.shadow_topic", "set but model.challenger is not")
	}
}

func (c *Config) validateState(p *problems) {
	s := &c.State
	if s.MaxEntities <= 0 {
		p.add("state.max_entities", "must be > 0")
	}
	positiveDuration(p, "state.ttl", s.TTL)
	if s.MaxEvents <= 0 {
		p.add("state.max_events", "must be > 0")
	}
	if s.WindowBuckets <= 0 || s.WindowBuckets > 1000 {
		p.add("state.window_buckets", "must be in 1..1000")
	}
	if s.AmountField != "" {
		checkFieldPath(p, "state.amount_field", s.AmountField)
	}
	if s.DistinctField != "" {
		checkFieldPath(p, "state.distinct_field", s.DistinctField)
	}
	if s.Dir != "" {
		positiveDuration(p, "state.checkpoint_interval", s.CheckpointInterval)
	}
}

func (c *Config) validateFeatures(p *problems) {
	if len(c.Features) == 0 {
		p.add("features", "at least one feature required")
		return
	}
	names := make(map[string]int)
	var needAmount, needDistinct string // name of the first feature needing it
	var ratios []int                    // features that are ratios, checked once every name is known
	for i := range c.Features {
		f := &c.Features[i]
		at := func(key string) string { return fmt.Sprintf("features[%d].%s", i, key) }

		if f.Name == "" {
			p.add(at("name"), "required")
		} else if j, dup := names[f.Name]; dup {
			p.add(at("name"), "duplicate %q (also features[%d])", f.Name, j)
		} else {
			names[f.Name] = i
		}

		switch {
		case len(f.Ratio) > 0:
			if f.Field != "" || f.State != "" || f.Window != 0 {
				p.add(fmt.Sprintf("features[%d]", i), "ratio excludes field, state and window")
			}
			if len(f.Ratio) != 2 {
				p.add(at("ratio"), "want [numerator, divisor]: two feature names, got %d", len(f.Ratio))
			}
			ratios = append(ratios, i)
		case f.Field == "" && f.State == "":
			p.add(fmt.Sprintf("features[%d]", i), "one of field, state or ratio required")
		case f.Field != "":
			checkFieldPath(p, at("field"), f.Field)
			if f.Window != 0 && f.State == "" {
				p.add(at("window"), "only for state features")
			}
		}

		checkEnum(p, at("transform"), f.Transform, transforms)
		if f.State != "" || len(f.Ratio) > 0 {
			switch {
			case f.Transform == "category" && f.State == "last":
			case f.Transform == "hour_of_day", f.Transform == "day_of_week", f.Transform == "category", f.Transform == "bool":
				p.add(at("transform"), "%s applies to field features only (and category to state last)", f.Transform)
			}
		}
		if f.Transform == "category" {
			if len(f.Categories) == 0 {
				p.add(at("categories"), "required for transform category")
			}
			seen := make(map[string]int, len(f.Categories))
			for j, cat := range f.Categories {
				if k, dup := seen[cat]; dup {
					p.add(fmt.Sprintf("features[%d].categories[%d]", i, j), "duplicate %q (also categories[%d])", cat, k)
				} else {
					seen[cat] = j
				}
			}
		} else if len(f.Categories) > 0 {
			p.add(at("categories"), "only with transform category")
		}

		if f.Default != nil && math.IsInf(*f.Default, 0) {
			p.add(at("default"), "must be finite (or absent for missing)")
		}

		if f.State == "" {
			continue
		}
		checkEnum(p, at("state"), f.State, stateKinds)
		switch f.State {
		case "count", "sum", "mean", "min", "max", "stddev", "distinct":
			switch {
			case f.Window <= 0:
				p.add(at("window"), "required for state feature %q (must be > 0)", f.State)
			case f.Window > maxWindow:
				p.add(at("window"), "%v exceeds the longest window, 30 days", f.Window)
			case c.State.TTL > 0 && f.Window > c.State.TTL:
				p.add(at("window"), "%v exceeds state.ttl %v; events older than the TTL are gone", f.Window, c.State.TTL)
			}
		case "time_since_last", "last":
			if f.Window != 0 {
				p.add(at("window"), "not allowed for state feature %q", f.State)
			}
		}
		switch {
		case f.MaxDistinct != 0 && f.State != "distinct":
			p.add(at("max_distinct"), "only with state distinct")
		case f.MaxDistinct < 0:
			p.add(at("max_distinct"), "must be >= 0 (0: state.max_events)")
		case f.MaxDistinct > c.State.MaxEvents && c.State.MaxEvents > 0:
			p.add(at("max_distinct"), "%d exceeds state.max_events %d", f.MaxDistinct, c.State.MaxEvents)
		}
		if f.State == "time_since_last" && f.Field != "" {
			p.add(at("field"), "not allowed for state feature %q (it reads the event time)", f.State)
		}
		if f.Field == "" {
			switch f.State {
			case "sum", "mean", "min", "max", "stddev", "last":
				if needAmount == "" {
					needAmount = at("state")
				}
			case "distinct":
				if needDistinct == "" {
					needDistinct = at("state")
				}
			}
		}
	}
	for _, i := range ratios {
		for k, n := range c.Features[i].Ratio {
			j, ok := names[n]
			switch {
			case !ok:
				p.add(fmt.Sprintf("features[%d].ratio[%d]", i, k), "unknown feature %q", n)
			case len(c.Features[j].Ratio) > 0:
				p.add(fmt.Sprintf("features[%d].ratio[%d]", i, k), "%q is itself a ratio", n)
			}
		}
	}
	if needAmount != "" && c.State.AmountField == "" {
		p.add("state.amount_field", "required by %s (or give that feature a field)", needAmount)
	}
	if needDistinct != "" && c.State.DistinctField == "" {
		p.add("state.distinct_field", "required by %s (or give that feature a field)", needDistinct)
	}
}

// validateModel checks a champion (top) or challenger model at prefix.
func validateModel(p *problems, m *Model, prefix string, top bool) {
	if m.Path == "" {
		p.add(prefix+".path", "required")
	}
	checkEnum(p, prefix+".format", m.Format, modelFormats)
	if m.Class != nil && *m.Class < 0 {
		p.add(prefix+".class", "%d must be >= 0 (a class index of the multiclass model)", *m.Class)
	}
	seen := make(map[string]int)
	for i, t := range m.Thresholds {
		at := fmt.Sprintf("%s.thresholds[%d]", prefix, i)
		if t.Decision == "" {
			p.add(at+".decision", "required")
		} else if j, dup := seen[t.Decision]; dup {
			p.add(at+".decision", "duplicate %q (also thresholds[%d])", t.Decision, j)
		} else {
			seen[t.Decision] = i
		}
		switch {
		case math.IsNaN(t.MinScore):
			p.add(at+".min_score", "must be a number, not NaN")
		case i > 0 && !math.IsNaN(m.Thresholds[i-1].MinScore) && t.MinScore <= m.Thresholds[i-1].MinScore:
			p.add(at+".min_score", "%v must be > the previous min_score %v (ascending)", t.MinScore, m.Thresholds[i-1].MinScore)
		}
	}
	if m.Challenger != nil {
		if top {
			validateModel(p, m.Challenger, prefix+".challenger", false)
		} else {
			p.add(prefix+".challenger", "a challenger cannot have a challenger")
		}
	}
}

// topicProblem returns what is wrong with a Kafka topic name, or "".
func topicProblem(t string) string {
	switch {
	case t == "":
		return "empty topic name"
	case len(t) > maxTopicLen:
		return fmt.Sprintf("topic name is %d characters; Kafka allows %d", len(t), maxTopicLen)
	case t == "." || t == "..":
		return fmt.Sprintf("%q is not a legal topic name", t)
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Sprintf("%q: illegal character %q (topic names use [a-zA-Z0-9._-])", t, r)
		}
	}
	return ""
}

// hostPortProblem returns what is wrong with a host:port address, or "".
func hostPortProblem(addr string, emptyHostOK bool) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not host:port", addr)
	}
	if host == "" && !emptyHostOK {
		return fmt.Sprintf("%q: host required", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Sprintf("%q: port must be 1-65535", addr)
	}
	return ""
}

// checkFieldPath checks a dotted event field path such as "merchant.id".
func checkFieldPath(p *problems, field, path string) {
	for seg := range strings.SplitSeq(path, ".") {
		if seg == "" || strings.TrimSpace(seg) != seg {
			p.add(field, "%q: malformed field path (want dotted names, e.g. \"merchant.id\")", path)
			return
		}
	}
}

func checkEnum(p *problems, field, v string, allowed []string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	var want []string
	for _, a := range allowed {
		if a != "" {
			want = append(want, a)
		}
	}
	p.add(field, "unknown %q (want %s)", v, orList(want))
}

func orList(items []string) string {
	if len(items) <= 1 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

func positiveDuration(p *problems, field string, d time.Duration) {
	if d <= 0 {
		p.add(field, "must be > 0")
	}
}

func checkFile(p *problems, field, path string) {
	if path == "" {
		return
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		p.add(field, "%v", err)
	case fi.IsDir():
		p.add(field, "%s is a directory", path)
	}
}

// checkPassword checks a resolved password_env. required: a password must exist.
func checkPassword(p *problems, field, env, password string, required bool) {
	switch {
	case env != "" && password == "":
		p.add(field, "environment variable %q is unset or empty", env)
	case env == "" && password == "" && required:
		p.add(field, "required: name the environment variable holding the password")
	}
}
