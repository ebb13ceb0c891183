// PLACEHOLDER: being written; answers UnsupportedOperationException until then.
import type { KmsOperation } from '../operation.js';
import { kmsError } from '../errors.js';
const pending: KmsOperation = async () => { throw kmsError('UnsupportedOperationException', 'not implemented yet'); };
export const tagResource: KmsOperation = pending;
export const untagResource: KmsOperation = pending;
export const listResourceTags: KmsOperation = pending;
