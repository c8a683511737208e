#!/usr/bin/env bash
# Installs what the real-Kafka proof (test/kafka/run.ts) needs, idempotently:
#   * Apache Kafka (ZooKeeper-capable 3.x) + its ZooKeeper + an slf4j/log4j binding + kafka-tools,
#     as plain jars from Maven Central (a generated pom + `mvn dependency:copy-dependencies`),
#     into ${KNI_CACHE_DIR:-$HOME/.cache/kafka-nodeport-injector}/kafka-<version>/libs
#   * kcat, iptables, iproute2 (ip netns) and util-linux (unshare) from Debian, when missing.
# A warm run (jars present, tools present) does no network access at all.
# Prints, as its last line: KAFKA_LIBS=<dir with the jars>
#   --check   install nothing: exit 3 naming what is missing (what the test calls;
#             `npm run setup` installs)
set -euo pipefail

CHECK=0
[[ "${1:-}" == --check ]] && CHECK=1

KAFKA_VERSION="${KNI_KAFKA_VERSION:-3.9.1}"
SCALA_VERSION="${KNI_SCALA_VERSION:-2.13}"
SLF4J_VERSION="1.7.36"
RELOAD4J_VERSION="1.2.25"
CACHE_DIR="${KNI_CACHE_DIR:-$HOME/.cache/kafka-nodeport-injector}"
DEST="$CACHE_DIR/kafka-$KAFKA_VERSION"
LIBS="$DEST/libs"
STAMP="$DEST/.complete"

log() { printf '[install] %s\n' "$*" >&2; }
not_installed() {
  log "not installed: $* — run \`npm run setup\` first"
  exit 3
}

# ---------- Debian tools ----------
need_pkgs=()
command -v kcat >/dev/null 2>&1 || need_pkgs+=(kcat)
command -v iptables >/dev/null 2>&1 || need_pkgs+=(iptables)
command -v ip >/dev/null 2>&1 || need_pkgs+=(iproute2)
command -v unshare >/dev/null 2>&1 || need_pkgs+=(util-linux)
command -v java >/dev/null 2>&1 || need_pkgs+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_pkgs+=(maven)
if ((${#need_pkgs[@]})); then
  ((CHECK)) && not_installed "Debian packages ${need_pkgs[*]}"
  if [[ "$(id -u)" != 0 ]]; then
    log "missing ${need_pkgs[*]} and not root: cannot apt-get install"
    exit 1
  fi
  log "apt-get install ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq "${need_pkgs[@]}" >&2; then
    apt-get update -qq >&2
    apt-get install -y -qq "${need_pkgs[@]}" >&2
  fi
fi

# ---------- Kafka jars ----------
POM=$(
  cat <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.kafka-nodeport-injector</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <!-- the broker (kafka.Kafka); pulls in org.apache.zookeeper:zookeeper (server and client) -->
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_$SCALA_VERSION</artifactId><version>$KAFKA_VERSION</version></dependency>
    <!-- TopicCommand (kafka-topics.sh) -->
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <!-- logging binding, as in the Kafka 3.x distribution's libs/ -->
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>$SLF4J_VERSION</version></dependency>
    <dependency><groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId><version>$RELOAD4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
)
# The stamp holds the hash of everything that decides the jar set (the pom names every version).
# It is written inside the temporary directory before the rename, so an interrupted fetch
# leaves no stamp and is fetched again.
KEY=$(printf '%s\n' "$POM" | sha256sum | cut -c1-16)
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$KEY" ]]; then
  log "cached: $LIBS"
else
  ((CHECK)) && not_installed "Kafka $KAFKA_VERSION jars in $LIBS"
  log "fetching org.apache.kafka:kafka_$SCALA_VERSION:$KAFKA_VERSION (+zookeeper, kafka-tools, slf4j-reload4j) from Maven Central"
  rm -rf "$DEST.tmp"
  mkdir -p "$DEST.tmp"
  printf '%s\n' "$POM" >"$DEST.tmp/pom.xml"
  mvn -B -q -Dstyle.color=never -f "$DEST.tmp/pom.xml" \
    -Dmaven.repo.local="$CACHE_DIR/m2" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$DEST.tmp/libs" >&2
  echo "$KEY" >"$DEST.tmp/.complete"
  rm -rf "$DEST"
  mv "$DEST.tmp" "$DEST"
  log "installed $(ls "$LIBS" | wc -l) jars into $LIBS"
fi

for pattern in "kafka_$SCALA_VERSION-$KAFKA_VERSION.jar" "kafka-tools-$KAFKA_VERSION.jar" "zookeeper-[0-9]*.jar" \
  "slf4j-reload4j-*.jar" "reload4j-*.jar"; do
  if ! compgen -G "$LIBS/$pattern" >/dev/null; then
    log "expected jar $pattern missing from $LIBS (delete $DEST and retry)"
    exit 1
  fi
done

echo "KAFKA_LIBS=$LIBS"
