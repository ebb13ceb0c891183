// PLACEHOLDER: being written; answers UnsupportedOperationException until then.
import type { KmsOperation } from '../operation.js';
import { kmsError } from '../errors.js';
const pending: KmsOperation = async () => { throw kmsError('UnsupportedOperationException', 'not implemented yet'); };
export const createAlias: KmsOperation = pending;
export const updateAlias: KmsOperation = pending;
export const deleteAlias: KmsOperation = pending;
export const listAliases: KmsOperation = pending;
