import { signatureOf, type FnSignature } from "../operator/signature.ts";

/** Names never reachable over the network, whatever the class defines. */
export const FORBIDDEN_NAMES = new Set([
  "constructor", "__proto__", "prototype", "then", "catch", "finally",
  "toString", "toLocaleString", "valueOf", "hasOwnProperty", "isPrototypeOf", "propertyIsEnumerable",
  "__defineGetter__", "__defineSetter__", "__lookupGetter__", "__lookupSetter__",
  // framework methods of operators and wrapped classes
  "deploy", "map", "starMap", "remoteInit", "triggerRemoteInit", "children", "namedOperators", "operators",
  "propagate", "thaw", "getDag", "getFlow", "forward",
]);

/** A name user code may expose: not private by convention, not framework or Object plumbing. */
export function isPublicName(name: string): boolean {
  return !name.startsWith("_") && !name.startsWith("#") && !name.startsWith("$") && !FORBIDDEN_NAMES.has(name);
}

export interface ClassSurface {
  name: string;
  methods: Record<string, FnSignature & { kind: "method" | "async" | "generator" | "asyncGenerator" }>;
  /** Accessor properties (getters, optionally setters) found on the prototype chain. */
  accessors: Record<string, { get: boolean; set: boolean }>;
  /** Has a `forward` method (served at /forward). */
  forward: FnSignature | null;
}

function fnKind(fn: Function): ClassSurface["methods"][string]["kind"] {
  const tag = Object.prototype.toString.call(fn);
  if (tag === "[object AsyncGeneratorFunction]") return "asyncGenerator";
  if (tag === "[object GeneratorFunction]") return "generator";
  if (tag === "[object AsyncFunction]") return "async";
  return "method";
}

/** Methods and accessors of a class from its prototype chain (not Object's, not the framework's). */
export function classSurface(cls: Function): ClassSurface {
  const surface: ClassSurface = { name: cls.name, methods: {}, accessors: {}, forward: null };
  for (let proto = cls.prototype; proto && proto !== Object.prototype && proto !== Function.prototype; proto = Object.getPrototypeOf(proto)) {
    // Operator.prototype owns the brand: its methods are framework, not user surface.
    if (Object.prototype.hasOwnProperty.call(proto, Symbol.for("nbox.operator"))) break;
    for (const key of Object.getOwnPropertyNames(proto)) {
      const d = Object.getOwnPropertyDescriptor(proto, key)!;
      if (key === "forward" && typeof d.value === "function") {
        surface.forward ??= signatureOf(d.value);
        continue;
      }
      if (!isPublicName(key) || key in surface.methods || key in surface.accessors) continue;
      if (d.get || d.set) surface.accessors[key] = { get: !!d.get, set: !!d.set };
      else if (typeof d.value === "function") surface.methods[key] = { ...signatureOf(d.value), kind: fnKind(d.value) };
    }
  }
  return surface;
}
