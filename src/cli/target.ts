// `<file.ts>:<export>` targets: parse, import the module, pick the export, say clearly what is wrong.
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { isOperator } from "../operator/brand.ts";
import type { Operator } from "../operator/operator.ts";
import type { AnyClass } from "../operator/types.ts";
import { wrappedClassMeta } from "../operator/wrap-class.ts";
import { fail } from "./output.ts";
import { importUserModule } from "./user-module.ts";

export interface TargetSpec {
  file: string;
  exportName: string;
}

const USAGE_HINT = "Write it as <file.ts>:<export>, e.g. ops.ts:foo";

export function parseTarget(text: string): TargetSpec {
  const i = text.lastIndexOf(":");
  if (i < 0) return fail(`"${text}" is not a <file>:<export> target (no ":")`, USAGE_HINT);
  const file = text.slice(0, i);
  const exportName = text.slice(i + 1);
  if (!file) return fail(`"${text}" has no file before ":"`, USAGE_HINT);
  if (!exportName) return fail(`"${text}" has no export name after ":"`, USAGE_HINT);
  if (!/^[A-Za-z_$][\w$]*$/.test(exportName)) return fail(`"${exportName}" is not a valid export name`, USAGE_HINT);
  return { file, exportName };
}

/** What a target export is, as far as the CLI cares. */
export type Loaded =
  | { kind: "operator"; value: Operator; spec: TargetSpec; path: string }
  | { kind: "wrappedClass"; value: AnyClass; spec: TargetSpec; path: string }
  | { kind: "operatorClass"; value: AnyClass; spec: TargetSpec; path: string };

function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "function") return /^class[\s{]/.test(Function.prototype.toString.call(v)) ? "a plain class" : "a plain function";
  if (typeof v === "object") return `${(v as object).constructor?.name ? `a ${(v as object).constructor.name}` : "an"} object`;
  return `a ${typeof v}`;
}

export function isOperatorClass(v: unknown): v is AnyClass {
  return typeof v === "function" && (v as { prototype?: Record<symbol, unknown> }).prototype?.[Symbol.for("nbox.operator")] === true;
}

function operatorExports(mod: Record<string, unknown>): string[] {
  return Object.entries(mod)
    .filter(([, v]) => isOperator(v) || wrappedClassMeta(v) || isOperatorClass(v))
    .map(([k]) => k);
}

/** Import `file` (relative to cwd) and classify its export `exportName`. */
export async function loadTarget(text: string): Promise<Loaded> {
  const spec = parseTarget(text);
  const path = resolve(spec.file);
  if (!existsSync(path)) return fail(`file not found: ${spec.file} (resolved to ${path})`, "Give the path of the module that exports the operator, relative to the current folder");
  if (statSync(path).isDirectory()) return fail(`${spec.file} is a folder, not a module file`, USAGE_HINT);
  let mod: Record<string, unknown>;
  try {
    mod = await importUserModule(path);
  } catch (err) {
    const e = err as Error;
    return fail(`importing ${spec.file} failed: ${e.name && e.name !== "Error" ? `${e.name}: ` : ""}${e.message}`, "Fix the module so that `node --import tsx` can load it (NBOX_DEBUG=1 shows the stack)");
  }
  if (!(spec.exportName in mod)) {
    const names = Object.keys(mod).filter((k) => k !== "default" || mod.default !== undefined);
    const ops = operatorExports(mod);
    const hint = names.length === 0
      ? `${spec.file} has no exports`
      : `Available exports: ${names.join(", ")}${ops.length && ops.length !== names.length ? ` (operators: ${ops.join(", ")})` : ""}`;
    return fail(`${spec.file} has no export "${spec.exportName}"`, hint);
  }
  const value = mod[spec.exportName];
  if (isOperator(value)) return { kind: "operator", value, spec, path };
  if (wrappedClassMeta(value)) return { kind: "wrappedClass", value: value as AnyClass, spec, path };
  if (isOperatorClass(value)) return { kind: "operatorClass", value, spec, path };
  const ops = operatorExports(mod);
  return fail(
    `export "${spec.exportName}" of ${spec.file} is ${describe(value)}, not an operator`,
    `Wrap it: export const ${spec.exportName} = operator(fn), @operator() class, or an Operator subclass/instance${ops.length ? `. Operators in this file: ${ops.join(", ")}` : ""}`,
  );
}

/** An operator instance for flow/tree: the export itself, or a new instance of an Operator subclass. */
export function operatorInstance(t: Loaded, init: unknown[] = []): Operator {
  if (t.kind === "operator") return t.value;
  if (t.kind === "operatorClass") {
    try {
      return new (t.value as unknown as new (...a: unknown[]) => Operator)(...init);
    } catch (err) {
      return fail(`constructing ${t.spec.exportName} failed: ${(err as Error).message}`, "Pass constructor arguments with --init '[...]'");
    }
  }
  return fail(
    `export "${t.spec.exportName}" is a class wrapped with operator() (a serving), which has no operator tree or forward flow`,
    "flow/tree work on operator(fn), Operator subclasses and Operator instances",
  );
}
