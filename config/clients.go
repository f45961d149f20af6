package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/twmb/franz-go/pkg/sr"
)

// TransactionalID is this instance's Kafka transactional id:
// stream.transactional_id_prefix + "-" + stream.instance_id. It must be unique per
// running instance and stable across its restarts, so that a restarted instance
// fences its own zombie.
func (c *Config) TransactionalID() string {
	return c.Stream.TransactionalIDPrefix + "-" + c.Stream.InstanceID
}

// KafkaOpts returns the connection options for a franz-go client: seed brokers,
// client id, TLS and SASL. The stream loop adds its own group, transaction and
// consume options. It reads the TLS files; errors name the field.
func (c *Config) KafkaOpts() ([]kgo.Opt, error) {
	k := &c.Kafka
	opts := []kgo.Opt{kgo.SeedBrokers(k.Brokers...)}
	if k.ClientID != "" {
		opts = append(opts, kgo.ClientID(k.ClientID))
	}
	if k.TLS.Enabled {
		tc, err := k.TLS.config("kafka.tls")
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if k.SASL.Mechanism != "" {
		m, err := k.SASL.mechanism()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// config builds the client tls.Config; errors name the fields under field. With
// an empty ServerName, franz-go (and net/http) set it per connection from the
// host dialled.
func (t *TLS) config(field string) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // the operator's explicit choice
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.ca_file: %w", field, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.ca_file: no PEM certificate in %s", field, t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s.cert_file, %s.key_file: %w", field, field, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func (s *SASL) mechanism() (sasl.Mechanism, error) {
	switch s.Mechanism {
	case "PLAIN":
		return plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("kafka.sasl.mechanism: unknown %q (want %s)", s.Mechanism, orList(saslMechanisms))
}

// RegistryOpts returns the schema registry client options: the URLs, basic auth
// when registry.username is set, and an HTTP client with registry.timeout per
// request and, with registry.tls.enabled, its TLS settings. It reads the TLS
// files; errors name the field.
func (c *Config) RegistryOpts() ([]sr.ClientOpt, error) {
	r := &c.Registry
	urls := append([]string(nil), r.URLs...) // sr.URLs rewrites its argument in place
	hc := &http.Client{Timeout: r.Timeout}
	if r.TLS.Enabled {
		tc, err := r.TLS.config("registry.tls")
		if err != nil {
			return nil, err
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tc
		hc.Transport = tr
	}
	opts := []sr.ClientOpt{
		sr.URLs(urls...),
		sr.HTTPClient(hc),
	}
	if r.Username != "" {
		opts = append(opts, sr.BasicAuth(r.Username, r.Password))
	}
	if c.Kafka.ClientID != "" {
		opts = append(opts, sr.UserAgent(c.Kafka.ClientID))
	}
	return opts, nil
}
