// Writing user-controlled keys safely: plain assignment of "__proto__" would invoke the prototype
// setter (changing the object's prototype instead of adding a field), so that one key is defined.
export function setField(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === "__proto__") Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
  else o[k] = v;
}
