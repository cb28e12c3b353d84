// Example "bar": a stateful class as an operator (a serving by default). Run: `npm install && npm start` in this folder.
import { operator } from "nbox";

@operator()
export class Bar {
  // Any other name is answered by the Proxy below: the seed's `__getattr__`.
  [attr: string]: unknown;
  x: number;
  constructor(x = 1) {
    this.x = x;
    // Unknown names echo, locally and remotely: `bar.jj_guverner` is "echo:jj_guverner".
    return new Proxy(this, {
      get: (self, name, receiver) => (typeof name === "symbol" || name in self ? Reflect.get(self, name, receiver) : `echo:${name}`),
    });
  }
  inc() {
    this.x += 1;
  }
  getvalue() {
    return this.x;
  }
}
