package config

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sr"
)

// pki is a throwaway CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files into a temp dir.
type pki struct {
	caFile, clientCert, clientKey string
	pool                          *x509.CertPool
	server                        tls.Certificate
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "scorestream test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		key := newKey(t)
		der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
		}, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	srvDER, srvKey := issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	cliDER, cliKey := issue(3, "scorer", x509.ExtKeyUsageClientAuth, nil)

	p := &pki{
		caFile:     writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER),
		clientCert: writePEM(t, dir, "client.pem", "CERTIFICATE", cliDER),
		clientKey:  writePEM(t, dir, "client.key", "EC PRIVATE KEY", marshalKey(t, cliKey)),
		pool:       x509.NewCertPool(),
	}
	p.pool.AddCert(ca)
	p.server, err = tls.X509KeyPair(
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: marshalKey(t, srvKey)}))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func marshalKey(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestKafkaOptsValues(t *testing.T) {
	c := validConfig()
	c.Kafka.Brokers = []string{"127.0.0.1:1", "127.0.0.1:2"}
	c.Kafka.ClientID = "scorer-x"
	c.Kafka.SASL = SASL{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p"}
	opts, err := c.KafkaOpts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if got, _ := cl.OptValue(kgo.ClientID).(string); got != "scorer-x" {
		t.Errorf("ClientID = %q", got)
	}
	if got, _ := cl.OptValue(kgo.SeedBrokers).([]string); strings.Join(got, ",") != "127.0.0.1:1,127.0.0.1:2" {
		t.Errorf("SeedBrokers = %q", got)
	}
	ms, _ := cl.OptValue(kgo.SASL).([]sasl.Mechanism)
	if len(ms) != 1 || ms[0].Name() != "SCRAM-SHA-512" {
		t.Errorf("SASL = %v, want one SCRAM-SHA-512 mechanism", ms)
	}
	if tc := cl.OptValue(kgo.DialTLSConfig); tc != nil && tc.(*tls.Config) != nil {
		t.Errorf("DialTLSConfig = %v with TLS disabled", tc)
	}
}

// TestKafkaOptsConnect connects through the options to an in-process broker
// that requires mutual TLS and SASL, for each mechanism, with the right and a
// wrong password.
func TestKafkaOptsConnect(t *testing.T) {
	p := newPKI(t)
	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.TLS(&tls.Config{
			Certificates: []tls.Certificate{p.server},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    p.pool,
			MinVersion:   tls.VersionTLS12,
		}),
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "plain-user", "plain-pass"),
		kfake.Superuser("SCRAM-SHA-256", "scram256-user", "scram256-pass"),
		kfake.Superuser("SCRAM-SHA-512", "scram512-user", "scram512-pass"),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()

	for _, tc := range []struct {
		mechanism, user, pass string
		ok                    bool
	}{
		{"PLAIN", "plain-user", "plain-pass", true},
		{"PLAIN", "plain-user", "wrong", false},
		{"SCRAM-SHA-256", "scram256-user", "scram256-pass", true},
		{"SCRAM-SHA-256", "scram256-user", "wrong", false},
		{"SCRAM-SHA-512", "scram512-user", "scram512-pass", true},
		{"SCRAM-SHA-512", "scram512-user", "wrong", false},
	} {
		t.Run(tc.mechanism+"/"+tc.pass, func(t *testing.T) {
			c := validConfig()
			c.Kafka.Brokers = cluster.ListenAddrs()
			c.Kafka.TLS = TLS{Enabled: true, CAFile: p.caFile, CertFile: p.clientCert, KeyFile: p.clientKey}
			c.Kafka.SASL = SASL{Mechanism: tc.mechanism, Username: tc.user, Password: tc.pass}
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if err := ping(t, c); (err == nil) != tc.ok {
				t.Fatalf("ping: %v, want success %v", err, tc.ok)
			}
		})
	}

	t.Run("no client certificate", func(t *testing.T) {
		c := validConfig()
		c.Kafka.Brokers = cluster.ListenAddrs()
		c.Kafka.TLS = TLS{Enabled: true, CAFile: p.caFile}
		c.Kafka.SASL = SASL{Mechanism: "PLAIN", Username: "plain-user", Password: "plain-pass"}
		if err := ping(t, c); err == nil {
			t.Fatal("ping succeeded without the client certificate the broker requires")
		}
	})
	t.Run("system roots do not trust the test CA", func(t *testing.T) {
		c := validConfig()
		c.Kafka.Brokers = cluster.ListenAddrs()
		c.Kafka.TLS = TLS{Enabled: true, CertFile: p.clientCert, KeyFile: p.clientKey}
		c.Kafka.SASL = SASL{Mechanism: "PLAIN", Username: "plain-user", Password: "plain-pass"}
		if err := ping(t, c); err == nil {
			t.Fatal("ping succeeded although the server certificate is not trusted")
		}
	})
}

func ping(t *testing.T, c *Config) error {
	t.Helper()
	opts, err := c.KafkaOpts()
	if err != nil {
		t.Fatalf("KafkaOpts: %v", err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.RetryTimeout(2*time.Second))...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

func TestKafkaOptsErrors(t *testing.T) {
	p := newPKI(t)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tls  TLS
		sasl SASL
		want string
	}{
		{"ca not pem", TLS{Enabled: true, CAFile: notPEM}, SASL{}, "kafka.tls.ca_file: no PEM certificate in " + notPEM},
		{"ca missing", TLS{Enabled: true, CAFile: notPEM + ".missing"}, SASL{}, "kafka.tls.ca_file: open "},
		{"key does not match", TLS{Enabled: true, CertFile: p.clientCert, KeyFile: p.caFile}, SASL{}, "kafka.tls.cert_file, kafka.tls.key_file: "},
		{"unknown mechanism", TLS{}, SASL{Mechanism: "GSSAPI", Username: "u"}, `kafka.sasl.mechanism: unknown "GSSAPI"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			c.Kafka.TLS, c.Kafka.SASL = tc.tls, tc.sasl
			opts, err := c.KafkaOpts()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("KafkaOpts = %d opts, %v; want error containing %q", len(opts), err, tc.want)
			}
		})
	}
}

func TestRegistryOpts(t *testing.T) {
	type seen struct{ user, pass, agent string }
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/subjects" {
			http.NotFound(w, r)
			return
		}
		u, pw, _ := r.BasicAuth()
		select {
		case got <- seen{u, pw, r.Header.Get("User-Agent")}:
		default:
		}
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		_ = json.NewEncoder(w).Encode([]string{"payments-value"})
	}))
	defer srv.Close()

	c := validConfig()
	c.Registry.URLs = []string{srv.URL}
	c.Registry.Username = "reader"
	c.Registry.Password = "r3gistry"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	subs, err := subjects(ctx, t, c)
	if err != nil {
		t.Fatalf("Subjects: %v", err)
	}
	if len(subs) != 1 || subs[0] != "payments-value" {
		t.Errorf("subjects = %q", subs)
	}
	s := <-got
	if s.user != "reader" || s.pass != "r3gistry" {
		t.Errorf("basic auth = %q:%q, want reader:r3gistry", s.user, s.pass)
	}
	if s.agent != "scorestream" {
		t.Errorf("User-Agent = %q, want the client id", s.agent)
	}
	if c.Registry.URLs[0] != srv.URL {
		t.Errorf("RegistryOpts modified registry.urls: %q", c.Registry.URLs)
	}
}

// The registry timeout applies per request: a registry that never answers
// fails the call instead of hanging it.
func TestRegistryOptsTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answer; return once the client gives up
	}))
	defer srv.Close()

	c := validConfig()
	c.Registry.URLs = []string{srv.URL}
	c.Registry.Timeout = 50 * time.Millisecond
	// No context deadline: only the configured HTTP client timeout can end the call.
	if _, err := subjects(context.Background(), t, c); err == nil {
		t.Fatal("Subjects succeeded against a registry that never answers")
	}
}

// subjects lists the registry's subjects through a client built from c's
// RegistryOpts, with ctx's deadline (if any) on top of registry.timeout.
func subjects(ctx context.Context, t *testing.T, c *Config) ([]string, error) {
	t.Helper()
	opts, err := c.RegistryOpts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := sr.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return cl.Subjects(ctx)
}

// registry.tls: a registry whose certificate a private CA signed is reached with
// registry.tls.ca_file, and refused without it.
func TestRegistryOptsTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		_ = json.NewEncoder(w).Encode([]string{"payments-value"})
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := validConfig()
	c.Registry.URLs = []string{srv.URL}
	if _, err := subjects(ctx, t, c); err == nil {
		t.Fatal("reached a registry signed by an unknown CA without registry.tls.ca_file")
	}
	c.Registry.TLS = TLS{Enabled: true, CAFile: ca}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := subjects(ctx, t, c); err != nil {
		t.Fatalf("with registry.tls.ca_file: %v", err)
	}

	// A CA file with no certificate in it is named in the error.
	bad := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Registry.TLS.CAFile = bad
	if _, err := c.RegistryOpts(); err == nil || !strings.Contains(err.Error(), "registry.tls.ca_file") {
		t.Fatalf("RegistryOpts with an empty CA file: %v, want an error naming registry.tls.ca_file", err)
	}
}
