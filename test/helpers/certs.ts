// Throwaway certificates for TLS tests, made with Debian's openssl CLI in a fresh temp directory.
//
// Contract: makeCerts() returns paths to two CAs ("ca" and "other_ca") and, per requested name, a
// certificate + key signed by `ca` (or by `other_ca` for names in `foreign`). Every certificate
// has CN=<name>, serverAuth+clientAuth, and an IP SAN 127.0.0.1 only when `ip_san` (replication
// peers are checked by CA or pin, not by address). remove() deletes the directory.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const openssl_path = "/usr/bin/openssl";
const cert_days = 2;

export interface CertPair {
  cert: string;
  key: string;
}

export interface Certs {
  dir: string;
  ca: string;
  other_ca: string;
  pairs: Map<string, CertPair>;
  /** SHA-256 of a certificate as `openssl x509 -fingerprint -sha256` prints it (AA:BB:...). */
  fingerprint(cert_path: string): string;
  remove(): void;
}

function openssl(args: string[], cwd: string): string {
  const run = Bun.spawnSync([openssl_path, ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${run.stderr.toString()}`);
  return run.stdout.toString();
}

const ec_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

function caMake(dir: string, name: string): void {
  openssl(["req", "-x509", ...ec_key, "-days", String(cert_days), "-subj", `/CN=${name}`,
    "-keyout", `${name}.key`, "-out", `${name}.pem`], dir);
}

function pairMake(dir: string, name: string, ca: string, ip_san: boolean): CertPair {
  openssl(["req", ...ec_key, "-subj", `/CN=${name}`, "-keyout", `${name}.key`, "-out", `${name}.csr`], dir);
  const ext = [ip_san ? "subjectAltName=IP:127.0.0.1" : "", "extendedKeyUsage=serverAuth,clientAuth"].join("\n");
  writeFileSync(join(dir, `${name}.ext`), ext + "\n");
  openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`, "-CAcreateserial",
    "-days", String(cert_days), "-extfile", `${name}.ext`, "-out", `${name}.pem`], dir);
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

export function makeCerts(names: string[], opts: { foreign?: string[]; ip_san?: boolean } = {}): Certs {
  const dir = mkdtempSync(join(tmpdir(), "certs-"));
  caMake(dir, "ca");
  caMake(dir, "other_ca");
  const pairs = new Map<string, CertPair>();
  for (const name of names) {
    const ca = opts.foreign?.includes(name) ? "other_ca" : "ca";
    pairs.set(name, pairMake(dir, name, ca, opts.ip_san ?? false));
  }
  return {
    dir, ca: join(dir, "ca.pem"), other_ca: join(dir, "other_ca.pem"), pairs,
    fingerprint: (cert_path) => openssl(["x509", "-in", cert_path, "-noout", "-fingerprint", "-sha256"], dir)
      .trim().replace(/^.*=/, ""),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
