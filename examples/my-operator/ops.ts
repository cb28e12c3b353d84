// Example "my-operator": an Operator tree with a nested child and a Shell step. Run: `npm install && npm start` in this folder.
import { Operator, Shell } from "nbox";

export class Doubler extends Operator {
  constructor(private k = 2) {
    super();
  }
  forward(x: number) {
    return x * this.k;
  }
}

export class MyOperator extends Operator {
  a: number;
  b: Doubler;
  echo: Shell;
  constructor(a: number, b: number) {
    super();
    this.a = a;
    this.b = new Doubler(b); // child: registered in the tree automatically
    this.echo = new Shell("echo step {y}"); // prebuilt operator: argv is split before {y} is filled in
  }
  async forward(x: number): Promise<number> {
    let y = this.a + x;
    await this.echo({ y }); // its output streams to this process's stdout (the run log)
    y = (await this.b(y)) + x; // nested call: traced as a child span
    return y;
  }
}

export const job = new MyOperator(1, 3);
