// Turns one parsed forward into nodes and edges. Structure follows the source: each statement of a
// body becomes node(s) linked by "next"; if/switch/ternary become branches with arms, loops get a
// body plus a loop-back edge. Calls to child operators become "call" nodes, handed to `onCall` so
// the builder can expand the child's own forward underneath.
import type { AnyNode } from "acorn";
import { childCalls } from "./calls.ts";
import type { FlowGraph } from "./graph.ts";
import { shortLabel } from "./label.ts";
import { collectAliases, unwrap, type Aliases, type Segs } from "./paths.ts";
import type { Resolution } from "./resolve.ts";
import { Sequence } from "./sequence.ts";
import type { ParsedForward } from "./source.ts";
import type { FlowEdgeKind, FlowLoc, FlowNode, FlowNodeKind } from "./types.ts";

type Node<T extends AnyNode["type"]> = Extract<AnyNode, { type: T }>;
type Loop = Node<"ForStatement" | "ForInStatement" | "ForOfStatement" | "WhileStatement" | "DoWhileStatement">;

export interface WalkContext {
  graph: FlowGraph;
  /** Dotted name of the operator whose forward this is ("" for the root). */
  owner: string;
  parsed: ParsedForward;
  resolve: (segs: Segs) => Resolution | undefined;
  /** Called right after a call node exists, so the child's forward can be expanded under it. */
  onCall: (node: FlowNode, resolution: Resolution) => void;
}

/** Value-level unwrap: `await x`, `(x)`, `x?.y` all denote x for our purposes. */
function bare(node: AnyNode): AnyNode {
  let n = unwrap(node);
  while (n.type === "AwaitExpression") n = unwrap(n.argument as AnyNode);
  return n;
}

export class ForwardWalker {
  private readonly aliases: Aliases;

  constructor(private readonly ctx: WalkContext) {
    this.aliases = collectAliases(ctx.parsed.fn);
  }

  /** Walks the body; returns the top-level node ids in order. */
  run(parent: string | undefined, onFirst?: (id: string) => void): string[] {
    const fn = this.ctx.parsed.fn;
    const seq = new Sequence(parent, onFirst);
    const body = fn.body as AnyNode;
    if (body.type === "BlockStatement") {
      for (const s of body.body) this.statement(s as AnyNode, seq);
    } else {
      // Expression-bodied arrow: an implicit return.
      this.valueThen(body, seq, () => this.add(seq, "return", `return ${this.text(body)}`, body));
    }
    return this.finish(seq);
  }

  // ── helpers ───────────────────────────────────────────────────────────────

  private text(n: AnyNode): string {
    return this.ctx.parsed.slice(n.start, n.end);
  }

  private loc(n: AnyNode): FlowLoc {
    return this.ctx.parsed.loc(n);
  }

  private flushCode(seq: Sequence): void {
    const code = seq.pendingCode;
    if (code.length === 0) return;
    seq.pendingCode = [];
    const label = shortLabel(code.map((c) => shortLabel(this.text(c))).join("; "));
    const node = this.ctx.graph.add({ kind: "code", label, owner: this.ctx.owner, loc: this.loc(code[0]!), parent: seq.parent });
    seq.push(node.id);
  }

  private add(seq: Sequence, kind: FlowNodeKind, label: string, at: AnyNode, op?: string): FlowNode {
    this.flushCode(seq);
    const node = this.ctx.graph.add({ kind, label: shortLabel(label), op, owner: this.ctx.owner, loc: this.loc(at), parent: seq.parent });
    seq.push(node.id);
    return node;
  }

  private finish(seq: Sequence): string[] {
    this.flushCode(seq);
    for (let i = 0; i + 1 < seq.ids.length; i++) this.ctx.graph.link(seq.ids[i]!, seq.ids[i + 1]!, "next");
    return seq.ids;
  }

  /** A nested sequence (arm / loop body) hanging off `from` by an edge of `kind`. */
  private arm(from: FlowNode, kind: FlowEdgeKind, build: (seq: Sequence) => void, label?: string): string[] {
    const seq = new Sequence(from.id);
    build(seq);
    const ids = this.finish(seq);
    if (ids.length > 0) this.ctx.graph.link(from.id, ids[0]!, kind, label);
    return ids;
  }

  private callsOf(n: AnyNode | null | undefined) {
    return childCalls(n, this.aliases, this.ctx.resolve);
  }

  /** Emits one call node per child call in `n`; returns how many. */
  private calls(seq: Sequence, n: AnyNode | null | undefined): number {
    const found = this.callsOf(n);
    for (const c of found) {
      const node = this.add(seq, "call", this.text(c.node), c.node, c.resolution.op);
      this.ctx.onCall(node, c.resolution);
    }
    return found.length;
  }

  // ── statements ────────────────────────────────────────────────────────────

  private statement(s: AnyNode, seq: Sequence): void {
    switch (s.type) {
      case "EmptyStatement":
        return;
      case "BlockStatement":
        for (const inner of s.body) this.statement(inner as AnyNode, seq);
        return;
      case "LabeledStatement":
        return this.statement(s.body as AnyNode, seq);
      case "IfStatement": {
        this.calls(seq, s.test as AnyNode);
        const b = this.add(seq, "branch", `if (${this.text(s.test as AnyNode)})`, s);
        this.arm(b, "then", (q) => this.statement(s.consequent as AnyNode, q));
        if (s.alternate) this.arm(b, "else", (q) => this.statement(s.alternate as AnyNode, q));
        return;
      }
      case "SwitchStatement":
        return this.switchStatement(s, seq);
      case "ForStatement":
      case "ForInStatement":
      case "ForOfStatement":
      case "WhileStatement":
      case "DoWhileStatement":
        return this.loop(s, seq);
      case "ReturnStatement": {
        if (!s.argument) {
          this.add(seq, "return", "return", s);
          return;
        }
        this.valueThen(s.argument as AnyNode, seq, () => this.add(seq, "return", this.text(s), s));
        return;
      }
      case "TryStatement": {
        // try/finally run inline; the catch handler only runs on error, so it is a branch.
        this.statement(s.block as AnyNode, seq);
        if (s.handler) {
          const param = s.handler.param ? ` (${this.text(s.handler.param as AnyNode)})` : "";
          const b = this.add(seq, "branch", `catch${param}`, s.handler as AnyNode);
          this.arm(b, "then", (q) => this.statement(s.handler!.body as AnyNode, q));
        }
        if (s.finalizer) this.statement(s.finalizer as AnyNode, seq);
        return;
      }
      case "ExpressionStatement": {
        const e = bare(s.expression as AnyNode);
        if (e.type === "ConditionalExpression") return this.ternary(e, seq, s);
        if (e.type === "LogicalExpression" && this.callsOf(e.right as AnyNode).length > 0) return this.logical(e, seq, s);
        if (e.type === "AssignmentExpression") {
          const r = bare(e.right as AnyNode);
          if (r.type === "ConditionalExpression" && this.armsCall(r)) return this.ternary(r, seq, s);
        }
        return this.plain(s, seq);
      }
      case "VariableDeclaration": {
        const init = s.declarations.length === 1 ? (s.declarations[0]!.init as AnyNode | null | undefined) : undefined;
        const r = init ? bare(init) : undefined;
        if (r?.type === "ConditionalExpression" && this.armsCall(r)) return this.ternary(r, seq, s);
        return this.plain(s, seq);
      }
      case "FunctionDeclaration":
      case "ClassDeclaration":
        seq.pendingCode.push(s); // declared here, not run here
        return;
      default:
        return this.plain(s, seq);
    }
  }

  /** Child calls become call nodes (one per call, in order); a statement without any is code. */
  private plain(s: AnyNode, seq: Sequence): void {
    if (this.calls(seq, s) === 0) seq.pendingCode.push(s);
  }

  private armsCall(c: Node<"ConditionalExpression">): boolean {
    return this.callsOf(c.consequent as AnyNode).length + this.callsOf(c.alternate as AnyNode).length > 0;
  }

  /** A value that may be a ternary over child calls (return / initialiser), then the node that uses it. */
  private valueThen(value: AnyNode, seq: Sequence, then: () => void): void {
    const b = bare(value);
    if (b.type === "ConditionalExpression" && this.armsCall(b)) this.ternary(b, seq, b);
    else this.calls(seq, value);
    then();
  }

  private expression(e: AnyNode, seq: Sequence): void {
    const b = bare(e);
    if (b.type === "ConditionalExpression") return this.ternary(b, seq, b);
    if (this.calls(seq, e) === 0) seq.pendingCode.push(e);
  }

  private ternary(c: Node<"ConditionalExpression">, seq: Sequence, at: AnyNode): void {
    this.calls(seq, c.test as AnyNode);
    const b = this.add(seq, "branch", this.text(at), at);
    this.arm(b, "then", (q) => this.expression(c.consequent as AnyNode, q));
    this.arm(b, "else", (q) => this.expression(c.alternate as AnyNode, q));
  }

  /** `ok && this.a(x)` runs the right side only when ok: a branch with one arm. */
  private logical(e: Node<"LogicalExpression">, seq: Sequence, at: AnyNode): void {
    this.calls(seq, e.left as AnyNode);
    const b = this.add(seq, "branch", this.text(at), at);
    this.arm(b, e.operator === "&&" ? "then" : "else", (q) => this.expression(e.right as AnyNode, q));
  }

  private switchStatement(s: Node<"SwitchStatement">, seq: Sequence): void {
    this.calls(seq, s.discriminant as AnyNode);
    const b = this.add(seq, "branch", `switch (${this.text(s.discriminant as AnyNode)})`, s);
    // Empty cases fall through into the next one: they share its arm and its label.
    let labels: string[] = [];
    let isDefault = false;
    for (const c of s.cases) {
      labels.push(c.test ? `case ${this.text(c.test as AnyNode)}` : "default");
      isDefault ||= !c.test;
      if (c.consequent.length === 0) continue;
      const body = c.consequent.slice() as AnyNode[];
      const last = body[body.length - 1];
      if (last?.type === "BreakStatement" && !last.label) body.pop();
      this.arm(b, isDefault ? "else" : "then", (q) => body.forEach((st) => this.statement(st, q)), shortLabel(labels.join(", ")));
      labels = [];
      isDefault = false;
    }
  }

  private loop(s: Loop, seq: Sequence): void {
    let label: string;
    if (s.type === "WhileStatement") {
      label = `while (${this.text(s.test as AnyNode)})`;
      this.calls(seq, s.test as AnyNode); // first evaluation; later ones are implied by the loop
    } else if (s.type === "DoWhileStatement") {
      label = `do … while (${this.text(s.test as AnyNode)})`;
    } else {
      label = this.ctx.parsed.slice(s.start, s.body.start).trim();
      if (s.type === "ForStatement") {
        this.calls(seq, s.init as AnyNode | null);
        this.calls(seq, s.test as AnyNode | null);
      } else this.calls(seq, s.right as AnyNode);
    }
    const l = this.add(seq, "loop", label, s);
    const body = this.arm(l, "body", (q) => {
      this.statement(s.body as AnyNode, q);
      // Evaluated after each pass of the body.
      if (s.type === "DoWhileStatement") this.calls(q, s.test as AnyNode);
      if (s.type === "ForStatement") this.calls(q, s.update as AnyNode | null);
    });
    if (body.length > 0) this.ctx.graph.link(body[body.length - 1]!, l.id, "loop-back");
  }
}
