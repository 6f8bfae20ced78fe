/**
 * Test PKI made with openssl: a CA, a server certificate for 127.0.0.1/localhost, one for another
 * host name only, and a client certificate, all signed by that CA, plus a second unrelated CA.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestPki {
  dir: string;
  caFile: string;
  otherCaFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  /** Signed by the CA, but for `other.example` only (not 127.0.0.1 or localhost). */
  otherHostCertFile: string;
  otherHostKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  read(file: string): Buffer;
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  const p = Bun.spawnSync(["openssl", ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${p.stderr.toString()}`);
}

function makeCa(dir: string, name: string): void {
  openssl(
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=${name}`]
      .concat(["-keyout", `${name}.key`, "-out", `${name}.crt`])
      .concat(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]),
    dir,
  );
}

function makeLeaf(dir: string, name: string, ca: string, ext: string): void {
  openssl(
    ["req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${name}`, "-keyout", `${name}.key`, "-out", `${name}.csr`],
    dir,
  );
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(
    ["x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-CAcreateserial"].concat([
      "-days",
      "2",
      "-out",
      `${name}.crt`,
      "-extfile",
      `${name}.ext`,
    ]),
    dir,
  );
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "klag-otlp-pki-"));
  makeCa(dir, "ca");
  makeCa(dir, "other-ca");
  makeLeaf(
    dir,
    "server",
    "ca",
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
  );
  makeLeaf(dir, "other-host", "ca", "subjectAltName=DNS:other.example\nextendedKeyUsage=serverAuth\n");
  makeLeaf(dir, "client", "ca", "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n");
  return {
    dir,
    caFile: join(dir, "ca.crt"),
    otherCaFile: join(dir, "other-ca.crt"),
    serverCertFile: join(dir, "server.crt"),
    serverKeyFile: join(dir, "server.key"),
    otherHostCertFile: join(dir, "other-host.crt"),
    otherHostKeyFile: join(dir, "other-host.key"),
    clientCertFile: join(dir, "client.crt"),
    clientKeyFile: join(dir, "client.key"),
    read: (file) => readFileSync(file),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
