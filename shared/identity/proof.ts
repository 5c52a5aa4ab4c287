import { sign, verify } from './ed25519.js';

/**
 * The hello proof: the sender signs, with the key its token names, the two peer ids and the DTLS
 * fingerprints of this very connection (as each side's SDP announced them). DTLS already proves each end
 * holds its certificate; the proof ties the token to that connection, so a token copied elsewhere (or a
 * hello replayed on another connection) is worthless without the private key.
 */
export interface ConnectionBinding {
  readonly room: string;
  /** The signer. */
  readonly from: string;
  readonly to: string;
  readonly fromFingerprint: string;
  readonly toFingerprint: string;
}

const encoder = new TextEncoder();

function transcript(b: ConnectionBinding): Uint8Array {
  return encoder.encode(['rtc-mesh-hello.v1', b.room, b.from, b.to, b.fromFingerprint, b.toFingerprint].join('\n'));
}

export function signProof(privateKey: CryptoKey, binding: ConnectionBinding): Promise<Uint8Array> {
  return sign(privateKey, transcript(binding));
}

export function verifyProof(publicKey: string, proof: Uint8Array, binding: ConnectionBinding): Promise<boolean> {
  return verify(publicKey, proof, transcript(binding));
}
