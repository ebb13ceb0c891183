// A Node-crypto SHA-256 with the interface @smithy/signature-v4 expects, for tests
// that sign raw requests themselves.
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';

export class Sha256 {
  private h: Hash | Hmac;
  constructor(secret?: string | Uint8Array) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', secret);
  }
  update(data: string | Uint8Array): void {
    this.h.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
  reset(): void {}
}
