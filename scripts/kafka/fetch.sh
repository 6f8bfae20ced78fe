#!/usr/bin/env bash
# Fetches Apache Kafka (pinned in pom.xml) from Maven Central into a cache folder and prints
# the folder holding the jars. Idempotent: a complete cache is reused.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
# The folder name carries a hash of pom.xml, so a changed dependency list is fetched anew.
pomhash=$(sha256sum "$here/pom.xml" | cut -c1-8)
cache=${KLAG_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/klag-exporter/kafka-$version-$pomhash}
if [ -f "$cache/.complete" ]; then echo "$cache/lib"; exit 0; fi
mkdir -p "$cache"
echo "fetching Apache Kafka $version from Maven Central into $cache" >&2
mvn -B -q -f "$here/pom.xml" dependency:copy-dependencies -DoutputDirectory="$cache/lib" -DincludeScope=runtime >&2
ls "$cache/lib"/kafka_2.13-"$version".jar >/dev/null
touch "$cache/.complete"
echo "$cache/lib"
