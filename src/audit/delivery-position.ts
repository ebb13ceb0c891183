// Where delivery of the audit log to a bucket stands: one small interface, two stores, one
// contract suite (test/audit/delivery-position.contract.ts) run against each.
//
//   file        delivery.json in the audit directory of one server (file-delivery-position.ts):
//               the log file (inode), the byte offsets and eventID of the last event delivered
//   PostgreSQL  the audit_delivery row of one destination (pg-delivery-position.ts): every
//               event with seq ≤ delivered is delivered, and the range chosen and not yet
//               confirmed, if any
//
// A position only changes from the one its writer read (compare-and-swap): on PostgreSQL a
// paused old leader cannot move it back beside the new one; on one server the data
// directory's lock makes the process the only writer, and replace() is serialized in it.

export interface DeliveryPositionStore<P> {
  /** The position, or undefined when none was ever recorded. */
  get(): Promise<P | undefined>;
  /**
   * Replaces the position by `next` if it is still `expected` (undefined: none recorded),
   * durably before it resolves true; false, changing nothing, otherwise. A write that fails
   * or is interrupted leaves the position it would have replaced.
   */
  replace(expected: P | undefined, next: P): Promise<boolean>;
}
