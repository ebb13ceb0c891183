// Records keyed by names a client chooses (x-amz-meta-* keys, form fields, encryption
// context pairs, condition keys). On a plain object two things go wrong with such names:
// assigning "__proto__" sets the prototype instead of adding a member (the pair is lost,
// or the object inherits another's members), and reading a name never set finds an
// inherited member ("constructor", "toString", "__proto__"). AWS treats these names as
// ordinary ones, so every such record is written with setOwn and read with ownValue.

/** Sets `name` as an own, enumerable member of `record`, "__proto__" included. */
export function setOwn<T>(record: Record<string, T>, name: string, value: T): void {
  // Plain assignment for every other name: it is the fast path, and it only differs for this one.
  if (name === '__proto__') Object.defineProperty(record, name, { value, enumerable: true, writable: true, configurable: true });
  else record[name] = value;
}

/** The value of `name` when `record` has it as its own member; undefined otherwise, whatever its prototype has. */
export function ownValue<T>(record: Readonly<Record<string, T>>, name: string): T | undefined {
  return Object.hasOwn(record, name) ? record[name] : undefined;
}
