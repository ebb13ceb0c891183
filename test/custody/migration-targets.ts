// What the migration tests move a data directory to: a SoftHSM2 token (with its user PIN in
// a 0600 file, as an operator would pass it) and a second Coffer to serve as the external KMS.

import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { makeSoftHsm, USER_PIN, type SoftHsm } from './softhsm.js';

export interface MigrationTargets {
  hsm: SoftHsm;
  external: TestServer;
  pinFile: string;
}

/** Registers the before/after hooks of the enclosing describe; the fields are set once its `before` has run. */
export function migrationTargets(tokenLabel: string): MigrationTargets {
  const t = {} as MigrationTargets;
  before(async () => {
    t.hsm = await makeSoftHsm();
    t.hsm.initToken(tokenLabel);
    t.pinFile = path.join(t.hsm.root, 'user.pin');
    await fs.writeFile(t.pinFile, `${USER_PIN}\n`, { mode: 0o600 });
    t.external = await startTestServer();
  });
  after(async () => {
    await t.external?.stop();
    await t.hsm?.remove();
  });
  return t;
}
