// Example "bar": a stateful class as an operator (a serving by default). Run: `npm install && npm start` in this folder.
import { operator } from "nbox";

@operator()
export class Bar {
  x: number;
  constructor(x = 1) {
    this.x = x;
  }
  inc() {
    this.x += 1;
  }
  getvalue() {
    return this.x;
  }
}
