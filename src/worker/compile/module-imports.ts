// What a compiled module names by string: the imports the compile rewrites to point at compiled
// modules, and the `import.meta` names it turns back into the source's. A module that reaches other
// modules in a way that cannot be read here (an `import()` of a computed name, `require` or
// `module` passed around, a require made at run time) keeps the loader, which would have compiled
// whatever such a call reached.
import type { Node } from "acorn";
import { ancestor, full, parse } from "../../lib/lazy-acorn.ts";
import { KeepLoader } from "./keep-loader.ts";

export interface ModuleImport {
  specifier: string;
  /** Where the literal naming it is in the module's text (with its quotes). */
  start: number;
  end: number;
  /** For an `import()`: where the call ends (the loader adds its default-export handling there). */
  dynamicEnd?: number;
}

export interface ModuleNames {
  imports: ModuleImport[];
  /** `import.meta.url` and `import.meta.filename` in the text: they name the compiled file. */
  meta: Array<{ start: number; end: number; name: "url" | "filename" }>;
}

// Ways to make a require or an import at run time the walk below cannot follow.
const RUNTIME_LOADERS =
  /\bcreateRequire\b|\bmainModule\b|\brequire\s*\.\s*main\s*\.\s*require\b|\bnew\s+Function\b|\bFunction\s*\(|\beval\b|\.\s*constructor\s*\(|\[\s*["'`]constructor["'`]\s*\]/;
/** What a module may read of `import.meta` and still run the same compiled. */
const META_READ = new Set(["url", "filename", "dirname"]);
/** What a CommonJS module may read of `module` (anything else may load modules or walk the tree). */
const MODULE_READ = new Set(["exports", "id", "filename", "loaded", "path", "paths"]);

/** `text` parsed as Node runs it in module system `format`; throws a SyntaxError when it is not such a module. */
export function parseModule(text: string, format: "esm" | "cjs"): Node {
  return parse(text, { ecmaVersion: "latest", sourceType: format === "esm" ? "module" : "script", allowHashBang: true, allowReturnOutsideFunction: format === "cjs", allowAwaitOutsideFunction: format === "esm" });
}

/**
 * The names module `name` (for messages), compiled to `text` as an ES module or CommonJS, gives
 * (`program`: the text parsed already, if it was).
 */
export function moduleNames(name: string, text: string, format: "esm" | "cjs", program: Node = parseModule(text, format)): ModuleNames {
  const runtime = RUNTIME_LOADERS.exec(text);
  if (runtime) throw new KeepLoader(`${name} loads modules or code at run time (${runtime[0].replace(/\s+/g, " ")}), which only the loader follows`);
  const out: ModuleNames = { imports: [], meta: [] };
  const literal = (n: Node | null | undefined, dynamicEnd?: number): boolean => {
    const s = n as (Node & { value?: unknown; quasis?: Array<{ value: { cooked?: string | null } }>; expressions?: unknown[] }) | null | undefined;
    const value = s?.type === "Literal" ? s.value : s?.type === "TemplateLiteral" && s.expressions?.length === 0 ? s.quasis?.[0]?.value.cooked : undefined;
    if (typeof value !== "string") return false;
    out.imports.push({ specifier: value, start: s!.start, end: s!.end, ...(dynamicEnd !== undefined ? { dynamicEnd } : {}) });
    return true;
  };
  // Each `require`, `module` and `import.meta` named must be one this walk reads: a require call
  // with a literal, `require.resolve` of a package, `require.main`/`require.cache`, `typeof require`,
  // `module.exports` and the like, `x === module`, `import.meta.url`/`.filename`/`.dirname`.
  const named = { require: 0, module: 0, meta: 0 };
  const read = { require: 0, module: 0, meta: 0 };
  full(program, (node) => {
    const n = node as Node & Record<string, any>;
    switch (n.type) {
      case "ImportDeclaration":
      case "ExportAllDeclaration":
      case "ExportNamedDeclaration":
        if (n.source) literal(n.source);
        break;
      case "ImportExpression":
        if (!literal(n.source, n.end)) throw new KeepLoader(`${name} imports a module by a computed name, which only the loader can compile`);
        break;
      case "Identifier":
        if (n.name === "require") named.require++;
        else if (n.name === "module") named.module++;
        break;
      case "MetaProperty":
        if (n.meta.name === "import") named.meta++;
        break;
      case "CallExpression":
        if (format === "cjs" && isNamed(n.callee, "require")) {
          if (n.arguments.length !== 1 || !literal(n.arguments[0])) throw new KeepLoader(`${name} requires a module by a computed name, which only the loader can compile`);
          read.require++;
        }
        if (format === "cjs" && n.callee.type === "MemberExpression" && isNamed(n.callee.object, "require") && propertyName(n.callee) === "resolve") {
          const spec = n.arguments[0];
          if (spec?.type !== "Literal" || typeof spec.value !== "string" || /^[./]|^file:/.test(spec.value)) throw new KeepLoader(`${name} asks require.resolve for one of its own modules, which only the loader knows as TypeScript`);
          read.require++;
        }
        break;
      case "MemberExpression": {
        const prop = propertyName(n) ?? "";
        if (isNamed(n.object, "require") && ["main", "cache"].includes(prop)) read.require++;
        if (isNamed(n.object, "module") && !n.computed && MODULE_READ.has(prop)) read.module++;
        if (n.object.type === "MetaProperty" && !n.computed && !n.optional && META_READ.has(prop)) {
          read.meta++;
          if (prop !== "dirname") out.meta.push({ start: n.start, end: n.end, name: prop as "url" | "filename" });
        }
        break;
      }
      case "BinaryExpression":
        if (["===", "!==", "==", "!="].includes(n.operator)) for (const side of [n.left, n.right]) if (isNamed(side, "module")) read.module++;
        break;
      case "UnaryExpression":
        if (n.operator === "typeof" && isNamed(n.argument, "require")) read.require++;
        break;
    }
  });
  if (named.meta !== read.meta) throw new KeepLoader(`${name} reads import.meta other than its url, filename or dirname, which only the loader answers for TypeScript`);
  if (format === "cjs") {
    if (named.require !== read.require) throw new KeepLoader(`${name} uses require other than to load a module by name, which only the loader follows`);
    if (named.module !== read.module) throw new KeepLoader(`${name} uses module other than for its exports, which only the loader follows`);
    if (/\barguments\b/.test(text) && topLevelArguments(program)) throw new KeepLoader(`${name} reads the module's arguments (require among them), which only the loader follows`);
  }
  return out;
}

/** Whether `arguments` is read outside any function: in CommonJS, the module wrapper's (require, module…). */
function topLevelArguments(program: Node): boolean {
  let found = false;
  ancestor(program, {
    Identifier(node, _state, ancestors) {
      if ((node as Node & { name: string }).name !== "arguments") return;
      if (!ancestors.some((a) => a.type === "FunctionDeclaration" || a.type === "FunctionExpression")) found = true;
    },
  });
  return found;
}

function isNamed(n: Node | undefined, name: string): boolean {
  return n?.type === "Identifier" && (n as Node & { name: string }).name === name;
}

function propertyName(m: Node & Record<string, any>): string | undefined {
  return !m.computed && m.property.type === "Identifier" ? m.property.name : m.computed && m.property.type === "Literal" ? String(m.property.value) : undefined;
}
