// The imports a compiled module makes by name: the string literals the compile rewrites to point at
// compiled modules. A module that reaches other modules in a way that cannot be read here (an
// `import()` of a computed name, `require` passed around, a require made at run time) keeps the
// loader, which would have compiled whatever such a call reached.
import type { Node } from "acorn";
import { full, parse } from "../../lib/lazy-acorn.ts";
import { KeepLoader } from "./keep-loader.ts";

export interface ModuleImport {
  specifier: string;
  /** Where the literal naming it is in the module's text (with its quotes). */
  start: number;
  end: number;
  /** `require` (CommonJS), `import` (static or dynamic). */
  kind: "import" | "require";
}

// Ways to make a require or an import at run time the walk below cannot follow.
const RUNTIME_LOADERS = /\bcreateRequire\b|\bimport\s*\.\s*meta\s*\.\s*resolve\b|\bmodule\s*\.\s*require\b|\bnew\s+Function\b|\bFunction\s*\(|\beval\s*\(/;

/** The imports of module `name` (for messages), compiled to `text` as an ES module or CommonJS. */
export function moduleImports(name: string, text: string, format: "esm" | "cjs"): ModuleImport[] {
  const runtime = RUNTIME_LOADERS.exec(text);
  if (runtime) throw new KeepLoader(`${name} loads modules at run time (${runtime[0].replace(/\s+/g, " ")}), which only the loader follows`);
  const program = parse(text, { ecmaVersion: "latest", sourceType: format === "esm" ? "module" : "script", allowHashBang: true, allowReturnOutsideFunction: format === "cjs", allowAwaitOutsideFunction: format === "esm" });
  const out: ModuleImport[] = [];
  const literal = (n: Node | null | undefined, kind: ModuleImport["kind"]): boolean => {
    const s = n as (Node & { value?: unknown; quasis?: Array<{ value: { cooked?: string | null } }>; expressions?: unknown[] }) | null | undefined;
    const value = s?.type === "Literal" ? s.value : s?.type === "TemplateLiteral" && s.expressions?.length === 0 ? s.quasis?.[0]?.value.cooked : undefined;
    if (typeof value !== "string") return false;
    out.push({ specifier: value, start: s!.start, end: s!.end, kind });
    return true;
  };
  // Each `require` named in a CommonJS module must be one this walk reads: a call with a literal,
  // `require.resolve` of a package, `require.main`/`require.cache`, `typeof require`.
  let requires = 0;
  let readRequires = 0;
  full(program, (node) => {
    const n = node as Node & Record<string, any>;
    switch (n.type) {
      case "ImportDeclaration":
      case "ExportAllDeclaration":
      case "ExportNamedDeclaration":
        if (n.source) literal(n.source, "import");
        break;
      case "ImportExpression":
        if (!literal(n.source, "import")) throw new KeepLoader(`${name} imports a module by a computed name, which only the loader can compile`);
        break;
      case "Identifier":
        if (n.name === "require") requires++;
        break;
      case "CallExpression":
        if (format === "cjs" && isRequire(n.callee)) {
          if (n.arguments.length !== 1 || !literal(n.arguments[0], "require")) throw new KeepLoader(`${name} requires a module by a computed name, which only the loader can compile`);
          readRequires++;
        }
        if (format === "cjs" && n.callee.type === "MemberExpression" && isRequire(n.callee.object) && propertyName(n.callee) === "resolve") {
          const spec = n.arguments[0];
          if (spec?.type !== "Literal" || typeof spec.value !== "string" || /^[./]|^file:/.test(spec.value)) throw new KeepLoader(`${name} asks require.resolve for one of its own modules, which only the loader knows as TypeScript`);
          readRequires++;
        }
        break;
      case "MemberExpression":
        if (isRequire(n.object) && ["main", "cache"].includes(propertyName(n) ?? "")) readRequires++;
        break;
      case "UnaryExpression":
        if (n.operator === "typeof" && isRequire(n.argument)) readRequires++;
        break;
    }
  });
  if (format === "cjs" && requires !== readRequires) throw new KeepLoader(`${name} uses require other than to load a module by name, which only the loader follows`);
  return out;
}

function isRequire(n: Node | undefined): boolean {
  return n?.type === "Identifier" && (n as Node & { name: string }).name === "require";
}

function propertyName(m: Node & Record<string, any>): string | undefined {
  return !m.computed && m.property.type === "Identifier" ? m.property.name : m.computed && m.property.type === "Literal" ? String(m.property.value) : undefined;
}
