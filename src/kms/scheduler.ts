// PLACEHOLDER: the background sweeps (due deletions, due automatic rotations) are being written.
import type { KmsService } from './service.js';

export class KmsScheduler {
  constructor(private readonly svc: KmsService) {}
  start(): void {}
  stop(): void {}
}
