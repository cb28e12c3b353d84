// The exports of an imported user module. A module compiled to CommonJS — TypeScript in a package
// without `"type": "module"`, which `npm init` now writes as `"type": "commonjs"` — shows its exports
// to `import()` only as `default` (module.exports) when Node cannot read their names from the
// compiled code, as with esbuild's (tsx's) output. Its named exports are then those of `default`.

/** The module's exports by name: the namespace's own, or for a CommonJS module its `module.exports`. */
export function namedExports(mod: Record<string, unknown>): Record<string, unknown> {
  const named = Object.keys(mod).filter((k) => k !== "default" && k !== "module.exports");
  const cjs = mod["module.exports"] ?? mod.default;
  if (named.length === 0 && cjs !== null && (typeof cjs === "object" || typeof cjs === "function") && isCommonJs(mod)) {
    return cjs as Record<string, unknown>;
  }
  return mod;
}

/**
 * A namespace made from a CommonJS module: Node marks it with a `module.exports` key (Node 20.19+),
 * and before that its only key is `default` holding a plain object.
 */
function isCommonJs(mod: Record<string, unknown>): boolean {
  if ("module.exports" in mod) return true;
  const keys = Object.keys(mod);
  return keys.length === 1 && keys[0] === "default" && Object.getPrototypeOf(mod.default) === Object.prototype;
}
