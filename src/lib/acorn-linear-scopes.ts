// acorn checks each declared name against the names its scope already holds with Array#indexOf,
// so a scope with n declarations costs n²: `let a0, …, a299999` (2.3 MB) took over a minute, and
// user modules and functions reach acorn through the compile and flow. This plugin gives every
// scope name lists that answer indexOf from a Set; acorn's rules and messages are unchanged.
import type * as Acorn from "acorn";

/** A scope's name list: an Array as acorn expects, whose indexOf misses without a scan. */
class NameList extends Array<string> {
  readonly #names = new Set<string>();
  override push(...names: string[]): number {
    for (const name of names) this.#names.add(name);
    return super.push(...names);
  }
  override indexOf(name: string, from?: number): number {
    return this.#names.has(name) ? super.indexOf(name, from) : -1;
  }
}

/** The parts of acorn's (undeclared) scope tracking this plugin touches. */
interface ScopeTracking {
  enterScope(flags: number): void;
  currentScope(): { var: string[]; lexical: string[]; functions: string[] };
}

export function linearScopes(Base: typeof Acorn.Parser): typeof Acorn.Parser {
  const base = Base as unknown as new (...args: never[]) => ScopeTracking;
  class LinearScopes extends base {
    override enterScope(flags: number): void {
      super.enterScope(flags);
      const scope = this.currentScope();
      scope.var = new NameList();
      scope.lexical = new NameList();
      scope.functions = new NameList();
    }
  }
  return LinearScopes as unknown as typeof Acorn.Parser;
}
