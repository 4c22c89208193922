// tls: turns the TLS settings (paths, modes) into the options Bun.listen / Bun.connect take, and
// checks a peer once its handshake is done.
//
// Contract:
// - tlsClientOptions / tlsReplicationOptions read every file once, at start, and try it the way
//   the runtime will (node:tls createSecureContext): a file that cannot be read, a key that does
//   not match its certificate, an unusable CA or cipher list throws TlsLoadError with memcached's
//   message ("Error loading the certificate chain: <file> : <reason>", ...). main.ts exits 64 on it.
// - tlsPeerRefusal says why a finished handshake must not be trusted (null: trust it). The caller
//   drops the socket; nothing here touches a socket but to read its certificate.
// What Bun honours is listed in README.md ("Security: TLS"); in short: certificates, CA, verify
// modes 0..3 (3 = 2: Bun refuses renegotiation, so a certificate is only ever checked once),
// ciphers, TLS 1.3 as a minimum; not TLS 1.0/1.1, session cache sizing, buffers, kernel TLS.

import type { Socket, TLSOptions } from "bun";
import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import type { ReplicationTlsSettings, TlsSettings } from "../config.ts";

export class TlsLoadError extends Error {}

/** OpenSSL's SSL_OP_NO_TLSv1_2: with ssl_min_version=3 only TLS 1.3 is offered. */
const ssl_op_no_tls_1_2 = 0x08000000;
const tls_version_1_3 = 3;

/** ssl_verify_mode values (memcached's). */
export const VerifyMode = { NONE: 0, REQUEST: 1, REQUIRE: 2, ONCE: 3 } as const;

export interface ClientTls {
  options: TLSOptions;
  /** 1 (request): a client certificate is optional, but one that is sent must verify. */
  verify_mode: number;
}

function fileRead(what: string, path: string): string {
  try {
    return readFileSync(path, "latin1");
  } catch (error) {
    throw new TlsLoadError(`Error loading the ${what}: ${path} : ${(error as Error).message}`);
  }
}

/** Tries `options` as the runtime will; a failure becomes `message`'s TlsLoadError. */
function contextTry(options: Parameters<typeof createSecureContext>[0], message: string): void {
  try {
    createSecureContext(options);
  } catch (error) {
    throw new TlsLoadError(`${message} : ${(error as Error).message}`);
  }
}

interface Material {
  cert: string;
  key: string;
  ca: string | undefined;
}

/** Reads a certificate chain, its key and an optional CA file, and checks they load and match. */
function materialLoad(cert_path: string, key_path: string, ca_path: string | null): Material {
  const cert = fileRead("certificate chain", cert_path);
  contextTry({ cert }, `Error loading the certificate chain: ${cert_path}`);
  const key = fileRead("key", key_path);
  contextTry({ cert, key }, `Error loading the key: ${key_path}`);
  const ca = ca_path === null ? undefined : fileRead("CA certificate", ca_path);
  if (ca !== undefined) contextTry({ ca }, `Error loading the CA certificate: ${ca_path}`);
  return { cert, key, ca };
}

/** -Z with its ssl_* options → the client listeners' TLS options. Throws TlsLoadError. */
export function tlsClientOptions(tls: TlsSettings): ClientTls {
  const material = materialLoad(tls.chain_cert_path!, tls.key_path!, tls.ca_cert_path);
  const options: TLSOptions = { cert: material.cert, key: material.key };
  if (material.ca !== undefined) options.ca = material.ca;
  if (tls.ciphers !== null) {
    contextTry({ ciphers: tls.ciphers }, `Error setting the provided cipher(s): ${tls.ciphers}`);
    options.ciphers = tls.ciphers;
  }
  if (tls.min_version >= tls_version_1_3) options.secureOptions = ssl_op_no_tls_1_2;
  options.requestCert = tls.verify_mode !== VerifyMode.NONE;
  // REQUEST: the runtime lets any certificate through; tlsPeerRefusal turns away a bad one.
  options.rejectUnauthorized = tls.verify_mode >= VerifyMode.REQUIRE;
  return { options, verify_mode: tls.verify_mode };
}

export interface ReplicationTls {
  /** For Bun.listen: asks for the peer's certificate. */
  listen: TLSOptions;
  /** For Bun.connect. */
  connect: TLSOptions;
  /** The peer certificate's SHA-256 (upper-case hex, no colons), or null: the CA decides. */
  pin_sha256: string | null;
  /** Whether the peer's chain must verify against the CA (false: the pin alone decides). */
  ca_verify: boolean;
}

/** --replication-tls-* → both ends' TLS options; both verify the other. Throws TlsLoadError. */
export function tlsReplicationOptions(tls: ReplicationTlsSettings): ReplicationTls {
  const material = materialLoad(tls.cert_path!, tls.key_path!, tls.ca_path);
  const ca_verify = material.ca !== undefined;
  const common: TLSOptions = { cert: material.cert, key: material.key, rejectUnauthorized: ca_verify };
  if (ca_verify) common.ca = material.ca;
  return {
    listen: { ...common, requestCert: true },
    // Peers are named by address (-x), and certificates for replication rarely carry it: the CA
    // (or the pin) identifies the peer, not the host name. Bun.connect checks the name and has no
    // checkServerIdentity, so the connector lets the runtime pass every certificate and
    // tlsPeerRefusal (name_check false) decides, before a byte of ours is sent.
    connect: { ...common, rejectUnauthorized: false },
    pin_sha256: tls.pin_sha256,
    ca_verify,
  };
}

/** The SHA-256 of the peer's certificate (upper-case hex, no colons), or "" without one. */
export function peerFingerprint(socket: Socket<unknown>): string {
  const cert = socket.getPeerCertificate?.() as { fingerprint256?: string } | null | undefined;
  return (cert?.fingerprint256 ?? "").replaceAll(":", "").toUpperCase();
}

/** The runtime's error for a chain that verified but names another host (node:tls's code). */
const error_code_name_mismatch = "ERR_TLS_CERT_ALTNAME_INVALID";

/** Whether the peer's chain verified against the CA (`name_check` false: whatever name it has). */
function chainVerified(socket: Socket<unknown>, authorization_error: Error | null, name_check: boolean): boolean {
  if (authorization_error === null) return socket.authorized;
  // The runtime reports a chain error before a name error: a name error means the chain is good.
  return !name_check && (authorization_error as { code?: string }).code === error_code_name_mismatch;
}

/**
 * Why a finished handshake is not to be trusted, or null. `required`: the peer must present a
 * certificate; `ca_verify`: it must chain to the CA; `pin_sha256`: it must be that certificate;
 * `name_check`: a server's certificate must also name the host dialed.
 */
export function tlsPeerRefusal(socket: Socket<unknown>, authorization_error: Error | null,
  required: boolean, ca_verify: boolean, pin_sha256: string | null, name_check = true): string | null {
  const fingerprint = peerFingerprint(socket);
  if (fingerprint === "") return required ? "the peer sent no certificate" : null;
  if (ca_verify && !chainVerified(socket, authorization_error, name_check)) {
    return `the peer's certificate did not verify (${authorization_error?.message ?? "not authorized"})`;
  }
  if (pin_sha256 !== null && fingerprint !== pin_sha256) {
    return `the peer's certificate sha256 ${fingerprint} is not the pinned one`;
  }
  return null;
}
