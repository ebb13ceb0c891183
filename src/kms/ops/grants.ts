// PLACEHOLDER: being written; answers UnsupportedOperationException until then.
import type { KmsOperation } from '../operation.js';
import { kmsError } from '../errors.js';
const pending: KmsOperation = async () => { throw kmsError('UnsupportedOperationException', 'not implemented yet'); };
export const createGrant: KmsOperation = pending;
export const listGrants: KmsOperation = pending;
export const listRetirableGrants: KmsOperation = pending;
export const retireGrant: KmsOperation = pending;
export const revokeGrant: KmsOperation = pending;
