import { parseExpressionAt, type Node } from "acorn";

export interface ParamInfo {
  name: string;
  optional: boolean;
  rest: boolean;
}
/** Parameters of a function; `maxArgs` is Infinity with a rest parameter. */
export interface FnSignature {
  params: ParamInfo[];
  maxArgs: number;
}

const UNKNOWN: FnSignature = { params: [], maxArgs: Infinity };

function paramName(p: any): string {
  if (p.type === "Identifier") return p.name;
  if (p.type === "AssignmentPattern") return paramName(p.left);
  if (p.type === "RestElement") return paramName(p.argument);
  return p.type === "ObjectPattern" ? "{…}" : p.type === "ArrayPattern" ? "[…]" : "arg";
}

function parseFunction(src: string): Node & { params: any[] } {
  // Methods (`forward(x) {}`) are not expressions on their own: try as-is, then as an object method.
  for (const [prefix, pick] of [
    ["", (n: any) => n],
    ["({", (n: any) => n.properties[0].value],
    ["(class{", (n: any) => n.body.body[0].value],
  ] as const) {
    try {
      const node = parseExpressionAt(prefix + src + (prefix === "({" ? "})" : prefix ? "})" : ""), 0, { ecmaVersion: "latest" }) as any;
      const fn = pick(node);
      if (fn && Array.isArray(fn.params)) return fn;
    } catch {
      /* next form */
    }
  }
  throw new SyntaxError("unparseable function source");
}

/**
 * Read a function's parameters from its source (`fn.length` stops at the first default,
 * so `foo(i = 4)` would wrongly accept no arguments). Native/unparseable → no limit.
 */
export function signatureOf(fn: Function): FnSignature {
  const src = Function.prototype.toString.call(fn);
  if (/\[native code\]\s*\}$/.test(src)) return UNKNOWN;
  try {
    const params = parseFunction(src).params.map((p: any) => ({
      name: paramName(p),
      optional: p.type === "AssignmentPattern" || p.type === "RestElement",
      rest: p.type === "RestElement",
    }));
    return { params, maxArgs: params.some((p) => p.rest) ? Infinity : params.length };
  } catch {
    return UNKNOWN;
  }
}
