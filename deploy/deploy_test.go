// Package deploy holds no Go code, only these tests: they check that the deployment
// files agree with each other and with the config package (a Kubernetes grace period
// shorter than the shutdown timeout, a password env var the pod does not set, a
// metric name the code does not export, a changelog not co-partitioned with the
// input...). Syntax and promtool checks are in deploy/test.sh, which also runs these.
//
//	go test ./deploy/
package deploy

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scorestream/scorestream/config"
)

// Kubernetes objects, only the fields checked here.

type object struct {
	Kind     string            `yaml:"kind"`
	Metadata meta              `yaml:"metadata"`
	Data     map[string]string `yaml:"data"`
	Spec     yaml.Node         `yaml:"spec"`
}

type meta struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels"`
}

type statefulSetSpec struct {
	Replicas    int    `yaml:"replicas"`
	ServiceName string `yaml:"serviceName"`
	Selector    struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template struct {
		Metadata meta `yaml:"metadata"`
		Spec     struct {
			TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
			SecurityContext               struct {
				RunAsNonRoot bool `yaml:"runAsNonRoot"`
			} `yaml:"securityContext"`
			Containers []container `yaml:"containers"`
			Volumes    []struct {
				Name      string `yaml:"name"`
				ConfigMap *struct {
					Name string `yaml:"name"`
				} `yaml:"configMap"`
			} `yaml:"volumes"`
		} `yaml:"spec"`
	} `yaml:"template"`
}

type container struct {
	Args []string `yaml:"args"`
	Env  []struct {
		Name      string `yaml:"name"`
		ValueFrom struct {
			FieldRef *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	StartupProbe    *probe `yaml:"startupProbe"`
	LivenessProbe   *probe `yaml:"livenessProbe"`
	ReadinessProbe  *probe `yaml:"readinessProbe"`
	SecurityContext struct {
		ReadOnlyRootFilesystem   bool `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation bool `yaml:"allowPrivilegeEscalation"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

// readObjects decodes every document of every file listed by the kustomization.
func readObjects(t *testing.T) map[string]object {
	t.Helper()
	var k struct {
		Resources []string `yaml:"resources"`
	}
	readYAML(t, "kubernetes/kustomization.yaml", &k)
	objs := make(map[string]object)
	for _, r := range k.Resources {
		f, err := os.Open(filepath.Join("kubernetes", r))
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(f)
		for {
			var o object
			if err := dec.Decode(&o); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				t.Fatalf("%s: %v", r, err)
			}
			objs[o.Kind+"/"+o.Metadata.Name] = o
		}
		f.Close()
	}
	return objs
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func must[T any](t *testing.T, objs map[string]object, key string) T {
	t.Helper()
	o, ok := objs[key]
	if !ok {
		t.Fatalf("kustomization has no %s", key)
	}
	var spec T
	if err := o.Spec.Decode(&spec); err != nil {
		t.Fatalf("%s spec: %v", key, err)
	}
	return spec
}

// parseConfig runs the config package's own Load path (strict decode + Validate)
// with the passwords the deployment would provide.
func parseConfig(t *testing.T, name, doc string) *config.Config {
	t.Helper()
	t.Setenv("KAFKA_PASSWORD", "x")
	t.Setenv("REGISTRY_PASSWORD", "x")
	t.Setenv(config.EnvBrokers, "")
	t.Setenv(config.EnvRegistryURLs, "")
	t.Setenv(config.EnvInstanceID, "")
	c, err := config.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("%s does not pass config.Parse:\n%v", name, err)
	}
	return c
}

func listenPort(t *testing.T, listen string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		t.Fatalf("metrics.listen %q: %v", listen, err)
	}
	return port
}

func TestKubernetes(t *testing.T) {
	objs := readObjects(t)
	cm := objs["ConfigMap/scorestream-config"]
	cfg := parseConfig(t, "kubernetes/configmap.yaml config.yaml", cm.Data["config.yaml"])
	sts := must[statefulSetSpec](t, objs, "StatefulSet/scorestream")
	pod := sts.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]

	// Config mount and command line.
	var cfgMount string
	for _, m := range c.VolumeMounts {
		if m.Name == "config" {
			cfgMount = m.MountPath
		}
	}
	if want := []string{"run", "-c", cfgMount}; !slices.Equal(c.Args, want) {
		t.Errorf("args %q, want %q", c.Args, want)
	}

	// Shutdown: the grace period must cover the drain.
	grace := time.Duration(pod.TerminationGracePeriodSeconds) * time.Second
	if grace <= cfg.Stream.ShutdownTimeout+5*time.Second {
		t.Errorf("terminationGracePeriodSeconds %v must exceed stream.shutdown_timeout %v with margin", grace, cfg.Stream.ShutdownTimeout)
	}

	// Instance id from the pod name; passwords from the Secret.
	env := map[string]bool{}
	for _, e := range c.Env {
		switch {
		case e.Name == config.EnvInstanceID:
			if e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
				t.Errorf("%s must come from fieldRef metadata.name", config.EnvInstanceID)
			}
			env[e.Name] = true
		case e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = true
		}
	}
	if !env[config.EnvInstanceID] {
		t.Errorf("no %s env var", config.EnvInstanceID)
	}
	var raw struct {
		Stream map[string]any `yaml:"stream"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &raw); err != nil {
		t.Fatal(err)
	}
	if id, set := raw.Stream["instance_id"]; set {
		t.Errorf("stream.instance_id %v is set in the ConfigMap: every pod would share it", id)
	}
	for _, name := range []string{cfg.Kafka.SASL.PasswordEnv, cfg.Registry.PasswordEnv} {
		if name != "" && !env[name] {
			t.Errorf("config names password env %s but the container does not set it from a Secret", name)
		}
	}

	// Metrics port and probes.
	port := listenPort(t, cfg.Metrics.Listen)
	var metricsPort int
	for _, p := range c.Ports {
		if p.Name == "metrics" {
			metricsPort = p.ContainerPort
		}
	}
	if got := itoa(metricsPort); got != port {
		t.Errorf("containerPort metrics %s, metrics.listen port %s", got, port)
	}
	for _, p := range []struct {
		name string
		p    *probe
		path string
	}{{"startup", c.StartupProbe, "/healthz"}, {"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.p == nil || p.p.HTTPGet.Path != p.path || p.p.HTTPGet.Port != "metrics" {
			t.Errorf("%s probe: want GET %s on port metrics, got %+v", p.name, p.path, p.p)
		}
	}

	// Hardening and resources.
	if !pod.SecurityContext.RunAsNonRoot || !c.SecurityContext.ReadOnlyRootFilesystem || c.SecurityContext.AllowPrivilegeEscalation {
		t.Errorf("want runAsNonRoot, readOnlyRootFilesystem, no privilege escalation")
	}
	for _, r := range []string{"cpu", "memory"} {
		if c.Resources.Requests[r] == "" || c.Resources.Limits[r] == "" {
			t.Errorf("resources: %s request and limit required", r)
		}
	}

	// The model path is inside the model ConfigMap's mount, and the key exists.
	volCM := map[string]string{}
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil {
			volCM[v.Name] = v.ConfigMap.Name
		}
	}
	found := false
	for _, m := range c.VolumeMounts {
		rel, err := filepath.Rel(m.MountPath, cfg.Model.Path)
		if err != nil || strings.HasPrefix(rel, "..") || m.SubPath != "" || volCM[m.Name] == "" {
			continue
		}
		found = true
		mc, ok := objs["ConfigMap/"+volCM[m.Name]]
		if !ok {
			t.Fatalf("model ConfigMap %s not in the kustomization", volCM[m.Name])
		}
		checkModelFeatures(t, mc.Data[rel], cfg)
	}
	if !found {
		t.Errorf("model.path %s is not inside a ConfigMap directory mount", cfg.Model.Path)
	}

	// Services and PDB select the pods; the governing service is headless.
	podLabels := sts.Template.Metadata.Labels
	for k, v := range sts.Selector.MatchLabels {
		if podLabels[k] != v {
			t.Errorf("StatefulSet selector %s=%s does not match the pod template", k, v)
		}
	}
	type svcSpec struct {
		ClusterIP string            `yaml:"clusterIP"`
		Selector  map[string]string `yaml:"selector"`
	}
	headless := must[svcSpec](t, objs, "Service/"+sts.ServiceName)
	if headless.ClusterIP != "None" {
		t.Errorf("service %s must be headless", sts.ServiceName)
	}
	for _, name := range []string{sts.ServiceName, "scorestream-metrics"} {
		for k, v := range must[svcSpec](t, objs, "Service/"+name).Selector {
			if podLabels[k] != v {
				t.Errorf("Service %s selector %s=%s does not match the pods", name, k, v)
			}
		}
	}
	pdb := must[struct {
		MaxUnavailable int `yaml:"maxUnavailable"`
		Selector       struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
	}](t, objs, "PodDisruptionBudget/scorestream")
	if pdb.MaxUnavailable != 1 {
		t.Errorf("PDB maxUnavailable %d, want 1", pdb.MaxUnavailable)
	}
	for k, v := range pdb.Selector.MatchLabels {
		if podLabels[k] != v {
			t.Errorf("PDB selector %s=%s does not match the pods", k, v)
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// checkModelFeatures checks that a model file's features (logistic or XGBoost JSON)
// are all named by the feature spec (the model package validates the same at load time).
func checkModelFeatures(t *testing.T, modelJSON string, cfg *config.Config) {
	t.Helper()
	var m struct {
		Features []string `json:"features"` // logistic JSON
		Learner  struct {
			FeatureNames []string `json:"feature_names"` // XGBoost JSON
		} `json:"learner"`
	}
	if err := json.Unmarshal([]byte(modelJSON), &m); err != nil {
		t.Fatalf("model JSON: %v", err)
	}
	features := append(m.Features, m.Learner.FeatureNames...)
	if len(features) == 0 {
		t.Fatalf("model JSON names no features")
	}
	for _, f := range features {
		if !slices.ContainsFunc(cfg.Features, func(x config.Feature) bool { return x.Name == f }) {
			t.Errorf("model feature %q is not in the config's feature spec", f)
		}
	}
}

type composeFile struct {
	Services map[string]struct {
		Command         yaml.Node         `yaml:"command"`
		Environment     map[string]string `yaml:"environment"`
		Volumes         []string          `yaml:"volumes"`
		StopGracePeriod string            `yaml:"stop_grace_period"`
	} `yaml:"services"`
}

func TestCompose(t *testing.T) {
	var cf composeFile
	readYAML(t, "../docker-compose.yml", &cf)
	var scrape struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "prometheus/prometheus.yml", &scrape)
	var targets []string
	for _, sc := range scrape.ScrapeConfigs {
		if sc.JobName == "scorestream" {
			for _, s := range sc.StaticConfigs {
				targets = append(targets, s.Targets...)
			}
		}
	}

	ids := map[string]string{}
	for name, s := range cf.Services {
		var cmd []string
		if err := s.Command.Decode(&cmd); err != nil || len(cmd) == 0 || cmd[0] != "run" {
			continue
		}
		id := s.Environment[config.EnvInstanceID]
		if id == "" {
			t.Errorf("service %s: no %s", name, config.EnvInstanceID)
		} else if other, dup := ids[id]; dup {
			t.Errorf("services %s and %s share instance id %s: they would fence each other", name, other, id)
		}
		ids[id] = name

		// The config it mounts parses, and the grace period covers the drain.
		var cfgPath string
		mounts := map[string]string{}
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			mounts[parts[1]] = parts[0]
			if len(cmd) == 3 && parts[1] == cmd[2] {
				cfgPath = filepath.Join("..", parts[0])
			}
		}
		if cfgPath == "" {
			t.Fatalf("service %s: config %v is not mounted", name, cmd)
		}
		b, err := os.ReadFile(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		cfg := parseConfig(t, cfgPath, string(b))
		grace, err := time.ParseDuration(s.StopGracePeriod)
		if err != nil || grace <= cfg.Stream.ShutdownTimeout {
			t.Errorf("service %s: stop_grace_period %q must exceed stream.shutdown_timeout %v", name, s.StopGracePeriod, cfg.Stream.ShutdownTimeout)
		}
		// The model file is on a mounted host path and fits the feature spec.
		var modelHost string
		for ctr, host := range mounts {
			if rel, err := filepath.Rel(ctr, cfg.Model.Path); err == nil && !strings.HasPrefix(rel, "..") {
				modelHost = filepath.Join("..", host, rel)
			}
		}
		if modelHost == "" {
			t.Errorf("service %s: model.path %s is not mounted", name, cfg.Model.Path)
		} else if m, err := os.ReadFile(modelHost); err != nil {
			t.Errorf("service %s: %v", name, err)
		} else {
			checkModelFeatures(t, string(m), cfg)
		}
		if want := name + ":" + listenPort(t, cfg.Metrics.Listen); !slices.Contains(targets, want) {
			t.Errorf("prometheus.yml does not scrape %s (targets %v)", want, targets)
		}
	}
	if len(ids) < 2 {
		t.Errorf("want at least 2 scorestream services, got %d", len(ids))
	}

	// topics-init: the changelog has the input's partition count and is compacted.
	var script []string
	ti := cf.Services["topics-init"]
	if err := ti.Command.Decode(&script); err != nil || len(script) != 1 {
		t.Fatalf("topics-init command: want one shell script")
	}
	checkTopicScript(t, strings.ReplaceAll(script[0], "\\\n", " "))
}

var createRE = regexp.MustCompile(`--create .*--topic (\S+) --partitions (\d+)(.*)`)

func checkTopicScript(t *testing.T, script string) {
	t.Helper()
	parts, configs := map[string]string{}, map[string]string{}
	for _, m := range createRE.FindAllStringSubmatch(script, -1) {
		parts[m[1]], configs[m[1]] = m[2], m[3]
	}
	var cfg config.Config
	readYAML(t, "compose/config.yaml", &cfg)
	for _, topic := range append(cfg.Stream.InputTopics, cfg.Output.PredictionsTopic, cfg.Output.DeadLetterTopic, cfg.Output.ChangelogTopic) {
		if parts[topic] == "" {
			t.Errorf("topics-init does not create %s", topic)
		}
	}
	for _, in := range cfg.Stream.InputTopics {
		if parts[in] != parts[cfg.Output.ChangelogTopic] {
			t.Errorf("changelog %s has %s partitions, input %s has %s: not co-partitioned",
				cfg.Output.ChangelogTopic, parts[cfg.Output.ChangelogTopic], in, parts[in])
		}
	}
	if !strings.Contains(configs[cfg.Output.ChangelogTopic], "cleanup.policy=compact") {
		t.Errorf("changelog %s is not compacted", cfg.Output.ChangelogTopic)
	}
}

// knownMetrics are the metric names scorestream exports (fixed in the design brief;
// franz-go kprom names with namespace scorestream_kafka), plus Prometheus's own.
var knownMetrics = []string{
	"up",
	"scorestream_stream_records_consumed_total",
	"scorestream_stream_predictions_total",
	"scorestream_stream_dead_letters_total",
	"scorestream_stream_transactions_total",
	"scorestream_stream_transaction_duration_seconds_bucket",
	"scorestream_stream_records_per_transaction_bucket",
	"scorestream_stream_event_latency_seconds_bucket",
	"scorestream_stream_lag_records",
	"scorestream_group_lag_records",
	"scorestream_group_committed_offset",
	"scorestream_registry_unavailable",
	"scorestream_registry_errors_total",
	"scorestream_model_score_bucket",
	"scorestream_model_score_sum",
	"scorestream_model_score_count",
	"scorestream_model_decisions_total",
	"scorestream_model_decision_disagreements_total",
	"scorestream_model_reloads_total",
	"scorestream_model_info",
	"scorestream_state_entries",
	"scorestream_state_early_evictions_total",
	"scorestream_state_restore_seconds_bucket",
	"scorestream_state_restored_entities_total",
	"scorestream_hanging_transactions",
	"scorestream_feature_absent_total",
	"scorestream_kafka_produce_bytes_total",
	"scorestream_kafka_fetch_bytes_total",
	"scorestream_kafka_connect_errors_total",
	"scorestream_kafka_read_errors_total",
	"scorestream_kafka_write_errors_total",
}

var metricRE = regexp.MustCompile(`\b(up|scorestream[a-z0-9_]*|scorestream:[a-z0-9_:]+)\b(\{|\[| offset|\)|\s|$)`)

// TestMetricNames catches a typo in a query: every series an alert, recording rule
// or dashboard panel reads is exported by scorestream or recorded by alerts.yml.
func TestMetricNames(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Record string `yaml:"record"`
				Alert  string `yaml:"alert"`
				Expr   string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, "prometheus/alerts.yml", &rules)
	known := slices.Clone(knownMetrics)
	var exprs []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				known = append(known, r.Record)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	b, err := os.ReadFile("grafana/dashboards/scorestream.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	panelsWithQueries := 0
	for _, p := range dash.Panels {
		for _, q := range p.Targets {
			exprs = append(exprs, q.Expr)
		}
		if len(p.Targets) > 0 {
			panelsWithQueries++
		}
	}
	for _, v := range dash.Templating.List {
		exprs = append(exprs, v.Definition)
	}
	if panelsWithQueries < 20 {
		t.Errorf("dashboard has %d panels with queries, want the full set", panelsWithQueries)
	}
	seen := 0
	for _, e := range exprs {
		for _, m := range metricRE.FindAllStringSubmatch(e, -1) {
			seen++
			if !slices.Contains(known, m[1]) {
				t.Errorf("unknown series %s in %q", m[1], e)
			}
		}
	}
	if seen < 50 {
		t.Errorf("found only %d series references: is the matcher broken?", seen)
	}
}
