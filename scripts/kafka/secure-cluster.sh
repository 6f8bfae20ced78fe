#!/usr/bin/env bash
# A 1-node KRaft Kafka on loopback with every security mode the exporter supports, for tests:
#   secure-cluster.sh start DIR   → prints DIR/cluster.json (listener addresses, users, cert paths)
#   secure-cluster.sh stop DIR
#   secure-cluster.sh certs DIR   → only makes the test PKI in DIR (CA, server and client certs)
# Listeners (all 127.0.0.1, free ports picked at start):
#   INTERNAL        PLAINTEXT, principal ANONYMOUS (a super user): setup and inter-broker only
#   SASL_SSL        SCRAM-SHA-512 and PLAIN over TLS (server cert signed by DIR/pki/ca.pem)
#   SASL_PLAINTEXT  PLAIN and SCRAM-SHA-256
#   MTLS            SSL with client certificates required; CN=<name> maps to principal User:<name>
#   OAUTH           SASL_PLAINTEXT with OAUTHBEARER; JWTs are RS256-signed and checked against
#                   DIR/oauth/jwks.json (the matching private key is DIR/oauth/signing-key.pem;
#                   expected issuer "klag-test-idp", audience "kafka", principal from "sub";
#                   a session ends when its token expires, so clients must re-authenticate)
# StandardAuthorizer with super.users admin and ANONYMOUS; users admin, exporter and narrow
# exist for SCRAM (both hashes, created at format time) and PLAIN (JAAS). Passwords are random
# per start and written to DIR/cluster.json. Test-only: keys are unencrypted on disk, except
# the client key, which is encrypted with its own random passphrase (also in cluster.json).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
usage="usage: secure-cluster.sh start|stop|certs DIR"
cmd=${1:?$usage}
dir=${2:?$usage}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
rand() { openssl rand -hex "${1:-12}"; }

stop_cluster() {
  [ -f "$dir/broker.pid" ] || return 0
  local pid
  pid=$(cat "$dir/broker.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/broker.pid" "$dir/cluster.json"
}

running() {
  [ -f "$dir/cluster.json" ] && [ -f "$dir/broker.pid" ] && kill -0 "$(cat "$dir/broker.pid")" 2>/dev/null
}

# make_pki DIR/pki: CA, a server cert for 127.0.0.1/localhost, a client cert (CN=exporter) with an
# encrypted key in PKCS#8 and traditional PEM forms, and a second, untrusted CA with its own client.
make_pki() {
  local pki=$1 passphrase=$2
  rm -rf "$pki"; mkdir -p "$pki"
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3 -subj "/CN=klag-test-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -keyout rogue-ca.key -out rogue-ca.pem -days 3 -subj "/CN=rogue-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' > server.ext
    printf 'extendedKeyUsage=clientAuth\n' > client.ext
    # Server: unencrypted PKCS#8 key; server-keystore.pem = key + cert (Kafka's PEM keystore).
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out server.key 2>/dev/null
    openssl req -new -key server.key -subj "/CN=localhost" -out server.csr
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3 -extfile server.ext \
      -out server.pem 2>/dev/null
    cat server.key server.pem > server-keystore.pem
    # Client (mTLS): key encrypted with the passphrase, PKCS#8 and traditional ("Proc-Type") forms.
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes-256-cbc -pass "pass:$passphrase" \
      -out client.key 2>/dev/null
    openssl rsa -in client.key -passin "pass:$passphrase" -aes256 -passout "pass:$passphrase" -traditional \
      -out client-traditional.key 2>/dev/null
    openssl req -new -key client.key -passin "pass:$passphrase" -subj "/CN=exporter" -out client.csr
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3 -extfile client.ext \
      -out client.pem 2>/dev/null
    # A client cert from a CA the broker does not trust.
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rogue-client.key 2>/dev/null
    openssl req -new -key rogue-client.key -subj "/CN=exporter" -out rogue-client.csr
    openssl x509 -req -in rogue-client.csr -CA rogue-ca.pem -CAkey rogue-ca.key -CAcreateserial -days 3 \
      -extfile client.ext -out rogue-client.pem 2>/dev/null
    rm -f ./*.csr ./*.srl ./*.ext
    chmod 600 ./*.key
  )
}

# make_oauth DIR/oauth: an RSA signing key and the JWKS (one RS256 key, kid "klag-test") the broker trusts.
make_oauth() {
  local oauth=$1
  rm -rf "$oauth"; mkdir -p "$oauth"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$oauth/signing-key.pem" 2>/dev/null
  local modulus
  modulus=$(openssl rsa -in "$oauth/signing-key.pem" -noout -modulus | sed 's/^Modulus=//')
  python3 - "$modulus" > "$oauth/jwks.json" <<'PY'
import base64, json, sys
n = bytes.fromhex(sys.argv[1]).lstrip(b"\0")
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
print(json.dumps({"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "klag-test", "n": b64(n), "e": "AQAB"}]}))
PY
}

case "$cmd" in
  stop) stop_cluster; exit 0 ;;
  certs) mkdir -p "$dir"; make_pki "$dir/pki" "${KLAG_CLIENT_KEY_PASSPHRASE:-$(rand)}"; echo "$dir/pki"; exit 0 ;;
  start) ;;
  *) echo "unknown command: $cmd ($usage)" >&2; exit 2 ;;
esac

mkdir -p "$dir"
exec 9>"$dir.lock"
flock 9
if running; then cat "$dir/cluster.json"; exit 0; fi
stop_cluster
lib=$("$here/fetch.sh")
dir=$(cd "$dir" && pwd)
rm -rf "$dir/data"; mkdir -p "$dir/data"

admin_pw=$(rand); exporter_pw=$(rand); narrow_pw=$(rand); key_pw=$(rand)
make_pki "$dir/pki" "$key_pw"
make_oauth "$dir/oauth"

p_internal=$(free_port); p_sasl_ssl=$(free_port); p_sasl_plain=$(free_port)
p_mtls=$(free_port); p_oauth=$(free_port); p_controller=$(free_port)

cat > "$dir/log4j2.properties" <<'LOG'
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = warn
LOG

plain_jaas="org.apache.kafka.common.security.plain.PlainLoginModule required user_admin=\"$admin_pw\" user_exporter=\"$exporter_pw\" user_narrow=\"$narrow_pw\";"
scram_jaas="org.apache.kafka.common.security.scram.ScramLoginModule required;"
oauth_jaas="org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;"

cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$p_controller
listeners=INTERNAL://127.0.0.1:$p_internal,SASL_SSL://127.0.0.1:$p_sasl_ssl,SASL_PLAINTEXT://127.0.0.1:$p_sasl_plain,MTLS://127.0.0.1:$p_mtls,OAUTH://127.0.0.1:$p_oauth,CONTROLLER://127.0.0.1:$p_controller
advertised.listeners=INTERNAL://127.0.0.1:$p_internal,SASL_SSL://127.0.0.1:$p_sasl_ssl,SASL_PLAINTEXT://127.0.0.1:$p_sasl_plain,MTLS://127.0.0.1:$p_mtls,OAUTH://127.0.0.1:$p_oauth
listener.security.protocol.map=INTERNAL:PLAINTEXT,SASL_SSL:SASL_SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,MTLS:SSL,OAUTH:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=INTERNAL

authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:ANONYMOUS
allow.everyone.if.no.acl.found=false

ssl.keystore.type=PEM
ssl.keystore.location=$dir/pki/server-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$dir/pki/ca.pem
ssl.principal.mapping.rules=RULE:^CN=([^,]+).*\$/\$1/,DEFAULT
listener.name.mtls.ssl.client.auth=required

listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=$scram_jaas
listener.name.sasl_ssl.plain.sasl.jaas.config=$plain_jaas
listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256
listener.name.sasl_plaintext.plain.sasl.jaas.config=$plain_jaas
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=$scram_jaas
listener.name.oauth.sasl.enabled.mechanisms=OAUTHBEARER
listener.name.oauth.oauthbearer.sasl.jaas.config=$oauth_jaas
listener.name.oauth.oauthbearer.sasl.server.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler
listener.name.oauth.oauthbearer.sasl.oauthbearer.jwks.endpoint.url=file://$dir/oauth/jwks.json
listener.name.oauth.oauthbearer.sasl.oauthbearer.expected.issuer=klag-test-idp
listener.name.oauth.oauthbearer.sasl.oauthbearer.expected.audience=kafka
# Sessions end with the token (KIP-368): clients must re-authenticate with a fresh token.
listener.name.oauth.oauthbearer.connections.max.reauth.ms=3600000
sasl.oauthbearer.jwks.endpoint.url=file://$dir/oauth/jwks.json
sasl.oauthbearer.expected.issuer=klag-test-idp
sasl.oauthbearer.expected.audience=kafka

log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.consumer.heartbeat.interval.ms=1000
group.consumer.min.heartbeat.interval.ms=500
delete.topic.enable=true
PROPS

cluster_id=$(java -cp "$lib/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)
scram=()
for user in admin exporter narrow; do
  var="${user}_pw"
  scram+=(--add-scram "SCRAM-SHA-512=[name=$user,password=${!var}]" --add-scram "SCRAM-SHA-256=[name=$user,password=${!var}]")
done
java -cp "$lib/*" kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" "${scram[@]}" \
  >"$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; exit 1; }

allowed="file://$dir/oauth/jwks.json"
setsid java -Xms128m -Xmx${KLAG_KAFKA_HEAP:-384m} -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
  -Dlog4j2.configurationFile="$dir/log4j2.properties" -Djava.awt.headless=true \
  -Dorg.apache.kafka.sasl.oauthbearer.allowed.urls="$allowed" \
  -Dorg.apache.kafka.sasl.oauthbearer.allowed.files="$dir/oauth/jwks.json" \
  -cp "$lib/*" kafka.Kafka "$dir/server.properties" >"$dir/server.log" 2>&1 < /dev/null 9>&- &
echo $! > "$dir/broker.pid"

deadline=$(( $(date +%s) + 120 ))
for port in $p_internal $p_sasl_ssl $p_sasl_plain $p_mtls $p_oauth; do
  until (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; do
    if ! kill -0 "$(cat "$dir/broker.pid")" 2>/dev/null; then
      echo "secure kafka exited during start; log follows" >&2; tail -n 60 "$dir/server.log" >&2; stop_cluster; exit 1
    fi
    if [ "$(date +%s)" -gt "$deadline" ]; then echo "secure kafka did not open port $port in 120 s" >&2; stop_cluster; exit 1; fi
    sleep 0.2
  done
done

cat > "$dir/cluster.json" <<JSON
{
  "dir": "$dir",
  "lib": "$lib",
  "listeners": {
    "internal": "127.0.0.1:$p_internal",
    "saslSsl": "127.0.0.1:$p_sasl_ssl",
    "saslPlaintext": "127.0.0.1:$p_sasl_plain",
    "mtls": "127.0.0.1:$p_mtls",
    "oauth": "127.0.0.1:$p_oauth"
  },
  "users": { "admin": "$admin_pw", "exporter": "$exporter_pw", "narrow": "$narrow_pw" },
  "pki": {
    "ca": "$dir/pki/ca.pem",
    "rogueCa": "$dir/pki/rogue-ca.pem",
    "serverCert": "$dir/pki/server.pem",
    "serverKey": "$dir/pki/server.key",
    "clientCert": "$dir/pki/client.pem",
    "clientKey": "$dir/pki/client.key",
    "clientKeyTraditional": "$dir/pki/client-traditional.key",
    "clientKeyPassword": "$key_pw",
    "rogueClientCert": "$dir/pki/rogue-client.pem",
    "rogueClientKey": "$dir/pki/rogue-client.key"
  },
  "oauth": { "signingKey": "$dir/oauth/signing-key.pem", "kid": "klag-test", "issuer": "klag-test-idp", "audience": "kafka" }
}
JSON
cat "$dir/cluster.json"
