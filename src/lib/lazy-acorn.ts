// acorn and its walker, loaded on first use instead of when nbox is imported: parsing them is ~20 ms
// of the start of every process that imports nbox (each job process among them), and only flow and
// signature reading use them. Loaded through require (both ship CommonJS builds) so their callers
// stay synchronous.
import { createRequire } from "node:module";
import type * as Acorn from "acorn";
import type * as Walk from "acorn-walk";
import { linearScopes } from "./acorn-linear-scopes.ts";

const load = createRequire(import.meta.url);
let parser: typeof Acorn.Parser | undefined;
let walk: typeof Walk | undefined;
const parserClass = () => (parser ??= (load("acorn") as typeof Acorn).Parser.extend(linearScopes));

export const parse: typeof Acorn.parse = (input, options) => parserClass().parse(input, options);

export const parseExpressionAt: typeof Acorn.parseExpressionAt = (input, pos, options) => parserClass().parseExpressionAt(input, pos, options);

export const full: typeof Walk.full = (node, callback, base, state) => (walk ??= load("acorn-walk") as typeof Walk).full(node, callback, base, state);

export const ancestor: typeof Walk.ancestor = (node, visitors, base, state) => (walk ??= load("acorn-walk") as typeof Walk).ancestor(node, visitors, base, state);
