// The bundle's tsconfig.json, applied as the loader applies it: its compiler options to the files
// it includes, its `paths` to bare imports. Read as JSON with comments by a JavaScript parser (what
// the file's syntax is), never by a reader that follows `extends`: the compile must read nothing
// outside the version's folder, so a config that extends another keeps the loader.
import { lstatSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Expression, Property, SpreadElement } from "acorn";
import { createFilesMatcher, createPathsMatcher, type TsConfigJson } from "get-tsconfig";
import { parse } from "../../lib/lazy-acorn.ts";
import { KeepLoader } from "./keep-loader.ts";

export interface TsconfigSettings {
  /** The options the compiler gets for `file` (absolute): the config's, or none where it does not include the file. */
  optionsFor(file: string): TsConfigJson | undefined;
  /** Where the config's `paths`/`baseUrl` send a bare import (absolute candidates, in order); none without them. */
  pathsFor(specifier: string): string[];
}

const NONE: TsconfigSettings = { optionsFor: () => undefined, pathsFor: () => [] };

/** The settings of `dir/tsconfig.json`; none when there is no such file. */
export function tsconfigSettings(dir: string): TsconfigSettings {
  const path = join(dir, "tsconfig.json");
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return NONE;
  if (!st.isFile()) throw new KeepLoader(st.isSymbolicLink() ? "tsconfig.json is a link" : "tsconfig.json is not a plain file");
  const config = parseJsonc(readFileSync(path, "utf8"));
  if (typeof config !== "object" || config === null || Array.isArray(config)) throw new KeepLoader("tsconfig.json is not a JSON object");
  if (Object.hasOwn(config, "extends")) throw new KeepLoader("tsconfig.json extends another file");
  const result = { path, config: config as TsConfigJson };
  const files = createFilesMatcher(result, true);
  const paths = createPathsMatcher(result);
  return { optionsFor: (file) => files(file), pathsFor: (specifier) => paths?.(specifier) ?? [] };
}

/** JSON with comments and trailing commas, as a value; anything else is refused. */
function parseJsonc(text: string): unknown {
  let program;
  try {
    program = parse(`(${text}\n)`, { ecmaVersion: "latest", sourceType: "script" });
  } catch (err) {
    throw new KeepLoader(`tsconfig.json is not valid JSON: ${(err as Error).message}`);
  }
  const statement = program.body[0];
  if (program.body.length !== 1 || statement?.type !== "ExpressionStatement") throw new KeepLoader("tsconfig.json is not valid JSON");
  return valueOf(statement.expression);
}

function valueOf(node: Expression | SpreadElement | Property | null): unknown {
  switch (node?.type) {
    case "Literal":
      // Strings as JSON writes them: the loader's reader takes no other quotes.
      if (typeof node.value === "string" && !node.raw?.startsWith('"')) break;
      if (node.value === null || ["string", "number", "boolean"].includes(typeof node.value)) return node.value;
      break;
    case "UnaryExpression":
      if (node.operator === "-" && node.argument.type === "Literal" && typeof node.argument.value === "number") return -node.argument.value;
      break;
    case "ArrayExpression":
      return node.elements.map((e) => valueOf(e));
    case "ObjectExpression": {
      const out: Record<string, unknown> = {};
      for (const p of node.properties) {
        const k = p.type === "Property" && !p.computed && p.kind === "init" && !p.method && !p.shorthand ? p.key : undefined;
        if (k?.type !== "Literal" || typeof k.value !== "string" || !k.raw?.startsWith('"')) throw new KeepLoader("tsconfig.json is not valid JSON: each key must be a string in double quotes");
        // The loader's reader makes such a key the object's prototype: not a setting to guess at.
        if (k.value === "__proto__") throw new KeepLoader('tsconfig.json has a key "__proto__"');
        out[k.value] = valueOf((p as Property).value as Expression);
      }
      return out;
    }
  }
  throw new KeepLoader("tsconfig.json is not valid JSON");
}
