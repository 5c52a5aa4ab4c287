import { generateKeyPair, type KeyPair } from '../shared/identity/ed25519.js';
import { signProof, type ConnectionBinding } from '../shared/identity/proof.js';
import type { IdentityGrant, LocalIdentity } from '../shared/wire/transport.js';

/**
 * This peer's identity in its room: an Ed25519 key pair made for this session (the private half never
 * leaves WebCrypto) and the token the signaling server signed for it, renewed while joined. In an open room
 * the grant stays null and nothing is signed.
 */
export class RoomIdentity implements LocalIdentity {
  private keys: KeyPair | null = null;
  private current: IdentityGrant | null = null;
  private readonly listeners = new Set<() => void>();

  constructor(readonly room: string) {}

  /**
   * Makes the key pair, where WebCrypto has Ed25519 (Node 20+, browsers in secure contexts). Without it the
   * peer joins without a key: fine in an open room, refused by a server that signs identities.
   */
  async prepare(): Promise<string | undefined> {
    try {
      this.keys ??= await generateKeyPair();
      return this.keys.publicKey;
    } catch {
      return undefined;
    }
  }

  /** Called with each grant the server issues (join, refresh). */
  granted(grant: IdentityGrant): void {
    const renewed = this.current !== null && this.current.token !== grant.token;
    this.current = grant;
    if (renewed) for (const listener of [...this.listeners]) listener();
  }

  grant(): IdentityGrant | null {
    return this.current;
  }

  sign(binding: ConnectionBinding): Promise<Uint8Array> {
    if (this.keys === null) return Promise.reject(new Error('no identity key'));
    return signProof(this.keys.privateKey, binding);
  }

  onRenewed(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
