// A software passkey authenticator for the SDK tests, built on node:crypto alone: what a
// browser plus a platform authenticator would hand to `PublicKeyCredential.toJSON()`, from the
// options JSON a server sends (`parseCreationOptionsFromJSON` / `parseRequestOptionsFromJSON`
// input). It is deliberately small and written from the WebAuthn Level 3 spec, not from any
// server's code, so that a server accepting it shows it follows the spec:
//
// - registration: ES256 (P-256) key per credential, attestation format "none"
//   (attestationObject = CBOR {"fmt":"none","attStmt":{},"authData":bytes});
// - authenticatorData = sha256(rpId) | flags | signCount (u32 BE) [| attested credential data];
//   attested credential data = aaguid (16 zero bytes) | credIdLen (u16 BE) | credId | COSE_Key;
// - assertions: signature = ECDSA-SHA256 (DER) over authenticatorData || sha256(clientDataJSON);
// - every credential is resident (discoverable): its user handle is kept and returned;
// - user presence and user verification are always asserted (UP | UV), as a platform
//   authenticator that asked for a fingerprint would.
//
// The client data's origin is the authenticator's `origin` unless a call passes another one,
// so that a test can play a phishing site's page.
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';

// authenticatorData flags (WebAuthn §6.1).
export const FLAGS = Object.freeze({ UP: 0x01, UV: 0x04, BE: 0x08, BS: 0x10, AT: 0x40, ED: 0x80 });

const COSE_ALG_ES256 = -7;

// ---- base64url ----------------------------------------------------------------------------

export const b64url = (bytes) => Buffer.from(bytes).toString('base64url');
export const fromB64url = (text) => Buffer.from(text, 'base64url');

const sha256 = (data) => createHash('sha256').update(data).digest();

// ---- a minimal CBOR encoder (RFC 8949): only what attestation objects and COSE keys use ----
//
// unsigned and negative integers, byte strings, text strings, and maps. A JS Map keeps its
// keys' types and order (COSE keys are integers); a plain object is a map of text keys in
// insertion order. Callers give keys in CTAP2 canonical order (shorter encoding first).

function head(major, length) {
  const m = major << 5;
  if (length < 24) return Buffer.from([m | length]);
  if (length < 0x100) return Buffer.from([m | 24, length]);
  if (length < 0x10000) {
    const b = Buffer.alloc(3);
    b[0] = m | 25;
    b.writeUInt16BE(length, 1);
    return b;
  }
  if (length < 0x100000000) {
    const b = Buffer.alloc(5);
    b[0] = m | 26;
    b.writeUInt32BE(length, 1);
    return b;
  }
  throw new RangeError(`CBOR length/value too large for this encoder: ${length}`);
}

export function cborEncode(value) {
  if (Number.isInteger(value)) {
    return value >= 0 ? head(0, value) : head(1, -1 - value);
  }
  if (value instanceof Uint8Array) {
    return Buffer.concat([head(2, value.length), value]);
  }
  if (typeof value === 'string') {
    const utf8 = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, utf8.length), utf8]);
  }
  const entries =
    value instanceof Map ? [...value.entries()] : value && typeof value === 'object' ? Object.entries(value) : null;
  if (!entries) throw new TypeError(`cannot CBOR-encode ${typeof value}: ${value}`);
  return Buffer.concat([head(5, entries.length), ...entries.flatMap(([k, v]) => [cborEncode(k), cborEncode(v)])]);
}

// The matching decoder, for this file's self-check and the tests' own assertions about what
// the authenticator produced. Same subset; throws on anything else.
export function cborDecode(bytes) {
  const buf = Buffer.from(bytes);
  let pos = 0;
  const readLength = (info) => {
    if (info < 24) return info;
    const size = { 24: 1, 25: 2, 26: 4 }[info];
    if (!size) throw new Error(`unsupported CBOR length encoding ${info}`);
    const n = buf.readUIntBE(pos, size);
    pos += size;
    return n;
  };
  const item = () => {
    if (pos >= buf.length) throw new Error('CBOR: unexpected end');
    const initial = buf[pos++];
    const major = initial >> 5;
    const n = readLength(initial & 0x1f);
    switch (major) {
      case 0:
        return n;
      case 1:
        return -1 - n;
      case 2:
      case 3: {
        if (pos + n > buf.length) throw new Error('CBOR: string past the end');
        const s = buf.subarray(pos, pos + n);
        pos += n;
        return major === 2 ? Buffer.from(s) : s.toString('utf8');
      }
      case 5: {
        const map = new Map();
        for (let i = 0; i < n; i++) {
          const k = item();
          map.set(k, item());
        }
        return map;
      }
      default:
        throw new Error(`unsupported CBOR major type ${major}`);
    }
  };
  const value = item();
  return { value, rest: buf.subarray(pos) };
}

// ---- the authenticator ----------------------------------------------------------------------

export class SoftAuthenticator {
  /**
   * @param {object} opts
   * @param {string} opts.origin the origin of the page that calls navigator.credentials
   * @param {boolean} [opts.backupEligible] a synced passkey (BE and BS flags) rather than a
   *   device-bound one
   */
  constructor({ origin, backupEligible = false }) {
    if (!origin) throw new Error('SoftAuthenticator needs an origin');
    this.origin = origin;
    this.backupEligible = backupEligible;
    /** credential id (base64url) -> {rawId, rpId, userHandle, privateKey, counter} */
    this.credentials = new Map();
  }

  flags(extra) {
    const backup = this.backupEligible ? FLAGS.BE | FLAGS.BS : 0;
    return FLAGS.UP | FLAGS.UV | backup | extra;
  }

  clientData(type, challenge, origin) {
    if (typeof challenge !== 'string' || challenge === '') {
      throw new Error(`the options carry no base64url challenge: ${JSON.stringify(challenge)}`);
    }
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }), 'utf8');
  }

  /**
   * navigator.credentials.create({publicKey}) then .toJSON(): a new credential for the
   * creation options JSON `options`.
   * @param {object} options PublicKeyCredentialCreationOptionsJSON
   * @param {{origin?: string}} [call]
   */
  create(options, { origin = this.origin } = {}) {
    const rpId = options.rp?.id ?? new URL(origin).hostname;
    if (!options.pubKeyCredParams?.some((p) => p.type === 'public-key' && p.alg === COSE_ALG_ES256)) {
      throw new Error(`NotSupportedError: ES256 is not among ${JSON.stringify(options.pubKeyCredParams)}`);
    }
    // As a browser does: refuse to make a second credential for an account this authenticator
    // already holds one for.
    for (const excluded of options.excludeCredentials ?? []) {
      if (this.credentials.get(excluded.id)?.rpId === rpId) {
        throw new Error(`InvalidStateError: credential ${excluded.id} is excluded and is on this authenticator`);
      }
    }
    if (!options.user?.id) throw new Error('the creation options carry no user.id');

    const rawId = randomBytes(32);
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const coseKey = new Map([
      [1, 2], // kty: EC2
      [3, COSE_ALG_ES256], // alg: ES256
      [-1, 1], // crv: P-256
      [-2, fromB64url(jwk.x)],
      [-3, fromB64url(jwk.y)],
    ]);
    const credentialIdLength = Buffer.alloc(2);
    credentialIdLength.writeUInt16BE(rawId.length);
    const counter = 0;
    const authData = Buffer.concat([
      this.authDataHead(rpId, this.flags(FLAGS.AT), counter),
      Buffer.alloc(16), // aaguid: none given with "none" attestation
      credentialIdLength,
      rawId,
      cborEncode(coseKey),
    ]);
    const attestationObject = cborEncode({ fmt: 'none', attStmt: {}, authData });
    const clientDataJSON = this.clientData('webauthn.create', options.challenge, origin);

    const id = b64url(rawId);
    this.credentials.set(id, { rawId, rpId, userHandle: options.user.id, privateKey, counter });
    return {
      id,
      rawId: id,
      type: 'public-key',
      response: {
        clientDataJSON: b64url(clientDataJSON),
        attestationObject: b64url(attestationObject),
        transports: ['internal'],
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  /**
   * navigator.credentials.get({publicKey}) then .toJSON(): an assertion for the request
   * options JSON `options`, by a credential listed in allowCredentials or, when that is empty,
   * by any credential this authenticator holds for the RP (a discoverable sign-in).
   * @param {object} options PublicKeyCredentialRequestOptionsJSON
   * @param {{origin?: string, credentialId?: string}} [call] credentialId: pick this one
   */
  get(options, { origin = this.origin, credentialId } = {}) {
    const rpId = options.rpId ?? new URL(origin).hostname;
    const allowed = (options.allowCredentials ?? []).map((c) => c.id);
    const candidates = [...this.credentials.entries()].filter(
      ([id, c]) => c.rpId === rpId && (allowed.length === 0 || allowed.includes(id)),
    );
    const chosen = credentialId ? candidates.find(([id]) => id === credentialId) : candidates[0];
    if (!chosen) {
      throw new Error(
        `NotAllowedError: no credential for ${rpId} among ${allowed.length ? allowed.join(', ') : 'the resident ones'}`,
      );
    }
    const [id, credential] = chosen;
    credential.counter += 1;
    const authenticatorData = this.authDataHead(rpId, this.flags(0), credential.counter);
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, origin);
    const signature = sign('sha256', Buffer.concat([authenticatorData, sha256(clientDataJSON)]), credential.privateKey);
    return {
      id,
      rawId: id,
      type: 'public-key',
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(authenticatorData),
        signature: b64url(signature),
        userHandle: credential.userHandle,
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  authDataHead(rpId, flags, counter) {
    const signCount = Buffer.alloc(4);
    signCount.writeUInt32BE(counter);
    return Buffer.concat([sha256(Buffer.from(rpId, 'utf8')), Buffer.from([flags]), signCount]);
  }
}

// ---- parsing what it produced, for assertions -----------------------------------------------

/** The parts of an authenticatorData buffer. */
export function parseAuthData(authData) {
  const data = Buffer.from(authData);
  const parsed = {
    rpIdHash: data.subarray(0, 32),
    flags: data[32],
    signCount: data.readUInt32BE(33),
  };
  if (parsed.flags & FLAGS.AT) {
    parsed.aaguid = data.subarray(37, 53);
    const length = data.readUInt16BE(53);
    parsed.credentialId = data.subarray(55, 55 + length);
    const { value, rest } = cborDecode(data.subarray(55 + length));
    parsed.credentialPublicKey = value;
    parsed.rest = rest;
  }
  return parsed;
}
