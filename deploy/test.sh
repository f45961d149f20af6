#!/usr/bin/env bash
# Checks the deployment files. Exits non-zero if any check fails.
#
#   deploy/test.sh
#
#   - promtool: alert/recording rules compile, their unit tests pass (every alert
#     fires on one input and stays quiet on another), prometheus.yml is valid;
#   - the PrometheusRule in kubernetes/optional is in sync with alerts.yml;
#   - YAML syntax of the Kubernetes manifests, docker-compose.yml, Grafana provisioning
#     (duplicate keys are errors too); JSON of the Grafana dashboard;
#   - go test ./deploy/: the files agree with each other and with the config package.
#
# Installs promtool (Debian package "prometheus") with apt if it is missing.
set -uo pipefail
cd "$(dirname "$0")/.."

failures=0
passes=0
run() {
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then
    echo "PASS  $name"
    passes=$((passes + 1))
  else
    echo "FAIL  $name"
    printf '%s\n' "$out" | sed 's/^/      /'
    failures=$((failures + 1))
  fi
}

if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool not found: installing the prometheus package with apt-get" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  if ! { $sudo apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus; } >&2; then
    echo "FAIL  could not install promtool" >&2
    exit 1
  fi
fi
echo "using $(promtool --version 2>&1 | head -1)"

run "promtool check rules deploy/prometheus/alerts.yml" promtool check rules deploy/prometheus/alerts.yml
run "promtool test rules deploy/prometheus/alerts_test.yml" promtool test rules deploy/prometheus/alerts_test.yml
run "promtool check rules deploy/prometheus/quality.yml" promtool check rules deploy/prometheus/quality.yml
run "promtool test rules deploy/prometheus/quality_test.yml" promtool test rules deploy/prometheus/quality_test.yml
run "promtool check config deploy/prometheus/prometheus.yml" promtool check config deploy/prometheus/prometheus.yml
run "kubernetes/optional/prometheusrule.yaml is generated from alerts.yml" \
  diff -u deploy/kubernetes/optional/prometheusrule.yaml <(deploy/prometheus/prometheusrule.sh)

# A Python with PyYAML: the system one, else the project's venv.
py=python3
if ! "$py" -c 'import yaml' >/dev/null 2>&1; then
  py="$(scripts/pyenv.sh)/bin/python"
  "$py" -c 'import yaml' || { echo "FAIL  no python with PyYAML" >&2; exit 1; }
fi

yamlcheck='
import sys, yaml
class Loader(yaml.SafeLoader):
    pass
def mapping(loader, node, deep=False):
    keys = set()
    for k, _ in node.value:
        if k.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(k, deep=deep)
        if key in keys:
            raise yaml.constructor.ConstructorError(None, None, "duplicate key %r" % (key,), k.start_mark)
        keys.add(key)
    return loader.construct_mapping(node, deep)
Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
for path in sys.argv[1:]:
    with open(path) as f:
        docs = [d for d in yaml.load_all(f, Loader=Loader) if d is not None]
    if not docs:
        raise SystemExit("%s: no YAML document" % path)
    for d in docs:
        if path.startswith("deploy/kubernetes/") and not path.endswith("kustomization.yaml"):
            for key in ("apiVersion", "kind", "metadata"):
                if key not in d:
                    raise SystemExit("%s: a document has no %s" % (path, key))
    print("%s: %d document(s)" % (path, len(docs)))
'
mapfile -t yamls < <(find deploy/kubernetes deploy/grafana deploy/compose deploy/prometheus -name '*.yaml' -o -name '*.yml' | sort)
run "YAML syntax: docker-compose.yml and ${#yamls[@]} files under deploy/" "$py" -c "$yamlcheck" docker-compose.yml "${yamls[@]}"

jsoncheck='
import json, sys
for path in sys.argv[1:]:
    d = json.load(open(path))
    ids = []
    def walk(panels):
        for p in panels:
            ids.append(p["id"])
            walk(p.get("panels", []))
    walk(d["panels"])
    if len(ids) != len(set(ids)):
        raise SystemExit("%s: duplicate panel ids" % path)
    if not d.get("uid"):
        raise SystemExit("%s: no uid" % path)
    print("%s: %d panels" % (path, len(ids)))
'
run "Grafana dashboard JSON" "$py" -c "$jsoncheck" deploy/grafana/dashboards/*.json

run "go test ./deploy/ (files agree with each other and with package config)" go test -count=1 ./deploy/

echo
echo "deploy/test.sh: $passes passed, $failures failed"
[ "$failures" = 0 ]
